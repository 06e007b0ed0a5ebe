"""Trials a study ran itself, as opposed to copies of another study's trials (a warm start).

A copy (user attr `WARM_START_ATTR`) informs the sampler and the pruner, but it has no MLflow run,
checkpoint or model in this study, so whatever reports, tags or promotes "the best trial" asks here.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.retries import WARM_START_ATTR


def own_best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The study's best COMPLETE trial of its own (the first of equals), or None before one completes.

    Studies only maximize (the best val mIoU), so the best is the largest value.
    """
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    own = [trial for trial in completed if WARM_START_ATTR not in trial.user_attrs]
    return max(own, key=lambda trial: float(trial.value or 0.0), default=None)
