"""Budgets on what a trial's network costs to run: `constraints` in the study file, judged before training.

Every trial measures its network first (`trainer.model_cost`): millions of parameters, GFLOPs of one
forward pass at the crop size, and the median latency of one `study.latency.image_size`² image on the
trial's device. The figures become one user attr of the trial (`NetworkCost`, written in one call, so a
worker killed while recording leaves all or nothing) and metrics of its run (`model/...`), whatever the
study declares.

A study may bound them:

    constraints:
      latency_ms: {max: 25}
      params_m: {max: 30}

Each declared bound goes to Optuna as the trial's constraint `figure - max` (`Trial.set_constraint`;
feasible when every value is 0 or less), before training starts. Optuna 5 deprecates the samplers'
`constraints_func` for this call, which also reaches pruned trials and is set before the trial ends; TPE
reads it to steer away from infeasible regions (random sampling ignores it). A trial that breaks a bound
stops there: Optuna records it PRUNED, with its record's `infeasible` saying which bound by how much, so it trained
nothing and failed nothing. `sweep best` and `sweep promote` choose among feasible trials only
(`sweep.trials.own_trials`). A trial copied by a warm start is judged against this study's bounds from the
figures its study measured.

A latency measured while other processes competed for the CPUs is too high (`trainer.latency_noise`): a
measurement recorded unreliable (`NetworkCost.latency_reliable` false) is not judged against a `latency_ms`
bound, and Optuna gets no constraint value for it; the other bounds still apply, and the objective warns
that it was not judged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial

from sweep.spec.constraints import Constraints, Infeasible
from sweep.trials.record_values import NetworkCost
from sweep.trials.record_writes import write_infeasible, write_network_cost

if TYPE_CHECKING:  # measuring imports torch, which loading a study file does not need
    from trainer.model_cost import ModelCost


class TrialInfeasible(optuna.TrialPruned):
    """Raised by the objective for a trial whose network breaks a bound: Optuna records it PRUNED."""

    def __init__(self, infeasible: Infeasible) -> None:
        self.infeasible = infeasible
        super().__init__(infeasible.text())


def network_cost(cost: ModelCost) -> NetworkCost:
    """A measurement as a trial records it: the figures and where the latency was measured."""
    measured_on = f"{cost.device} {cost.precision} {cost.latency_image_size}px"
    return NetworkCost(
        cost.params_m,
        cost.gflops,
        cost.latency_ms,
        measured_on,
        latency_spread_ms=cost.latency_spread_ms,
        latency_reliable=cost.latency_reliable,
    )


def cost_metrics(cost: ModelCost) -> dict[str, float]:
    """A measurement as metrics of the trial's run: `model/params_m`, `model/gflops`, `model/latency_ms`."""
    return {f"model/{key}": value for key, value in cost.figures().items()}


def judge_trial(trial: optuna.Trial, cost: ModelCost, constraints: Constraints) -> Infeasible | None:
    """Store `cost` on `trial` and give Optuna its constraint values; returns the bounds it breaks (an
    unreliable latency breaks none)."""
    write_network_cost(trial, network_cost(cost))
    judged_by = _trusted_bounds(constraints, latency_reliable=cost.latency_reliable)
    for key, value in judged_by.excess(cost.figures()).items():
        trial.set_constraint(key, value)
    infeasible = judged_by.judge(cost.figures())
    if infeasible is not None:
        write_infeasible(trial, infeasible)
    return infeasible


def unjudged_latency(cost: ModelCost, constraints: Constraints) -> str | None:
    """What to warn about a measurement whose latency is unreliable: why, and that a `latency_ms` bound was
    not judged by it; None for a reliable one."""
    if cost.latency_reliable:
        return None
    bound = constraints.latency_ms
    verdict = "" if bound is None else f"; not judged against latency_ms max {bound.max:g}"
    return f"latency {cost.latency_ms:.1f} ms is unreliable: {cost.latency_warning}{verdict}"


def is_feasible(trial: FrozenTrial) -> bool:
    """Whether every constraint value Optuna holds for `trial` is 0 or less (true when it has none)."""
    return all(value <= 0 for value in trial.constraints.values())


def copied_cost(cost: NetworkCost | None, constraints: Constraints) -> tuple[Infeasible | None, dict[str, float]] | str:
    """For a warm start's copy of a trial whose study measured `cost` (None: nothing): the bounds of this
    study's `constraints` it breaks and its constraint values under them, or why it cannot be judged (a
    bound on a figure its study did not measure)."""
    figures = {} if cost is None else cost.figures()
    unmeasured = [key for key in constraints.bounds() if key not in figures]
    if unmeasured:
        return f"its study measured no {', '.join(unmeasured)}, which this study's constraints bound"
    judged_by = _trusted_bounds(constraints, latency_reliable=cost is None or cost.latency_reliable)
    return judged_by.judge(figures), judged_by.excess(figures)


def _trusted_bounds(constraints: Constraints, *, latency_reliable: bool) -> Constraints:
    """The bounds a measurement is judged by: `constraints`, less `latency_ms` when its latency is unreliable."""
    return constraints if latency_reliable else constraints.model_copy(update={"latency_ms": None})
