"""The candidate `sweep promote` gates: the study's best feasible trial, the best within a budget, or a
confirmation's winner (its median retrain, `sweep.promote.confirmed_choice`)."""

from __future__ import annotations

from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial

from sweep.errors import NothingToPromoteError, OverBudgetError
from sweep.promote.confirmed_choice import ConfirmedChoice
from sweep.results.front import measured_candidates
from sweep.results.within_budget import best_within, over_budget_reason
from sweep.spec.constraints import Constraints
from sweep.spec.study_file import StudySpec
from sweep.trials.own_trials import no_best_reason, own_best_trial
from sweep.trials.record import RUN_ID_ATTR
from sweep.trials.record_values import NetworkCost
from sweep.trials.record_view import TrialRecord


@dataclass(frozen=True)
class Candidate:
    """The trial whose checkpoint is gated and registered: the study's own, or a confirmation's retrain;
    `label` names it in messages ("best trial #3", "retrain #4 of study 'voc-confirm'")."""

    study: str
    number: int
    value: float
    run_id: str
    cost: NetworkCost | None
    label: str


def best_candidate(spec: StudySpec, study: optuna.Study, budget: Constraints | None) -> Candidate:
    """The study's best feasible completed trial, within `budget` when one is given."""
    best = own_best_trial(study)
    if best is not None and budget is not None:
        best = best_within_budget(study, spec.study.name, budget)
    if best is None:
        raise NothingToPromoteError(f"study {spec.study.name!r} {no_best_reason(study, f'sweep run {spec.source}')}")
    assert best.value is not None  # the best trial is a completed one
    record, label = TrialRecord.of(best), f"best trial #{best.number}"
    if record.mlflow_run_id is None:
        raise NothingToPromoteError(f"{label} has no MLflow run id (user attr {RUN_ID_ATTR!r})")
    return Candidate(spec.study.name, best.number, best.value, record.mlflow_run_id, record.network_cost, label)


def confirmed_candidate(study: optuna.Study, choice: ConfirmedChoice) -> Candidate:
    """The median retrain of the confirmation's winner, with the cost its original trial measured."""
    retrain, confirmation_study = choice.retrain, choice.confirmation.study_name
    label = f"retrain #{retrain.number} of study {confirmation_study!r}"
    if retrain.mlflow_run_id is None:
        raise NothingToPromoteError(f"{label} has no MLflow run id (user attr {RUN_ID_ATTR!r})")
    original = study.get_trials(deepcopy=False)[choice.winner.trial]
    cost = TrialRecord.of(original).network_cost
    return Candidate(confirmation_study, retrain.number, retrain.value, retrain.mlflow_run_id, cost, label)


def best_within_budget(study: optuna.Study, study_name: str, budget: Constraints) -> FrozenTrial:
    """The candidate trial `best_within` chooses under `budget`; `OverBudgetError` naming the budget and the
    cheapest figures when none keeps it."""
    measured = measured_candidates(study)
    chosen = best_within(measured, budget)
    if chosen is None:
        raise OverBudgetError(f"study {study_name!r} {over_budget_reason(measured, budget)}")
    return study.get_trials(deepcopy=False)[chosen.number]
