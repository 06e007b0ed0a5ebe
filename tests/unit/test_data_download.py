"""download_voc against an in-process threaded http.server serving a tarball built by the test."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from trainer.data.download import ARCHIVE_NAME, MARKER_NAME, download_voc, is_complete
from trainer.data.synth import synthesize
from trainer.data.voc import VOCSegmentation
from trainer.errors import DownloadError


class Server:
    """Serves ``routes`` (path -> bytes) with Range support; knobs make it misbehave like real mirrors."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.drop_once: set[str] = set()  # first GET sends half the body, then closes the connection
        self.ignore_range: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server.requests.append((self.path, self.headers.get("Range")))
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range") and self.path not in server.ignore_range:
                    start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.path in server.drop_once:
                    server.drop_once.discard(self.path)
                    self.wfile.write(payload[: len(payload) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture()
def server() -> Iterator[Server]:
    served = Server()
    thread = threading.Thread(target=served.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    source = tmp_path_factory.mktemp("tar_source")
    synthesize(source / "VOCdevkit" / "VOC2012", train=2, val=1, size=32, seed=1)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(source / "VOCdevkit", arcname="VOCdevkit")
    return buffer.getvalue()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_extract_and_rerun_is_a_no_op(server: Server, tarball: bytes, tmp_path: Path) -> None:
    server.routes["/voc.tar"] = tarball
    root = download_voc(tmp_path, urls=[f"{server.url}/voc.tar"], md5=_md5(tarball))
    assert root == tmp_path / "VOCdevkit" / "VOC2012"
    assert len(VOCSegmentation(root, "train")) == 2
    assert (tmp_path / MARKER_NAME).read_text().strip() == _md5(tarball) and is_complete(tmp_path, _md5(tarball))
    assert (tmp_path / ARCHIVE_NAME).read_bytes() == tarball
    requests = len(server.requests)
    assert download_voc(tmp_path, urls=[f"{server.url}/voc.tar"], md5=_md5(tarball)) == root
    assert len(server.requests) == requests


def test_dropped_connection_resumes_with_range(server: Server, tarball: bytes, tmp_path: Path) -> None:
    server.routes["/voc.tar"] = tarball
    server.drop_once.add("/voc.tar")
    download_voc(tmp_path, urls=[f"{server.url}/voc.tar"], md5=_md5(tarball))
    assert server.requests == [("/voc.tar", None), ("/voc.tar", f"bytes={len(tarball) // 2}-")]
    assert (tmp_path / ARCHIVE_NAME).read_bytes() == tarball


def test_progress_reports_the_bytes_on_disk_and_the_size(server: Server, tarball: bytes, tmp_path: Path) -> None:
    server.routes["/voc.tar"] = tarball
    server.drop_once.add("/voc.tar")
    seen: list[tuple[int, int | None]] = []
    download_voc(tmp_path, urls=[f"{server.url}/voc.tar"], md5=_md5(tarball), progress=lambda *args: seen.append(args))
    half = len(tarball) // 2
    # The dropped first transfer counts up to half, the resumed one starts from the half already on disk.
    assert seen[0] == (0, len(tarball)) and (half, len(tarball)) in seen and seen[-1] == (len(tarball), len(tarball))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_server_ignoring_range_restarts_from_zero(server: Server, tarball: bytes, tmp_path: Path) -> None:
    server.routes["/voc.tar"] = tarball
    server.drop_once.add("/voc.tar")
    server.ignore_range.add("/voc.tar")
    download_voc(tmp_path, urls=[f"{server.url}/voc.tar"], md5=_md5(tarball))
    assert len(server.requests) == 2 and (tmp_path / ARCHIVE_NAME).read_bytes() == tarball


def test_resume_across_restarts_and_416_means_complete(server: Server, tarball: bytes, tmp_path: Path) -> None:
    server.routes["/voc.tar"] = tarball
    (tmp_path / f"{ARCHIVE_NAME}.part").write_bytes(tarball[:1000])  # left by a killed process
    download_voc(tmp_path, urls=[f"{server.url}/voc.tar"], md5=_md5(tarball))
    assert server.requests == [("/voc.tar", "bytes=1000-")]
    other = tmp_path / "other"
    other.mkdir()
    (other / f"{ARCHIVE_NAME}.part").write_bytes(tarball)
    download_voc(other, urls=[f"{server.url}/voc.tar"], md5=_md5(tarball))
    assert server.requests[-1] == ("/voc.tar", f"bytes={len(tarball)}-") and is_complete(other, _md5(tarball))


def test_first_mirror_404_then_second(server: Server, tarball: bytes, tmp_path: Path) -> None:
    server.routes["/good.tar"] = tarball
    urls = [f"{server.url}/missing.tar", f"{server.url}/good.tar"]
    download_voc(tmp_path, urls=urls, md5=_md5(tarball))
    assert [path for path, _ in server.requests] == ["/missing.tar", "/good.tar"]


def test_every_mirror_fails(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"failed on every mirror:\n  .*/a\.tar: HTTP Error 404"):
        download_voc(tmp_path, urls=[f"{server.url}/a.tar"], md5="0" * 32)


def test_wrong_md5_keeps_the_file_and_says_what_to_do(server: Server, tarball: bytes, tmp_path: Path) -> None:
    server.routes["/voc.tar"] = tarball
    with pytest.raises(DownloadError, match=rf"md5 of the download is {_md5(tarball)}, expected 0{{32}}.*--md5"):
        download_voc(tmp_path, urls=[f"{server.url}/voc.tar"], md5="0" * 32)
    assert (tmp_path / f"{ARCHIVE_NAME}.md5-{_md5(tarball)}").read_bytes() == tarball
    assert not (tmp_path / "VOCdevkit").exists() and not is_complete(tmp_path, "0" * 32)


def test_tarball_with_parent_path_member_is_refused(server: Server, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("VOCdevkit/VOC2012/JPEGImages/ok.jpg", "../evil"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"data"))
    evil = buffer.getvalue()
    server.routes["/evil.tar"] = evil
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match=r"refused to extract member '\.\./evil'"):
        download_voc(root, urls=[f"{server.url}/evil.tar"], md5=_md5(evil))
    assert not (tmp_path / "evil").exists() and not (root / "VOCdevkit").exists()
