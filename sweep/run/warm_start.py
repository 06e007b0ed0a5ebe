"""Warm-starting a study: copying the finished trials of another study into it, with Optuna's `add_trials`.

The sampler and the median pruner then learn from them as from the study's own trials. COMPLETE and
PRUNED trials are copied: a pruned trial's intermediate values are what the median pruner compares
against, and its params tell the sampler where not to look. Failed, running and waiting trials are not.

A trial is copied only when it fits this study's search: each searched key must have a value the
distribution can produce, taken from the trial's params or, for a key the other study did not search,
from that study's `train` section (the value the trial trained with); and a key the trial searched but
this study does not must have this study's `train` value. The others are skipped, each with the reason.

A copied trial carries its origin (`WarmStartOrigin`: study, storage with its password masked, trial), which
makes copying idempotent (an origin already in the study is not copied again) and keeps the trial out of
the budget (`sweep.retries.chains` leaves it out, so `n_trials` counts only the study's own trials). It
also carries its network's measured figures, judged against this study's `constraints` as Optuna
constraint values (`sweep.trials.feasibility.copied_cost`); a trial with no figure for a bound this study sets
is skipped, since the sampler could not tell whether it is feasible. It carries nothing else of the
original: no MLflow run, no checkpoint, which belong to the other study.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.spec.constraints import Constraints
from sweep.spec.distributions import AnyDistribution
from sweep.trials.feasibility import copied_cost
from sweep.trials.record_values import WarmStartOrigin
from sweep.trials.record_view import TrialRecord
from sweep.trials.record_writes import copied_attrs

COPIED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class WarmStartReport:
    """What a warm start did: the numbers (in the other study) of the trials copied now, of those copied
    by an earlier run, and of those skipped with the reason."""

    source: str
    copied: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """`warm start from ...: copied 3 trials, ...`, then one line per skipped trial."""
        parts = [
            f"copied {len(self.copied)} trials" + (f" (#{', #'.join(map(str, self.copied))})" if self.copied else "")
        ]
        if self.already:
            parts.append(f"{len(self.already)} copied before")
        if self.skipped:
            parts.append(f"skipped {len(self.skipped)}")
        reasons = [f"  trial {number}: {reason}" for number, reason in self.skipped.items()]
        return [f"warm start from {self.source}: {', '.join(parts)}", *reasons]


def copy_trials(
    study: optuna.Study,
    source: optuna.Study,
    *,
    storage: str,
    search: Mapping[str, AnyDistribution],
    train: Mapping[str, Any],
    source_train: Mapping[str, Any],
    constraints: Constraints | None = None,
) -> WarmStartReport:
    """Copy `source`'s COMPLETE and PRUNED trials that fit `search` into `study`, each origin once.

    `storage` is the source's storage URL with its password masked (it is stored in the copies);
    `train` and `source_train` are this study's and the source's resolved train configs, flattened to
    dotted keys. `constraints` (None: none) are this study's bounds on the copies' measured figures.
    """
    constraints = constraints or Constraints()
    report = WarmStartReport(f"study {source.study_name!r} ({storage})")
    copied_before = {TrialRecord.of(trial).origin.warm_start for trial in study.get_trials(deepcopy=False)}
    copies = []
    for trial in source.get_trials(deepcopy=False, states=COPIED_STATES):
        origin = WarmStartOrigin(source.study_name, storage, trial.number)
        if origin in copied_before:
            report.already.append(trial.number)
            continue
        params, reason = _fitting_params(trial, search, train, source_train)
        measured = TrialRecord.of(trial).network_cost
        judged = copied_cost(measured, constraints)
        if reason is not None or isinstance(judged, str):
            report.skipped[trial.number] = reason or str(judged)
            continue
        infeasible, excess = judged
        copy = optuna.trial.create_trial(
            state=trial.state,
            values=trial.values,
            params=params,
            distributions={path: search[path].to_optuna() for path in params},
            user_attrs=copied_attrs(origin, measured, infeasible),
            intermediate_values=trial.intermediate_values,
        )
        for key, value in excess.items():
            copy.set_constraint(key, value)
        copies.append(copy)
        report.copied.append(trial.number)
    study.add_trials(copies)
    return report


def _fitting_params(
    trial: FrozenTrial,
    search: Mapping[str, AnyDistribution],
    train: Mapping[str, Any],
    source_train: Mapping[str, Any],
) -> tuple[dict[str, Any], str | None]:
    """The trial's value for each searched key, or the reason why it does not fit the search."""
    for path, value in trial.params.items():
        if path not in search and value != train.get(path):
            return {}, f"{path}={value!r}, which this study does not search and sets to {train.get(path)!r}"
    params = {path: trial.params.get(path, source_train.get(path)) for path in search}
    for path, value in params.items():
        reason = search[path].rejects(value)
        if reason is not None:
            origin = "" if path in trial.params else " (its study's train value)"
            return {}, f"{path}{origin}: {reason}"
    return params, None
