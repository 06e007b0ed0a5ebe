"""Download and extract the Pascal VOC 2012 trainval tarball: mirrors, resume, md5, safe extraction.

`download_voc` tries each URL in order. Bytes go to ``<root>/VOCtrainval_11-May-2012.tar.part``; an
interrupted transfer (a dropped connection, or a killed process) resumes from the ``.part`` file's size
with an HTTP ``Range`` request. A server that ignores ``Range`` (answers 200) restarts the file from byte
0; a 416 answer means the ``.part`` file already holds everything. The md5 is checked before extraction.
Extraction uses ``tarfile``'s ``"data"`` filter, and every member is checked before anything is written,
so an archive with ``..`` or absolute paths is refused whole. Success writes a marker recording the md5;
with the marker present the function does nothing. Progress goes to an optional callback; the library
draws nothing.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from trainer.errors import DownloadError

ProgressCallback = Callable[[int, int | None], None]
"""`progress(done, total)`: bytes of the archive on disk so far, and its size when the server says it."""

VOC_URLS: tuple[str, ...] = (
    "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
    "https://pjreddie.com/media/files/VOCtrainval_11-May-2012.tar",  # long-lived mirror; the md5 guards it
)
VOC_MD5 = "6cd6e144f989b92b3379bac3b3de84fd"
ARCHIVE_NAME = "VOCtrainval_11-May-2012.tar"
MARKER_NAME = ".voc2012-complete"
TIMEOUT_S = 60.0
MAX_STALLED_ATTEMPTS = 3  # consecutive attempts that add no byte before a mirror is given up
CHUNK = 1 << 20
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)

log = logging.getLogger(__name__)


def dataset_root(root: str | Path) -> Path:
    """The VOC2012 folder inside a download root (the tarball's base dir is VOCdevkit/VOC2012)."""
    return Path(root) / "VOCdevkit" / "VOC2012"


def is_complete(root: str | Path, md5: str = VOC_MD5) -> bool:
    """True when an earlier `download_voc` into ``root`` extracted the archive with this md5."""
    marker = Path(root) / MARKER_NAME
    return marker.is_file() and marker.read_text().strip() == md5 and (dataset_root(root) / "JPEGImages").is_dir()


def _no_progress(done: int, total: int | None) -> None:
    """The default progress callback: report nothing."""


def _fetch(url: str, part: Path, progress: ProgressCallback) -> None:
    """Complete ``part`` from ``url``, resuming with Range; raises a network error or `DownloadError`."""
    stalled = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
        try:
            response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
        except urllib.error.HTTPError as error:
            if error.code == 416 and offset:
                return  # nothing left past our offset: the .part file is complete
            raise
        with response:
            if response.status != 206 and offset:
                log.info("%s ignored the Range request; restarting from byte 0", url)
                offset = 0
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length is not None else None
            done = offset
            progress(done, total)
            try:
                with part.open("ab" if offset else "wb") as sink:
                    while chunk := response.read(CHUNK):
                        sink.write(chunk)
                        done += len(chunk)
                        progress(done, total)
            except (http.client.IncompleteRead, ConnectionError, TimeoutError) as error:
                log.info("connection to %s broke (%s); resuming", url, error)
        size = part.stat().st_size
        if total is None or size >= total:
            return
        stalled = 0 if size > offset else stalled + 1
        if stalled >= MAX_STALLED_ATTEMPTS:
            raise DownloadError(f"{url}: stalled at {size} of {total} bytes after {stalled} attempts")


def _download(urls: Sequence[str], part: Path, progress: ProgressCallback) -> None:
    failures: list[str] = []
    for url in urls:
        try:
            _fetch(url, part, progress)
            return
        except (DownloadError, *NETWORK_ERRORS) as error:
            failures.append(f"{url}: {error}")
            log.info("mirror failed: %s", failures[-1])
    kept = f"; the partial download is kept in {part} and a rerun resumes it" if part.exists() else ""
    raise DownloadError("download failed on every mirror:\n  " + "\n  ".join(failures) + kept)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as source:
        while block := source.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _extract(archive: Path, root: Path) -> None:
    """Extract with the "data" filter after checking every member, so an unsafe archive writes nothing."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                tarfile.data_filter(member, str(root))
            tar.extractall(root, members=members, filter="data")
    except tarfile.FilterError as error:
        name = error.tarinfo.name
        raise DownloadError(
            f"{archive}: refused to extract member {name!r} ({error}); the archive is unsafe or not the VOC "
            "tarball: delete it and download from another mirror"
        ) from None
    except tarfile.TarError as error:
        raise DownloadError(f"{archive}: not a readable tar archive ({error}); delete it and rerun") from None
    if not (dataset_root(root) / "JPEGImages").is_dir():
        raise DownloadError(f"{archive}: has no VOCdevkit/VOC2012/JPEGImages; it is not the VOC 2012 trainval tarball")


def download_voc(
    root: str | Path,
    *,
    urls: Sequence[str] = VOC_URLS,
    md5: str = VOC_MD5,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download, verify and extract VOC 2012 trainval into ``root``; return the dataset root (``root/VOCdevkit/VOC2012``).

    ``progress(done, total)`` is called as bytes arrive (``total`` is None when the server does not say);
    a resumed transfer or another mirror reports again from the bytes already on disk. Idempotent: a
    completed root is left alone. On an md5 mismatch the downloaded file is renamed to
    ``<archive>.md5-<actual>`` (nothing else is deleted) and `DownloadError` says what to do.
    """
    root = Path(root)
    if is_complete(root, md5):
        log.info("%s is already complete (md5 %s); nothing to do", dataset_root(root), md5)
        return dataset_root(root)
    if not urls:
        raise DownloadError("no download URL given")
    root.mkdir(parents=True, exist_ok=True)
    archive = root / ARCHIVE_NAME
    if not archive.is_file():
        part = archive.with_name(ARCHIVE_NAME + ".part")
        _download(urls, part, progress or _no_progress)
        part.replace(archive)
    actual = _md5(archive)
    if actual != md5:
        kept = archive.with_name(f"{ARCHIVE_NAME}.md5-{actual}")
        archive.replace(kept)
        raise DownloadError(
            f"md5 of the download is {actual}, expected {md5}: the mirror served a different or damaged file. "
            f"It was kept as {kept}. Rerun to download again (another mirror with --url), or, if you trust "
            f"that file, rename it to {archive} and pass --md5 {actual}"
        )
    _extract(archive, root)
    (root / MARKER_NAME).write_text(md5 + "\n")
    return dataset_root(root)
