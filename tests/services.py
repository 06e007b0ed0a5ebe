"""Helpers for the tests against real services: PostgreSQL, an `mlflow server` and headless Chromium.

`.ci/start-services` starts the services and exports `SWEEP_TEST_POSTGRES_URL` (the Optuna database) and
`SWEEP_TEST_MLFLOW_URI` (the server); `.ci/run` also exports `SWEEP_TEST_CHROMIUM`. Under `CI=true` a missing
one fails the test; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import pytest
import yaml
from helpers import study_document
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

"""Whether `sweep` gets the storage and tracking URLs from SWEEP_STORAGE and MLFLOW_TRACKING_URI instead of
`--storage` / `--tracking-uri` (which `ps` shows). Flip it once the CLI reads those variables."""
SWEEP_TIMEOUT_S = 420


def required(variable: str, *, how: str) -> str:
    """The environment variable's value; its absence fails under CI (CI=true) and skips elsewhere."""
    value = os.environ.get(variable)
    if value:
        return value
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{variable} is not set under CI=true; {how}")
    pytest.skip(f"{variable} is not set; {how}")


def postgres_url() -> str:
    return required("SWEEP_TEST_POSTGRES_URL", how="`.ci/start-services` starts PostgreSQL and writes it")


def mlflow_uri() -> str:
    return required("SWEEP_TEST_MLFLOW_URI", how="`.ci/start-services` starts an mlflow server and writes it")


def chromium() -> str:
    """The Chromium binary: SWEEP_TEST_CHROMIUM, else `chromium` on PATH."""
    found = os.environ.get("SWEEP_TEST_CHROMIUM") or shutil.which("chromium")
    if found:
        return found
    return required("SWEEP_TEST_CHROMIUM", how="install Debian's `chromium` package (`.ci/run` does)")


def render_in_chromium(url: str, profile: Path, *, window: tuple[int, int], screenshot: Path | None = None) -> str:
    """The DOM after headless Chromium has run the page's scripts (and the page as a PNG at `screenshot`)."""
    command = [
        chromium(),
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        f"--user-data-dir={profile}",
        f"--window-size={window[0]},{window[1]}",
        "--hide-scrollbars",
        # Virtual time stands still while requests are pending, so 15 s of it is enough for the REST calls.
        "--virtual-time-budget=15000",
        *([f"--screenshot={screenshot}"] if screenshot else []),
        "--dump-dom",
        url,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def sweep_command() -> list[str]:
    """The `sweep` console script of the interpreter running the tests."""
    return [str(Path(sys.executable).with_name("sweep"))]


def password_of(url: str) -> str | None:
    return urlsplit(url).password


@dataclass(frozen=True)
class StudyRun:
    """One `sweep run` subprocess and where its study lives."""

    name: str
    n_trials: int
    workdir: Path
    storage_url: str
    tracking_uri: str
    returncode: int
    stdout: str
    stderr: str

    def client(self) -> MlflowClient:
        return MlflowClient(self.tracking_uri)

    def runs(self) -> list[Run]:
        """Every run of the study's experiment."""
        client = self.client()
        experiment = client.get_experiment_by_name(self.name)
        assert experiment is not None, f"no experiment {self.name!r} at {self.tracking_uri}"
        return list(client.search_runs([experiment.experiment_id], max_results=1000))


def run_sweep_study(
    name: str,
    data_root: Path,
    workdir: Path,
    *,
    n_trials: int,
    workers: int = 1,
    storage_url: str | None = None,
    tracking_uri: str | None = None,
) -> StudyRun:
    """Write `study_document(name, data_root, n_trials)` into `workdir` and `sweep run` it there; None URLs use
    the embedded SQLite defaults."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "study.yaml").write_text(yaml.safe_dump(study_document(name, data_root, n_trials)))
    arguments = ["run", "study.yaml", "--quiet", *(["--workers", str(workers)] if workers != 1 else [])]
    environment = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    for variable, value in (("SWEEP_STORAGE", storage_url), ("MLFLOW_TRACKING_URI", tracking_uri)):
        environment.pop(variable, None)
        if value is None:
            continue
        environment[variable] = value  # never on the command line, which `ps` shows
    completed = subprocess.run(
        [*sweep_command(), *arguments],
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SWEEP_TIMEOUT_S,
    )
    return StudyRun(
        name=name,
        n_trials=n_trials,
        workdir=workdir,
        storage_url=storage_url or f"sqlite:///{workdir}/runs/{name}/optuna.db",
        tracking_uri=tracking_uri or f"sqlite:///{workdir}/runs/mlflow.db",
        returncode=completed.returncode,
        stdout=completed.stdout,
        stderr=completed.stderr,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (closed: a connection is refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def blackhole() -> Iterator[int]:
    """A port on 127.0.0.1 where a connection hangs, like a firewalled host's: its one-slot backlog is full."""
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())  # never accepted: every later SYN is dropped
        yield int(listener.getsockname()[1])


class MlflowServer:
    """An `mlflow server` of the test's own (SQLite backend, proxied artifacts), stopped and started at will.

    Every start uses the same port and folders, so a restart is the same server coming back.
    """

    def __init__(self, folder: Path, *, wait_s: float = 120.0) -> None:
        self.folder = folder
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.backend = folder / "mlflow.db"
        self.wait_s = wait_s
        self._process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "artifacts").mkdir(exist_ok=True)

    def start(self) -> None:
        """Start the server and wait for its `/health`."""
        command = [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            *("--backend-store-uri", f"sqlite:///{self.backend}"),
            *("--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"),
            *("--serve-artifacts", "--artifacts-destination", str(self.folder / "artifacts")),
            *("--allowed-hosts", f"127.0.0.1:{self.port},localhost:{self.port}"),
        ]
        environment = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with (self.folder / "server.log").open("ab") as log:
            self._process = subprocess.Popen(
                command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + self.wait_s
        while not self.healthy():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log_tail = (self.folder / "server.log").read_text()[-3000:]
                raise RuntimeError(f"mlflow server did not become healthy:\n{log_tail}")
            time.sleep(0.2)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM to the server's process group; returns once it has exited and its port is closed."""
        if self._process is None:
            return
        process, self._process = self._process, None
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        deadline = time.monotonic() + 30
        while self._listening() and time.monotonic() < deadline:  # a worker of the group may outlive its parent
            time.sleep(0.1)

    def _listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0


def unavailable(reason: str) -> NoReturn:
    """Fail under CI (CI=true), skip elsewhere, because a service the test needs is not at hand."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} (CI=true)")
    pytest.skip(reason)


def postgres_cluster(url: str) -> tuple[str, str]:
    """The `(version, name)` of the local cluster that serves `url`, for `pg_ctlcluster VERSION NAME restart`.

    Restarting it takes root, Debian's `pg_ctlcluster` and a server on this machine (`.ci/start-services`).
    """
    if shutil.which("pg_ctlcluster") is None or shutil.which("pg_lsclusters") is None:
        unavailable("restarting PostgreSQL needs Debian's pg_ctlcluster and pg_lsclusters")
    if os.geteuid() != 0:
        unavailable("restarting PostgreSQL with pg_ctlcluster needs root")
    parsed = urlsplit(url)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        unavailable(f"the PostgreSQL server at {parsed.hostname} is not on this machine, so it cannot be restarted")
    listing = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    port = str(parsed.port or 5432)
    for line in listing.splitlines():
        version, name, cluster_port, status, *_ = line.split()
        if cluster_port == port and status.startswith("online"):
            return version, name
    unavailable(f"no online local PostgreSQL cluster listens on port {port}:\n{listing}")
