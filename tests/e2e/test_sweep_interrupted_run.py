"""`sweep run` interrupted by Ctrl-C during its first trial: exit 130, the trial stopped and queued again, and
no run left RUNNING in MLflow.

Signals sent to real `sweep run` processes, and the reruns that resume, are in `tests/e2e/test_sweep_signals.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import WIDE_LR_SEARCH, study_document
from mlflow.tracking import MlflowClient

from sweep.cli import cli


def test_interrupted_run_leaves_nothing_running(
    synth_voc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    document = study_document(
        "bad-input",
        n_trials=2,
        train={"epochs": 1, "data": {"root": str(synth_voc)}},
        search=WIDE_LR_SEARCH,
        sampler=None,
        pruner=None,
    )
    Path("study.yaml").write_text(yaml.safe_dump(document))

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("sweep.run.objective.train", interrupted)
    result = CliRunner().invoke(cli, ["run", "study.yaml", "--quiet"])
    assert result.exit_code == 130, result.output
    assert "interrupted: trial 0 stopped by SIGINT during epoch 1; no epoch had finished" in result.output
    study = optuna.load_study(study_name="bad-input", storage="sqlite:///runs/bad-input/optuna.db")
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.WAITING], "stopped, and queued again"

    client = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("bad-input").experiment_id])
    statuses = {run.data.tags["sweep.role"]: run.info.status for run in runs}
    assert statuses == {"trial": "KILLED", "study": "KILLED"}
