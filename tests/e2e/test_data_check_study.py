"""A bad file met mid-epoch by a sweep's trial fails the trial naming it; `trainer data check` finds it first.

The decision (docs/reliability.md): a bad file found mid-epoch is never skipped. The trial fails with the
file's name (in its `fail_reason`, its MLflow run and the one `error:` line of `sweep run`), because a skipped
sample would silently change the data set that the study's trials are compared on.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import corrupt_jpeg, split_ids, study_document, tiny_train


@pytest.mark.slow
def test_a_bad_file_mid_epoch_fails_the_trial_naming_it(
    synth_voc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loader workers included: the file reaches the trial as a DatasetError, never as a skipped sample."""
    from sweep.cli import cli as sweep_cli

    monkeypatch.chdir(tmp_path)
    root = Path(shutil.copytree(synth_voc, tmp_path / "VOC2012"))
    bad = root / "JPEGImages" / f"{split_ids(root, 'train')[3]}.jpg"
    corrupt_jpeg(bad)
    train = tiny_train(root)
    train["data"]["num_workers"] = 2
    document = study_document("bad-file", n_trials=2, train=train, sampler=None, pruner=None)
    Path("study.yaml").write_text(yaml.safe_dump(document))
    result = CliRunner().invoke(sweep_cli, ["run", "study.yaml", "--quiet"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"error: {bad}: corrupt or unreadable image" in result.output
    study = optuna.load_study(study_name="bad-file", storage="sqlite:///runs/bad-file/optuna.db")
    [trial] = study.trials  # the study stops: every later trial would meet the same file
    assert trial.state == optuna.trial.TrialState.FAIL
    assert trial.user_attrs["fail_reason"].startswith(f"DatasetError: {bad}: corrupt or unreadable image")

    from mlflow.tracking import MlflowClient

    run = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db").get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED"
