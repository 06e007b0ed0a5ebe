"""The accuracy–cost front of `sweep best --front`: the trials no other trial beats on both val mIoU and one
measured figure of its network (`latency_ms`, `params_m` or `gflops`).

A trial is on the front when no other trial has a val mIoU at least as high at a cost at most as low, one of
the two strictly better. Of trials at one point (same value, same cost) the lowest-numbered stands for
them all. The candidates are the study's feasible completed trials of its own (`own_candidates`) that
recorded their network's cost; a latency recorded unreliable (measured under CPU contention) is no figure
to rank by, so those trials are left out of a latency front and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from sweep.spec.constraints import Figure
from sweep.trials.own_trials import own_candidates
from sweep.trials.record_values import NetworkCost
from sweep.trials.record_view import TrialRecord


@dataclass(frozen=True)
class Point:
    """One trial on the plane of a front: its number, its value (maximised) and its cost (minimised)."""

    number: int
    value: float
    cost: float


def pareto_front(points: Iterable[Point]) -> list[Point]:
    """The points no other point dominates, cheapest first (so their values rise), in O(n log n).

    Sorted by cost, then best value, then number, a point is on the front exactly when its value beats
    every value before it: an equal cost keeps the best value, an equal value and cost the lowest number.
    """
    front: list[Point] = []
    for point in sorted(points, key=lambda point: (point.cost, -point.value, point.number)):
        if not front or point.value > front[-1].value:
            front.append(point)
    return front


@dataclass(frozen=True)
class MeasuredTrial:
    """A candidate trial with its network's measured cost: number, val mIoU, cost, params and MLflow run."""

    number: int
    value: float
    cost: NetworkCost
    params: Mapping[str, Any]
    mlflow_run_id: str | None

    def figure(self, figure: Figure) -> float:
        return self.cost.figures()[figure]

    def ranks_by(self, figure: Figure) -> bool:
        """Whether `figure` can rank this trial: any figure, but a latency only when it was reliable."""
        return figure != "latency_ms" or self.cost.latency_reliable

    @staticmethod
    def of(trial: FrozenTrial) -> MeasuredTrial | None:
        """The completed `trial` with its recorded cost; None when it recorded none (or has no value)."""
        record = TrialRecord.of(trial)
        cost = record.network_cost
        if cost is None or trial.value is None:
            return None
        return MeasuredTrial(trial.number, trial.value, cost, dict(trial.params), record.mlflow_run_id)


def measured_candidates(study: optuna.Study) -> list[MeasuredTrial]:
    """The study's candidates (`own_candidates`) that recorded their network's cost, in trial order."""
    measured = (MeasuredTrial.of(trial) for trial in own_candidates(study))
    return [trial for trial in measured if trial is not None]


@dataclass(frozen=True)
class StudyFront:
    """The front of a study's measured candidates against `figure`, cheapest first, and the numbers of the
    candidates left out because their latency was recorded unreliable (only for a latency front)."""

    figure: Figure
    trials: list[MeasuredTrial]
    unreliable: list[int]

    def unreliable_note(self) -> str | None:
        """What was left out and how to rank it, or None when nothing was."""
        if not self.unreliable:
            return None
        numbers = ", ".join(f"#{number}" for number in self.unreliable)
        return (
            f"left out {len(self.unreliable)} trials whose latency was recorded unreliable (measured under CPU "
            f"contention): {numbers}; --by params_m or --by gflops ranks them"
        )


def front_of(trials: Iterable[MeasuredTrial], figure: Figure) -> StudyFront:
    """The front of `trials` against `figure` (`pareto_front`), leaving out those it cannot rank."""
    trials = list(trials)
    ranked = {trial.number: trial for trial in trials if trial.ranks_by(figure)}
    points = [Point(trial.number, trial.value, trial.figure(figure)) for trial in ranked.values()]
    unreliable = [trial.number for trial in trials if trial.number not in ranked]
    return StudyFront(figure, [ranked[point.number] for point in pareto_front(points)], unreliable)


def study_front(study: optuna.Study, figure: Figure) -> StudyFront:
    """The front of the study's measured candidates against `figure`."""
    return front_of(measured_candidates(study), figure)
