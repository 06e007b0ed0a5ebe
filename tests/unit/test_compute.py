"""Compute accounting: per-attempt figures, retry chains, warm-start copies, and what pruning saved."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial

from sweep.trials.compute import AttemptClock, StudyCompute, gpu_count, parent_metrics, run_metrics
from sweep.trials.record import WARM_START_ATTR
from sweep.trials.record_values import AttemptCompute
from sweep.trials.retries import enqueue_retry


def attempt(state: TrialState, epochs: int, wall_s: float, *, planned: int = 4, **attrs: Any) -> FrozenTrial:
    figures = AttemptCompute(epochs, wall_s, gpu_s=wall_s, planned_epochs=planned)
    return create_trial(
        state=state, value=0.5 if state == TrialState.COMPLETE else None, user_attrs={**figures.user_attrs(), **attrs}
    )


def study_of(*trials: FrozenTrial) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for trial in trials:
        study.add_trial(trial)
    return study


def test_pruned_trials_would_have_trained_all_their_epochs_the_rest_what_they_did() -> None:
    study = study_of(
        attempt(TrialState.COMPLETE, 4, 40.0),  # 10 s per epoch
        attempt(TrialState.COMPLETE, 4, 60.0),  # 15 s per epoch: 100 s over 8 epochs, 12.5 s per epoch
        attempt(TrialState.PRUNED, 1, 13.0),  # would have trained 4
        attempt(TrialState.PRUNED, 2, 24.0),  # would have trained 4
        attempt(TrialState.FAIL, 1, 9.0, failed_for_good="diverged"),  # no saving of pruning's
        attempt(TrialState.COMPLETE, 4, 1000.0, **{WARM_START_ATTR: {"study": "old", "trial": 0}}),  # not ours
    )
    compute = StudyCompute.of(study.get_trials())
    assert (compute.epochs, compute.wall_s, compute.gpu_s) == (12, 146.0, 146.0)
    assert compute.no_pruning_epochs == 4 + 4 + 4 + 4 + 1
    assert compute.no_pruning_wall_s == pytest.approx(146.0 + (17 - 12) * 12.5)
    assert compute.epochs_saved == pytest.approx(5 / 17)
    assert compute.saving_line().startswith("pruning saved 29.4% of epochs (12 trained of 17 without pruning")
    assert parent_metrics(compute)["compute/epochs_saved"] == pytest.approx(5 / 17)


def test_a_retried_chain_counts_what_each_attempt_trained() -> None:
    study = study_of(attempt(TrialState.FAIL, 2, 30.0, interrupted="SIGTERM during epoch 3"))
    first = study.get_trials()[0]
    retry = enqueue_retry(study, first)
    assert retry is not None
    assert AttemptCompute.of(study.get_trials()[retry]) is None, "a retry does not inherit its attempt's figures"
    trial = study.ask()
    for key, value in AttemptCompute(1, 20.0, 0.0, planned_epochs=4).user_attrs().items():
        trial.set_user_attr(key, value)
    study.tell(trial, state=TrialState.PRUNED)  # pruned at epoch 3 after resuming
    compute = StudyCompute.of(study.get_trials())
    assert (compute.epochs, compute.wall_s, compute.no_pruning_epochs) == (3, 50.0, 4)
    assert compute.no_pruning_wall_s is None, "no completed attempt to estimate a second per epoch from"
    attempts = [AttemptCompute.of(t) for t in study.get_trials()]
    assert run_metrics(a for a in attempts if a is not None) == {
        "compute/epochs": 3.0,
        "compute/wall_s": 50.0,
        "compute/gpu_s": 30.0,
    }


def test_a_study_that_never_pruned_saved_nothing() -> None:
    compute = StudyCompute.of(study_of(attempt(TrialState.COMPLETE, 4, 8.0)).get_trials())
    assert compute.epochs_saved == 0.0 and compute.no_pruning_wall_s == 8.0
    assert StudyCompute.of([]).epochs_saved == 0.0


@pytest.mark.parametrize(("device", "gpus"), [("cpu", 0), ("cuda", 1), ("cuda:1", 1)])
def test_gpu_seconds_count_one_gpu_per_cuda_trial_and_none_on_the_cpu(device: str, gpus: int) -> None:
    assert gpu_count(device) == gpus
    clock = AttemptClock()
    clock.planned(device=device, epochs=3)
    clock.epochs += 2
    spent = clock.stop()
    assert (spent.epochs, spent.planned_epochs) == (2, 3)
    assert spent.gpu_s == gpus * spent.wall_s
