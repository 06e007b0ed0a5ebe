"""Studies that several end-to-end test modules check, each run once per session.

A study costs from 10 s to a minute on two cores, so a study that two modules set up the same way runs once
here and both read it; a test that changes what it reads (or needs a study of its own) runs its own. Every
study trains on the session's one generated data set, `synth_voc` (tests/conftest.py).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import pruning_study
from mlflow.tracking import MlflowClient
from services import StudyRun, mlflow_uri, postgres_url, run_sweep_study

from sweep.cli import cli as sweep_cli


@pytest.fixture(scope="session")
def finished_study(synth_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`pruning_study("tiny")` run by `sweep run` in this process, then run again (which runs nothing), in a
    folder of its own: test_sweep_e2e checks its records, test_sweep_disk_studies what it left on disk.

    Keys: workdir, study_file, result and rerun (click results), study (Optuna's) and client (MLflow's).
    """
    workdir = tmp_path_factory.mktemp("sweep")
    study_file = workdir / "tiny.yaml"
    study_file.write_text(yaml.safe_dump(pruning_study("tiny", synth_voc, tracking={"registered_model": "tiny-voc"})))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        patch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.1")  # samples within a second-long trial
        result = CliRunner().invoke(sweep_cli, ["run", str(study_file), "--quiet"], catch_exceptions=False)
        rerun = CliRunner().invoke(sweep_cli, ["run", str(study_file), "--quiet"], catch_exceptions=False)
    storage = f"sqlite:///{workdir}/runs/tiny/optuna.db"
    return {
        "workdir": workdir,
        "study_file": study_file,
        "result": result,
        "rerun": rerun,
        "study": optuna.load_study(study_name="tiny", storage=storage),
        "client": MlflowClient(f"sqlite:///{workdir}/runs/mlflow.db"),
    }


@pytest.fixture(scope="session")
def embedded_two_worker_study(synth_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> StudyRun:
    """A 4-trial `study_document("par")` run by `sweep run --workers 2` on the embedded SQLite default:
    test_sweep_workers_runs checks its workers, test_services_mlflow the scale-out contract."""
    return run_sweep_study("par", synth_voc, tmp_path_factory.mktemp("par"), n_trials=4, workers=2)


@pytest.fixture(scope="session")
def services_study(synth_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> StudyRun:
    """A 2-trial study run by one worker against the PostgreSQL and `mlflow server` of `.ci/start-services`
    (without them it fails under CI and skips elsewhere): test_services_mlflow checks it as a scale-out case,
    test_mlflow_ui in a browser. Other tests against a server run studies of their own under other names."""
    name = f"tiny-sweep-{uuid.uuid4().hex[:4]}"  # the server outlives the tests: a fresh experiment each session
    outcome = run_sweep_study(
        name,
        synth_voc,
        tmp_path_factory.mktemp("services"),
        n_trials=2,
        storage_url=postgres_url(),
        tracking_uri=mlflow_uri(),
    )
    assert outcome.returncode == 0, f"sweep run failed:\n{outcome.stdout}\n{outcome.stderr}"
    return outcome
