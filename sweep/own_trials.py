"""Trials a study ran itself, as opposed to copies of another study's trials (a warm start).

A copy (user attr `WARM_START_ATTR`) informs the sampler and the pruner, but it has no MLflow run,
checkpoint or model in this study, so whatever reports, tags or promotes "the best trial" asks here.
The best trial is also a feasible one: a trial whose network breaks the study's `constraints` is no
candidate, whatever its val mIoU (`sweep.constraints`).
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.constraints import is_feasible
from sweep.retries import WARM_START_ATTR


def own_completed_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The study's COMPLETE trials of its own, feasible or not."""
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [trial for trial in completed if WARM_START_ATTR not in trial.user_attrs]


def own_best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The study's best feasible COMPLETE trial of its own (the first of equals), or None before one completes.

    Studies only maximize (the best val mIoU), so the best is the largest value.
    """
    feasible = [trial for trial in own_completed_trials(study) if is_feasible(trial)]
    return max(feasible, key=lambda trial: float(trial.value or 0.0), default=None)


def no_best_reason(study: optuna.Study) -> str:
    """Why `own_best_trial` is None: no own trial completed yet, or none that completed is feasible."""
    completed = own_completed_trials(study)
    if not completed:
        return "has no completed trial yet (copies from a warm start have no model here)"
    return (
        f"has {len(completed)} completed trials but none keeps its constraints (trials "
        f"{', '.join(f'#{trial.number}' for trial in completed)} break them)"
    )
