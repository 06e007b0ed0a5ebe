"""Small studies run by real `sweep run` processes against PostgreSQL and an `mlflow server` (`.ci/run` starts
both with `.ci/start-services`), and the same two-worker study on the embedded SQLite default.

Each study runs once, and the one-worker study on the services and the embedded one are shared with other
modules; the checks are the scale-out contract: exactly `n_trials` trials with no trial number twice, one
parent run and one child run per trial, artifacts served by the server, and the database password in no
output, tag or param.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import mlflow
import optuna
import pytest
import torch
from optuna.trial import TrialState
from services import StudyRun, mlflow_uri, password_of, postgres_url, run_sweep_study

from sweep.trials.retries import is_surplus

pytestmark = pytest.mark.slow


ON_SERVICES = [
    pytest.param("services_study", marks=pytest.mark.postgres, id="services-1-worker"),
    pytest.param("services_two_worker_study", marks=pytest.mark.postgres, id="services-2-workers"),
]
ALL = [*ON_SERVICES, pytest.param("embedded_two_worker_study", id="embedded-2-workers")]
"""The studies checked here, by fixture name: services_study and embedded_two_worker_study are the session's
(tests/e2e/conftest.py), which test_mlflow_ui and test_sweep_workers_runs check too."""


@pytest.fixture(scope="module")
def services_two_worker_study(synth_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> StudyRun:
    """A 4-trial study run by two workers against the services."""
    name = f"services-2-workers-{uuid.uuid4().hex[:8]}"  # a server outlives the tests: each session its own experiment
    return run_sweep_study(
        name,
        synth_voc,
        tmp_path_factory.mktemp("services-2-workers"),
        n_trials=4,
        workers=2,
        storage_url=postgres_url(),
        tracking_uri=mlflow_uri(),
    )


@pytest.fixture
def outcome(request: pytest.FixtureRequest) -> StudyRun:
    """The study of the fixture that `request.param` names; its `sweep run` must have succeeded."""
    study: StudyRun = request.getfixturevalue(request.param)
    assert study.returncode == 0, f"sweep run failed:\n{study.stdout}\n{study.stderr}"
    return study


@pytest.mark.parametrize("outcome", ALL, indirect=True)
def test_exactly_n_trials_complete_with_distinct_numbers(outcome: StudyRun) -> None:
    study = optuna.load_study(study_name=outcome.name, storage=outcome.storage_url)
    # Two workers asking at the same moment for the last place may make one surplus trial: told FAIL before it
    # sampled or tracked anything, and numbered after the others (`sweep.trials.budget`).
    trials = [trial for trial in study.get_trials(deepcopy=False) if not is_surplus(trial)]
    assert [trial.state for trial in trials] == [TrialState.COMPLETE] * outcome.n_trials
    assert sorted(trial.number for trial in trials) == list(range(outcome.n_trials))


@pytest.mark.parametrize("outcome", ALL, indirect=True)
def test_one_parent_run_and_one_child_run_per_trial(outcome: StudyRun) -> None:
    runs = outcome.runs()
    parents = [run for run in runs if run.data.tags.get("sweep.role") == "study"]
    children = [run for run in runs if run.data.tags.get("sweep.role") == "trial"]
    assert len(parents) == 1 and len(runs) == 1 + outcome.n_trials
    parent = parents[0]
    assert parent.info.run_name == outcome.name and parent.info.status == "FINISHED"
    numbers = Counter(run.data.tags["optuna.trial_number"] for run in children)
    assert numbers == Counter(str(number) for number in range(outcome.n_trials)), "one child run per trial number"
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parent.info.run_id}
    assert {run.info.status for run in children} == {"FINISHED"}
    assert {run.info.run_name for run in children} == {f"trial-{n}" for n in range(outcome.n_trials)}


@pytest.mark.parametrize("outcome", ON_SERVICES, indirect=True)
def test_checkpoint_downloads_through_the_server_elsewhere(
    outcome: StudyRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    child = next(run for run in outcome.runs() if run.data.tags.get("sweep.role") == "trial")
    assert child.info.artifact_uri.startswith("mlflow-artifacts:/"), "artifacts go through the server's proxy"
    destination = tmp_path / "downloaded"
    destination.mkdir()
    assert outcome.workdir not in destination.parents and destination != outcome.workdir
    local = mlflow.artifacts.download_artifacts(
        run_id=child.info.run_id,
        artifact_path="checkpoint/best.pt",
        dst_path=str(destination),
        tracking_uri=outcome.tracking_uri,
    )
    assert Path(local) == destination / "best.pt"
    state = torch.load(local, weights_only=True, map_location="cpu")
    assert isinstance(state, dict) and state


@pytest.mark.parametrize("outcome", ON_SERVICES, indirect=True)
def test_the_password_is_in_no_output_tag_or_param(outcome: StudyRun) -> None:
    password = password_of(outcome.storage_url)
    # A password equal to the role name would show in every masked URL and make this test meaningless.
    assert password and password not in outcome.storage_url.replace(password, "")
    assert password not in outcome.stdout and password not in outcome.stderr
    runs = outcome.runs()
    for run in runs:
        for key, value in {**run.data.tags, **run.data.params}.items():
            assert password not in f"{key}={value}", f"run {run.info.run_name}: {key}"
    assert "***@" in runs[0].data.tags["optuna.storage"]
