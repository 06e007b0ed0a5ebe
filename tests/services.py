"""Helpers for the tests against real services: PostgreSQL, an `mlflow server` and headless Chromium.

`.ci/start-services` starts the services and exports `SWEEP_TEST_POSTGRES_URL` (the Optuna database) and
`SWEEP_TEST_MLFLOW_URI` (the server); `.ci/run` also exports `SWEEP_TEST_CHROMIUM`. Under `CI=true` a missing
one fails the test; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest
import yaml
from helpers import tiny_train
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


def study_document(name: str, data_root: Path, n_trials: int) -> dict[str, Any]:
    """A study of `n_trials` one-epoch trials on the synthetic split; nothing is pruned."""
    return {
        "study": {
            "name": name,
            "n_trials": n_trials,
            "sampler": {"type": "random", "seed": 0},
            "pruner": {"type": "none"},
        },
        "train": tiny_train(data_root),
        "search": {"optim.lr": {"type": "float", "low": 0.01, "high": 0.05}},
    }


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
    """Write the study into `workdir` and `sweep run` it there; None URLs use the embedded SQLite defaults."""
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
