"""Choosing a trial under a budget on its network's cost: `sweep promote --max-latency-ms X --max-params-m Y
--max-gflops Z` promotes the best measured candidate that keeps every given maximum, from the study as it
ran (no new study).

A budget is a `Constraints` (the shape of the study file's `constraints`, here from the command line), but
judged more strictly than the study's own bounds: a latency recorded unreliable keeps no latency budget,
since no one can say it would. The chosen trial is on the Pareto front of val mIoU against the budgeted
figures: nothing within the budget beats it on value, and of equal values it is the cheapest (figures in
the budget's order, then the trial number).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sweep.results.front import MeasuredTrial
from sweep.spec.constraints import Constraints, Figure

BUDGET_TAG_PREFIX = "sweep.budget."
"""The registry version's tags of the budget it was promoted under: `sweep.budget.latency_ms` = `25`."""


def budget_figures(budget: Constraints) -> dict[Figure, float]:
    """Each budgeted figure's maximum."""
    return {cast(Figure, figure): limit for figure, limit in budget.bounds().items()}


def keeps(trial: MeasuredTrial, budget: Constraints) -> bool:
    """Whether every budgeted figure of `trial` is at most its maximum, and reliable for a latency."""
    return all(trial.ranks_by(key) and trial.figure(key) <= limit for key, limit in budget_figures(budget).items())


def best_within(trials: Sequence[MeasuredTrial], budget: Constraints) -> MeasuredTrial | None:
    """The best trial that keeps `budget` (see the module's docstring for ties), or None when none does."""
    figures = list(budget_figures(budget))
    kept = [trial for trial in trials if keeps(trial, budget)]
    return min(
        kept,
        key=lambda trial: (-trial.value, *(trial.figure(key) for key in figures), trial.number),
        default=None,
    )


def budget_options(budget: Constraints) -> str:
    """The budget as the command line gave it: `--max-latency-ms 25 and --max-params-m 30`."""
    return " and ".join(f"{option(key)} {limit:g}" for key, limit in budget_figures(budget).items())


def option(figure: Figure) -> str:
    """The option of `sweep promote` that budgets `figure`: `--max-latency-ms`."""
    return "--max-" + figure.replace("_", "-")


def over_budget_reason(trials: Sequence[MeasuredTrial], budget: Constraints) -> str:
    """Why no trial keeps `budget`, after "study 'NAME' ": the budget, and for each budgeted figure the
    cheapest trial's (the cheapest reliable one's for a latency)."""
    cheapest = []
    for key in budget_figures(budget):
        ranked = [trial for trial in trials if trial.ranks_by(key)]
        trial = min(ranked, key=lambda trial: (trial.figure(key), trial.number), default=None)
        kind = "reliable " if key == "latency_ms" else ""
        cheapest.append(
            f"no trial recorded a {kind}{key}"
            if trial is None
            else f"the cheapest {kind}{key} is {trial.figure(key):.4g} (trial #{trial.number})"
        )
    return (
        f"has no completed trial within {budget_options(budget)}: {'; '.join(cheapest)}; raise the budget or "
        "run networks that fit it"
    )


def budget_tags(budget: Constraints) -> dict[str, str]:
    """The registry version's tags of `budget`: `sweep.budget.<figure>` = its maximum."""
    return {f"{BUDGET_TAG_PREFIX}{key}": f"{limit:g}" for key, limit in budget_figures(budget).items()}
