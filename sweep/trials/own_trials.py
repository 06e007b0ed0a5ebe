"""Trials a study ran itself, as opposed to copies of another study's trials (a warm start).

A copy (its record's `origin.warm_start`) informs the sampler and the pruner, but it has no MLflow run,
checkpoint or model in this study, so whatever reports, tags or promotes "the best trial" asks here.
The best trial is also a feasible one: a trial whose network breaks the study's `constraints` is no
candidate, whatever its val mIoU (`sweep.spec.constraints`).
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.trials.feasibility import is_feasible
from sweep.trials.record_view import TrialRecord


def own_trials(study: optuna.Study, state: TrialState) -> list[FrozenTrial]:
    """The study's trials of its own (no warm-start copies) in `state`, feasible or not."""
    trials = study.get_trials(deepcopy=False, states=(state,))
    return [trial for trial in trials if not TrialRecord.of(trial).is_copied]


def own_candidates(study: optuna.Study) -> list[FrozenTrial]:
    """The study's feasible COMPLETE trials of its own: those `sweep best`, its front and `sweep promote`
    choose among."""
    return [trial for trial in own_trials(study, TrialState.COMPLETE) if is_feasible(trial)]


def own_best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The study's best candidate (`own_candidates`; the first of equals), or None before one completes.

    Studies only maximize (the best val mIoU), so the best is the largest value.
    """
    return max(own_candidates(study), key=lambda trial: float(trial.value or 0.0), default=None)


def own_top_trials(study: optuna.Study, count: int) -> list[FrozenTrial]:
    """The study's `count` best candidates (`own_candidates`), best first; of equal values the lower number
    first, as `own_best_trial` takes it."""
    ranked = sorted(own_candidates(study), key=lambda trial: (-float(trial.value or 0.0), trial.number))
    return ranked[:count]


def own_best_value(study: optuna.Study) -> float | None:
    """`own_best_trial`'s value, or None when there is no such trial."""
    best = own_best_trial(study)
    return None if best is None else best.value


def no_best_reason(study: optuna.Study, rerun: str) -> str:
    """Why `own_best_trial` is None, and what to do, after "study 'NAME' ": none that completed keeps the
    constraints, every trial so far was infeasible, or none completed yet (then: run `rerun` on)."""
    completed = own_trials(study, TrialState.COMPLETE)
    if completed:
        return (
            f"has {len(completed)} completed trials but none keeps its constraints (trials "
            f"{_numbers(completed)} break them)"
        )
    pruned = own_trials(study, TrialState.PRUNED)
    infeasible = [trial for trial in pruned if TrialRecord.of(trial).infeasible is not None]
    if infeasible:
        return (
            f"has no completed trial: its networks broke the study's constraints before training (trials "
            f"{_numbers(infeasible)}; `sweep status` says by how much); loosen the constraints or search "
            "networks that keep them"
        )
    return (
        f"has no completed trial yet (copies from a warm start have no model here); run `{rerun}` until one completes"
    )


def _numbers(trials: list[FrozenTrial]) -> str:
    return ", ".join(f"#{trial.number}" for trial in trials)
