"""A stopped trial is retried: same checkpoint folder, same MLflow run, resumed mid-way; and the heartbeat
path that queues the retry of a worker that died on another host."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import study_document, tiny_train
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

import sweep.run.objective
from sweep.cli import cli
from sweep.storage.rdb import Heartbeat, build_storage
from sweep.trials.budget import TrialBudget

pytestmark = pytest.mark.slow


def test_retried_trial_resumes_from_its_last_epoch_in_the_same_run(
    synth_voc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    document = study_document(
        "retry",
        n_trials=1,
        train=tiny_train(synth_voc, epochs=3),
        search={"optim.lr": {"type": "float", "low": 0.01, "high": 0.02}},
        pruner=None,
    )
    Path("study.yaml").write_text(yaml.safe_dump(document))
    real_train = sweep.run.objective.train
    epochs_trained: list[int] = []

    def dies_after_epoch_2(config: Any, report: Any, **options: Any) -> Any:
        def report_then_die(epoch: int, metrics: Mapping[str, float]) -> None:
            epochs_trained.append(epoch)
            report(epoch, metrics)
            if epoch == 2:
                raise KeyboardInterrupt  # the worker is gone right after epoch 2's checkpoint

        return real_train(config, report_then_die, **options)

    monkeypatch.setattr(sweep.run.objective, "train", dies_after_epoch_2)
    assert CliRunner().invoke(cli, ["run", "study.yaml", "--quiet"]).exit_code == 130
    storage = "sqlite:///runs/retry/optuna.db"
    study = optuna.load_study(study_name="retry", storage=storage)
    (dead, queued) = study.trials
    assert dead.state == TrialState.FAIL and dead.intermediate_values.keys() == {1, 2}
    assert queued.state == TrialState.WAITING and queued.intermediate_values == dead.intermediate_values

    monkeypatch.setattr(
        sweep.run.objective,
        "train",
        lambda config, report, **options: real_train(
            config, lambda e, m: (epochs_trained.append(e), report(e, m)), **options
        ),
    )
    # The retry continues trial 0's budget slot: the study's one trial is still n_trials: 1.
    result = CliRunner().invoke(cli, ["run", "study.yaml", "--quiet"])
    assert result.exit_code == 0, result.output
    assert epochs_trained == [1, 2, 3], "the retry trains only the missing epoch"
    assert "resumes after epoch 2" in result.output

    study = optuna.load_study(study_name="retry", storage=storage)
    retried = study.trials[1]
    assert retried.state == TrialState.COMPLETE and retried.params == dead.params
    assert retried.intermediate_values.keys() == {1, 2, 3} and retried.user_attrs["epochs_run"] == 3
    assert retried.user_attrs["checkpoint_dir"] == dead.user_attrs["checkpoint_dir"]
    assert retried.user_attrs["checkpoint_dir"].endswith("/trial-0")

    client = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db")
    run_id = retried.user_attrs["mlflow_run_id"]
    assert run_id == dead.user_attrs["mlflow_run_id"], "the retry reopens the original run"
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["optuna.trial_number"] == "1"
    assert sorted(m.step for m in client.get_metric_history(run_id, "val/miou")) == [1, 2, 3]
    experiment = client.get_experiment_by_name("retry")
    parents = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'study'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED", "reruns reattach to one parent"
    assert len(client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'")) == 1


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_heartbeats_retry_a_dead_trial_until_its_retries_are_used_up(tmp_path: Path) -> None:
    """A trial whose heartbeat stops (its host died) is failed and queued again after the grace period, with
    its params and reports, while `max_retries` allows; then its chain fails for good and frees its place."""
    storage = build_storage(f"sqlite:///{tmp_path}/optuna.db", heartbeat=Heartbeat(1, 2, max_retries=1))
    study = optuna.create_study(storage=storage, direction="maximize")
    budget = TrialBudget(1, max_retries=1, failure_limit=2)

    def start_and_die(trial: optuna.Trial) -> None:
        trial.suggest_float("x", 0.0, 1.0)
        trial.report(0.25, 1)
        storage.record_heartbeat(trial._trial_id)  # its last sign of life

    first = study.ask()
    start_and_die(first)
    assert not budget.work_left(study), "alive as far as anyone can tell: its place is held"
    time.sleep(3.5)
    assert budget.work_left(study)
    dead, retry = study.get_trials(deepcopy=False)
    assert dead.state == TrialState.FAIL and retry.state == TrialState.WAITING
    assert retry.params == dead.params and retry.intermediate_values == {1: 0.25}
    assert retry.system_attrs["failed_trial"] == 0

    second = study.ask()  # pops the retry
    assert second.number == retry.number and second.params == dead.params
    start_and_die(second)
    time.sleep(3.5)
    assert budget.work_left(study), "the chain failed for good and gave its place back"
    assert [t.state for t in study.get_trials(deepcopy=False)] == [TrialState.FAIL, TrialState.FAIL]
    assert budget.tally(study).failed == 1 and budget.tally(study).held == 0
    assert not TrialBudget(1, max_retries=1, failure_limit=1).work_left(study), "at the limit the study gives up"


def test_a_completed_retry_reports_the_epochs_its_killed_attempt_left_out() -> None:
    from sweep.run.objective import _report_missing_epochs

    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    trial.report(0.30, 2)  # epoch 1's report died with its worker; the retry resumed at epoch 2
    history = [{"epoch": 1.0, "val/miou": 0.25}, {"epoch": 2.0, "val/miou": 0.99}, {"epoch": 3.0, "val/miou": 0.35}]
    _report_missing_epochs(trial, history)
    study.tell(trial, 0.35)
    assert study.trials[0].intermediate_values == {1: 0.25, 2: 0.30, 3: 0.35}  # epoch 2 as first reported
