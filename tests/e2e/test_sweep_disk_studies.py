"""Disk hygiene against MLflow and in whole studies: checkpoints outside the top k are dropped from MLflow,
finished trials leave no local folders by default, and `sweep status` reports the disk used.

The default-settings study is the session's `finished_study` (tests/e2e/conftest.py), which test_sweep_e2e
checks too.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import pruning_study
from mlflow.artifacts import download_artifacts
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState, create_trial
from services import mlflow_uri

from sweep.cli import cli as sweep_cli
from sweep.tracking import StudyTracker, TrackingStore
from sweep.trials.disk import human_size
from sweep.trials.record import RUN_ID_ATTR
from trainer.checkpoint import load_checkpoint


@pytest.mark.parametrize("where", ["sqlite", pytest.param("server", marks=pytest.mark.postgres)])
def test_top_k_keeps_the_best_and_the_registered_checkpoints(where: str, tmp_path: Path) -> None:
    """The local file store of the SQLite default, and a tracking server's proxied `mlflow-artifacts:`."""
    uri = f"sqlite:///{tmp_path}/mlflow.db" if where == "sqlite" else mlflow_uri()
    name = f"disk-{uuid.uuid4().hex[:8]}"  # a server outlives the tests
    store = TrackingStore(uri)
    experiment = store.experiment_id(name)
    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(b"weights")
    study = optuna.create_study(direction="maximize")
    runs = []
    for number, value in enumerate([0.2, 0.9, 0.5, 0.1]):
        run_id = store.create_run(experiment, f"trial-{number}", {})
        store.log_artifacts(run_id, [checkpoint], "checkpoint")
        study.add_trial(create_trial(value=value, user_attrs={RUN_ID_ATTR: run_id}))
        runs.append(run_id)
    client = MlflowClient(uri)
    client.create_registered_model(name)
    client.create_model_version(name, f"runs:/{runs[3]}/checkpoint", run_id=runs[3])  # promoted first

    tracker = StudyTracker(uri, name, study_name=name, storage_url=f"sqlite:///{tmp_path}/optuna.db")
    dropped = tracker.drop_checkpoints_outside_top(study, 1, name)

    assert set(dropped) == {runs[0], runs[2]}
    kept = {run_id for run_id in runs if client.list_artifacts(run_id, "checkpoint")}
    assert kept == {runs[1], runs[3]}
    assert client.get_model_version(name, "1").run_id == runs[3], "the registry is untouched"
    assert tracker.drop_checkpoints_outside_top(study, 1, name) == [], "nothing is left to delete"
    assert tracker.drop_checkpoints_outside_top(study, 1, f"{name}-never-registered") == [runs[3]]


def disk_status(workdir: Path, study_file: Path, name: str) -> str:
    """`sweep status` of the study `name` that ran in `workdir`, once it and `--json` have been checked to
    report the disk that its trials' folders use."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        status = CliRunner().invoke(sweep_cli, ["status", str(study_file)], catch_exceptions=False)
        as_json = CliRunner().invoke(sweep_cli, ["status", str(study_file), "--json"], catch_exceptions=False)
    used = sum(path.stat().st_size for path in (workdir / "runs" / name / "trials").rglob("*") if path.is_file())
    assert json.loads(as_json.output)["disk_used_bytes"] == used
    assert f"disk used: {human_size(used)}" in status.output
    return status.output


def run_disk_study(workdir: Path, synth_voc: Path, **settings: Any) -> tuple[optuna.Study, MlflowClient, str]:
    """`pruning_study("disk")` with more study `settings` (completed, pruned and diverged trials); returns it,
    MLflow's client and status's text."""
    study_file = workdir / "disk.yaml"
    study_file.write_text(yaml.safe_dump(pruning_study("disk", synth_voc, settings=settings)))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        result = CliRunner().invoke(sweep_cli, ["run", "disk.yaml", "--quiet"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="disk", storage=f"sqlite:///{workdir}/runs/disk/optuna.db")
    return study, MlflowClient(f"sqlite:///{workdir}/runs/mlflow.db"), disk_status(workdir, study_file, "disk")


def local_files(workdir: Path, trial: optuna.trial.FrozenTrial) -> list[str]:
    """The files in the trial's folder (recorded relative to the working folder the study ran in)."""
    folder = workdir / trial.user_attrs["checkpoint_dir"]
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


@pytest.mark.slow
def test_finished_trials_leave_no_local_checkpoints_by_default(finished_study: dict[str, Any]) -> None:
    """On the session's `pruning_study` (tests/e2e/conftest.py), which keeps checkpoints as by default."""
    assert finished_study["result"].exit_code == 0, finished_study["result"].output
    workdir, study, client = finished_study["workdir"], finished_study["study"], finished_study["client"]
    status = disk_status(workdir, finished_study["study_file"], study.study_name)
    states = {trial.state for trial in study.trials}
    assert {TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL} <= states
    for trial in study.trials:
        assert not (workdir / trial.user_attrs["checkpoint_dir"]).exists(), trial
        if trial.state == TrialState.COMPLETE:
            run_id = trial.user_attrs[RUN_ID_ATTR]
            listed = client.list_artifacts(run_id, "checkpoint")
            assert [item.path for item in listed] == ["checkpoint/best.pt"]
            # The trial's record points at the checkpoint that outlives its folder: the one in MLflow.
            assert trial.user_attrs["checkpoint"] == f"runs:/{run_id}/checkpoint/best.pt"
            downloaded = download_artifacts(
                trial.user_attrs["checkpoint"], dst_path=str(workdir / "downloaded"), tracking_uri=client.tracking_uri
            )
            assert load_checkpoint(Path(downloaded))["epoch"] == trial.user_attrs["best_epoch"]
    assert "disk used: 0 B" in status


@pytest.mark.slow
def test_keep_all_keeps_completed_folders_and_top_k_trims_mlflow(synth_voc: Path, tmp_path: Path) -> None:
    study, client, status = run_disk_study(tmp_path, synth_voc, keep_checkpoints="all", keep_top_k=1)
    completed = [trial for trial in study.trials if trial.state == TrialState.COMPLETE]
    assert len(completed) >= 2, "the top-k check needs a trial outside the top 1"
    for trial in study.trials:
        expected = ["best.pt", "last.pt"] if trial.state == TrialState.COMPLETE else []
        assert local_files(tmp_path, trial) == expected, trial
    with_checkpoint = {
        trial.number for trial in completed if client.list_artifacts(trial.user_attrs[RUN_ID_ATTR], "checkpoint")
    }
    assert with_checkpoint == {study.best_trial.number}
    assert "disk used: 0 B" not in status
