"""Files that fail under a sweep: a full disk for the checkpoints, and a corrupt `last.pt` met by a retry."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import study_document, tiny_train
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from processes import LiveProcess, sweep_env

import sweep.run.objective
from sweep.cli import cli

pytestmark = pytest.mark.slow


def write_study(folder: Path, data_root: Path, name: str, **settings: Any) -> Path:
    study_file = folder / "study.yaml"
    study_file.write_text(
        yaml.safe_dump(study_document(name, train=tiny_train(data_root, epochs=2), settings=settings))
    )
    return study_file


def mounted_tmpfs(mount_point: Path, options: str) -> Iterator[Path]:
    """A 1 MB tmpfs mounted at `mount_point` with `options` (`size=1m` and more) while the test runs; the
    test is skipped where mounting needs a root this process is not."""
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs: too small for one checkpoint of the tiny model."""
    yield from mounted_tmpfs(tmp_path / "small-disk", "size=1m")


@pytest.fixture
def read_only_disk(tmp_path: Path) -> Iterator[Path]:
    """An empty tmpfs mounted read-only: not even root can make a file in it."""
    yield from mounted_tmpfs(tmp_path / "read-only-disk", "ro,size=1m")


def test_a_read_only_artifacts_dir_is_refused_before_the_first_trial_and_nothing_is_created(
    synth_voc: Path, tmp_path: Path, read_only_disk: Path
) -> None:
    folder = tmp_path / "cwd"
    folder.mkdir()
    study_file = write_study(folder, synth_voc, "read-only", artifacts_dir=str(read_only_disk / "trials"))
    sweep = LiveProcess(["run", str(study_file), "--quiet"], folder, sweep_env())
    assert sweep.finish() == 1, sweep.output
    errors = [line for line in sweep.lines if line.startswith("error: ")]
    assert errors == [
        f"error: study.artifacts_dir {read_only_disk}/trials: trials cannot write in {read_only_disk} (Read-only "
        "file system); fix its permissions, or point study.artifacts_dir at a folder this user can write\n"
    ], sweep.output
    assert "Traceback" not in sweep.output
    assert sorted(path.name for path in folder.iterdir()) == ["study.yaml"], "no study, MLflow database or folder"
    assert list(read_only_disk.iterdir()) == []


def test_a_full_disk_fails_each_trial_naming_the_path_and_the_study_goes_on(
    synth_voc: Path, tmp_path: Path, full_disk: Path
) -> None:
    study_file = write_study(
        tmp_path, synth_voc, "full", n_trials=2, max_retries=1, max_failed_trials=2, artifacts_dir=str(full_disk)
    )
    sweep = LiveProcess(["run", str(study_file), "--quiet"], tmp_path, sweep_env())
    assert sweep.finish() == 1, sweep.output
    output = sweep.output
    assert "Traceback" not in output, output
    assert f"CheckpointError: {full_disk}/" in output and "no space left on device" in output
    assert "retry 1 of 1 queued as trial #1" in output, "a retry may find space that other trials freed"
    assert "study 'full' stopped: 2 trials failed for good (study.max_failed_trials)" in output

    study = optuna.load_study(study_name="full", storage=f"sqlite:///{tmp_path}/runs/full/optuna.db")
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 4, "two trials, each tried twice"
    assert [t.number for t in study.trials if "failed_for_good" in t.user_attrs] == [1, 3]
    for trial in study.trials:
        assert trial.user_attrs["fail_reason"].startswith(f"CheckpointError: {full_disk}/")
    client = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db")
    for trial in study.trials:
        run = client.get_run(trial.user_attrs["mlflow_run_id"])
        assert run.info.status == "FAILED" and "no space left on device" in run.data.tags["error"]
    assert not [p for p in full_disk.rglob("*") if p.is_file()], "no temporary file is left to fill the disk"


def test_a_retry_that_meets_a_corrupt_last_pt_starts_over_with_a_warning_on_its_run(
    synth_voc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    study_file = write_study(tmp_path, synth_voc, "corrupt", n_trials=1)
    real_train = sweep.run.objective.train

    def stops_after_epoch_1(config: Any, report: Any, **options: Any) -> Any:
        def report_then_stop(epoch: int, metrics: Mapping[str, float]) -> None:
            report(epoch, metrics)
            raise KeyboardInterrupt  # Ctrl-C right after epoch 1's checkpoint

        return real_train(config, report_then_stop, **options)

    monkeypatch.setattr(sweep.run.objective, "train", stops_after_epoch_1)
    assert CliRunner().invoke(cli, ["run", str(study_file), "--quiet"]).exit_code == 130
    storage = "sqlite:///runs/corrupt/optuna.db"
    (stopped, _) = optuna.load_study(study_name="corrupt", storage=storage).trials
    last = Path(stopped.user_attrs["checkpoint_dir"]) / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # truncated on disk

    monkeypatch.setattr(sweep.run.objective, "train", real_train)
    result = CliRunner().invoke(cli, ["run", str(study_file), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "it starts over from epoch 1" in result.output
    (_, retry) = optuna.load_study(study_name="corrupt", storage=storage).trials
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["epochs_run"] == 2
    run = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db").get_run(retry.user_attrs["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert str(last) in run.data.tags["warning.checkpoint"]
    assert run.data.tags["warning.checkpoint"].endswith("training started over from epoch 1")
