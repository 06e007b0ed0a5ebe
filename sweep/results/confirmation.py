"""A study's confirmation as its candidates: each original trial, its retrains' val mIoU, mean and spread.

`sweep confirm` retrains the best trials of a study with fresh seeds as the trials of `<name>-confirm`
(`sweep.spec.confirm`). Read back here, each candidate has the values of its completed retrains, their
mean and sample standard deviation (ddof=1: the retrains are a sample of the seeds one could draw), and
its median retrain, whose checkpoint `sweep promote` registers: the lower of the two middle values when
the count is even, so that the model promoted is never the luckier half's. Candidates rank by mean.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from sweep.spec.confirm import confirm_study_name
from sweep.spec.study_file import StudySpec
from sweep.storage.lookup import study_in_storage
from sweep.storage.rdb import build_storage
from sweep.trials.record_view import TrialRecord

UNFINISHED_STATES = (TrialState.WAITING, TrialState.RUNNING)
"""States of a retrain that may still complete."""


@dataclass(frozen=True)
class RetrainResult:
    """One completed retrain: its trial number in the confirmation study, its seed, its val mIoU and run."""

    number: int
    seed: int
    value: float
    mlflow_run_id: str | None


@dataclass(frozen=True)
class CandidateConfirmation:
    """Original trial `trial` (val mIoU `original_value`) and its completed `retrains` (at least one), in
    the order they were planned."""

    trial: int
    original_value: float
    retrains: tuple[RetrainResult, ...]

    @property
    def values(self) -> list[float]:
        return [retrain.value for retrain in self.retrains]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float | None:
        """The sample standard deviation (ddof=1); None for a single retrain."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    @property
    def median_retrain(self) -> RetrainResult:
        """The retrain whose value is the median: the lower middle one of an even count (ties: lower number)."""
        ranked = sorted(self.retrains, key=lambda retrain: (retrain.value, retrain.number))
        return ranked[(len(ranked) - 1) // 2]


@dataclass(frozen=True)
class Confirmation:
    """The confirmation study's candidates, best mean first (then the better original, then the lower
    number), and how many of its retrains may still complete and were planned."""

    study_name: str
    candidates: list[CandidateConfirmation]
    unfinished: int
    planned: int

    @property
    def completed(self) -> int:
        """How many retrains completed: those of the candidates."""
        return sum(len(candidate.retrains) for candidate in self.candidates)

    @property
    def finished(self) -> bool:
        """No retrain waits or runs: each completed or failed for good."""
        return self.unfinished == 0


def confirmation_of(study: optuna.Study) -> Confirmation:
    """The candidates of a confirmation study (`study`), from its retrains' records."""
    trials = study.get_trials(deepcopy=False)
    retrains: dict[int, list[tuple[int, RetrainResult]]] = {}
    originals: dict[int, float] = {}
    planned: set[tuple[int, int]] = set()
    for trial in trials:
        record = TrialRecord.of(trial)
        confirms = record.carried_retrain
        if confirms is None:
            continue
        planned.add((confirms.trial, confirms.retrain))
        originals[confirms.trial] = confirms.original_value
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            result = RetrainResult(trial.number, confirms.seed, trial.value, record.mlflow_run_id)
            retrains.setdefault(confirms.trial, []).append((confirms.retrain, result))
    candidates = [
        CandidateConfirmation(number, originals[number], tuple(result for _, result in sorted(done)))
        for number, done in retrains.items()
    ]
    candidates.sort(key=lambda candidate: (-candidate.mean, -candidate.original_value, candidate.trial))
    unfinished = sum(1 for trial in trials if trial.state in UNFINISHED_STATES)
    return Confirmation(study.study_name, candidates, unfinished, len(planned))


def load_confirmation(spec: StudySpec) -> Confirmation | None:
    """The confirmation of `spec`'s study, or None when `sweep confirm` never ran on it (no study
    `<name>-confirm` in its storage; nothing is created looking)."""
    name = confirm_study_name(spec.study.name)
    if not study_in_storage(spec.storage_url, name):
        return None
    return confirmation_of(optuna.load_study(study_name=name, storage=build_storage(spec.storage_url)))
