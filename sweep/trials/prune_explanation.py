"""Why the pruner stopped a trial, worked out from the study the way the pruner decided it.

`explain_prune` is called right after `trial.should_prune()` said yes, on the trial as stored then:
- the median pruner (Optuna 5's `PercentilePruner` at 50) compares the trial's *best* val mIoU so far with
  the median of the values that the study's COMPLETE trials reported at the same step (pruned and running
  trials are not in it; neither is the trial itself). It had at least `n_min_trials` such values, or it
  would not have pruned. A trial whose values are all NaN is pruned with nothing to compare.
- Hyperband runs successive halving in the trial's bracket: at each rung the pruner records the trial's
  value at the current step as the system attr `completed_rung_<rung>`, so the last such attr names the
  rung that stopped it; the bracket is the one Hyperband assigns to the trial's number.

The explanation is stored as trial user attrs (`PRUNED_*_ATTR`, so `sweep status` reads it without MLflow)
and as tags on the trial's run (`tags`); `best_reported` is the best value so far that the run records as
its objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from sweep.trials.record import (
    PRUNED_AGAINST_ATTR,
    PRUNED_AT_STEP_ATTR,
    PRUNED_BRACKET_ATTR,
    PRUNED_COMPARED_TRIALS_ATTR,
    PRUNED_RUNG_ATTR,
    PRUNED_VALUE_ATTR,
)

_ATTRS = {
    "step": PRUNED_AT_STEP_ATTR,
    "value": PRUNED_VALUE_ATTR,
    "against": PRUNED_AGAINST_ATTR,
    "compared_trials": PRUNED_COMPARED_TRIALS_ATTR,
    "bracket": PRUNED_BRACKET_ATTR,
    "rung": PRUNED_RUNG_ATTR,
}
_RUNG_ATTR_PREFIX = "completed_rung_"


@dataclass(frozen=True)
class PruneExplanation:
    """The step (epoch) a trial was pruned at and the value the pruner judged (median pruner: the best val
    mIoU so far; Hyperband: the val mIoU at that step). Median pruner: `against` is the median it fell below
    and `compared_trials` how many trials that median was taken over (both None when the value was NaN).
    Hyperband: `bracket` and `rung`. A field that does not apply is None."""

    step: int
    value: float
    against: float | None = None
    compared_trials: int | None = None
    bracket: int | None = None
    rung: int | None = None

    def user_attrs(self) -> dict[str, Any]:
        """The explanation as trial user attrs; fields that do not apply are left out."""
        return {_ATTRS[key]: value for key, value in vars(self).items() if value is not None}

    def tags(self) -> dict[str, str]:
        """The same as MLflow run tags (the attr names, values as text)."""
        return {key: str(value) for key, value in self.user_attrs().items()}

    def text(self) -> str:
        """One line for people: what was compared with what."""
        said = f"pruned at epoch {self.step}: val mIoU {self.value:.4f}"
        if self.bracket is not None:
            return f"{said}; hyperband bracket {self.bracket}, rung {self.rung}"
        if self.against is None:
            return f"{said} (not a number)"
        return f"{said} < median {self.against:.4f} of {self.compared_trials} trials"


def explain_prune(study: optuna.Study, trial: FrozenTrial) -> PruneExplanation:
    """The explanation of pruning `trial` (as stored after `should_prune()` said yes) by `study.pruner`,
    a `MedianPruner` or a `HyperbandPruner`; raises `TypeError` for any other pruner."""
    step = trial.last_step
    assert step is not None, "a pruned trial has reported a value"
    pruner = study.pruner
    if isinstance(pruner, optuna.pruners.HyperbandPruner):
        rungs = [
            int(key.removeprefix(_RUNG_ATTR_PREFIX)) for key in trial.system_attrs if key.startswith(_RUNG_ATTR_PREFIX)
        ]
        # Optuna has no public way to ask which bracket a trial is in; this is the call its pruner makes.
        bracket = pruner._get_bracket_id(study, trial)
        return PruneExplanation(step, trial.intermediate_values[step], bracket=bracket, rung=max(rungs, default=0))
    if isinstance(pruner, optuna.pruners.MedianPruner):
        return _median_explanation(study, trial, step)
    raise TypeError(f"cannot explain pruning by {type(pruner).__name__}")


def _median_explanation(study: optuna.Study, trial: FrozenTrial, step: int) -> PruneExplanation:
    values = np.asarray(list(trial.intermediate_values.values()), dtype=float)
    if np.isnan(values).all():
        return PruneExplanation(step, math.nan)
    best = float(np.nanmax(values) if study.direction == StudyDirection.MAXIMIZE else np.nanmin(values))
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    at_step = [other.intermediate_values[step] for other in completed if step in other.intermediate_values]
    return PruneExplanation(step, best, float(np.nanmedian(np.asarray(at_step, dtype=float))), len(at_step))


def best_reported(trial: FrozenTrial) -> tuple[float, int] | None:
    """The best val mIoU that `trial` reported to Optuna and its epoch (the earliest of equals): the value the
    median pruner judged; None when it reported no number (no epoch ended, or every value was NaN)."""
    numbers = [(value, epoch) for epoch, value in trial.intermediate_values.items() if not math.isnan(value)]
    if not numbers:
        return None
    return max(numbers, key=lambda number: (number[0], -number[1]))


def explanation_from_attrs(user_attrs: dict[str, Any]) -> PruneExplanation | None:
    """The explanation stored on a trial by `PruneExplanation.user_attrs`; None when it has none."""
    if PRUNED_AT_STEP_ATTR not in user_attrs:
        return None
    fields = {key: user_attrs[attr] for key, attr in _ATTRS.items() if attr in user_attrs}
    return PruneExplanation(**fields)
