"""Compute accounting: what each trial attempt trained and spent, what the study spent, and what pruning saved.

Each attempt of a trial records its own figures as user attrs (`AttemptCompute`, read back as the
`attempt.compute` of its `TrialRecord`): the epochs it trained
(those it reported; an epoch a signal or an error cut short is not counted, its seconds are), its wall
seconds from the objective's start to its end, and its GPU-seconds. A retry resumes its chain from the
last checkpoint, so each attempt counts only what it trained itself, and the chain's figures are the sums
over its attempts; epochs trained again after an unreadable checkpoint count again, as they were spent.
The attrs are per attempt (`PER_ATTEMPT_PREFIX`): a retry does not inherit them. An attempt whose process died
(a dead worker's trial) records nothing. Trials copied from another study (a warm start) are no trials of
this study and count nowhere.

`StudyCompute` totals the study and compares it with a study that never prunes: there, a pruned chain
would have trained all its planned `epochs`, and every other chain the same epochs it trained (a failure,
an early stop or a network that breaks the study's constraints, stopped before training, is no saving of
pruning's). The seconds of those extra epochs are estimated from the completed
attempts' seconds per epoch.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from optuna.trial import FrozenTrial, TrialState

from sweep.trials.record_values import AttemptCompute
from sweep.trials.record_view import TrialRecord
from sweep.trials.retries import chains


def gpu_count(device: str) -> int:
    """GPUs one trial on `device` (a `TrainConfig.device`) occupies: 1 on CUDA (one trial per GPU), 0 on the
    CPU, which has no GPU-seconds; `auto` is CUDA when CUDA is available."""
    return int(device.startswith("cuda") or (device == "auto" and torch.cuda.is_available()))


def run_metrics(attempts: Iterable[AttemptCompute]) -> dict[str, float]:
    """`compute/epochs`, `compute/wall_s`, `compute/gpu_s` of a trial's run: the sums over the attempts of its
    chain (a retry reopens its chain's run)."""
    spent = list(attempts)
    return {
        "compute/epochs": float(sum(a.epochs for a in spent)),
        "compute/wall_s": sum(a.wall_s for a in spent),
        "compute/gpu_s": sum(a.gpu_s for a in spent),
    }


class AttemptClock:
    """Times one attempt from its creation and counts the epochs it trains."""

    def __init__(self) -> None:
        self._started = time.monotonic()
        self._gpus = 0
        self._planned_epochs = 0
        self.epochs = 0

    def planned(self, *, device: str, epochs: int) -> None:
        """The attempt trains up to `epochs` on `device` (before that is known, it counts as none on the CPU)."""
        self._gpus, self._planned_epochs = gpu_count(device), epochs

    def stop(self) -> AttemptCompute:
        wall_s = time.monotonic() - self._started
        return AttemptCompute(self.epochs, wall_s, self._gpus * wall_s, self._planned_epochs)


@dataclass(frozen=True)
class StudyCompute:
    """The study's totals over its own attempts, and the no-pruning study's epochs and estimated seconds
    (None before an attempt completes with an epoch trained: nothing to estimate a second per epoch from)."""

    epochs: int
    wall_s: float
    gpu_s: float
    no_pruning_epochs: int
    no_pruning_wall_s: float | None

    @property
    def epochs_saved(self) -> float:
        """The fraction of the no-pruning study's epochs that pruning spared: 1 - epochs / no-pruning epochs."""
        return 1.0 - self.epochs / self.no_pruning_epochs if self.no_pruning_epochs else 0.0

    def saving_line(self) -> str:
        """`pruning saved X% of epochs (...)`: the line `sweep run` ends with and `sweep status` prints."""
        return (
            f"pruning saved {100 * self.epochs_saved:.1f}% of epochs "
            f"({self.epochs} trained of {self.no_pruning_epochs} without pruning; {self.wall_s:.1f} wall s, "
            f"{self.gpu_s:.1f} GPU-s)"
        )

    def summary(self) -> dict[str, float | int | None]:
        """The totals for `sweep status --json` and the parent run (`epochs_saved` a fraction)."""
        return {**vars(self), "epochs_saved": self.epochs_saved}

    @staticmethod
    def of(trials: Iterable[FrozenTrial]) -> StudyCompute:
        """The totals of the study whose trials are `trials`."""
        epochs, no_pruning_epochs, wall_s, gpu_s = 0, 0, 0.0, 0.0
        completed_epochs, completed_s = 0, 0.0
        for attempts in chains(trials).values():
            spent = [(trial, TrialRecord.of(trial).attempt.compute) for trial in attempts]
            recorded = [figures for _, figures in spent if figures is not None]
            trained = sum(figures.epochs for figures in recorded)
            last = attempts[-1]
            infeasible = TrialRecord.of(last).infeasible is not None
            pruned = last.state == TrialState.PRUNED and not infeasible and bool(recorded)
            epochs += trained
            no_pruning_epochs += max(recorded[-1].planned_epochs, trained) if pruned else trained
            wall_s += sum(figures.wall_s for figures in recorded)
            gpu_s += sum(figures.gpu_s for figures in recorded)
            for trial, figures in spent:
                if figures is not None and trial.state == TrialState.COMPLETE:
                    completed_epochs, completed_s = completed_epochs + figures.epochs, completed_s + figures.wall_s
        estimate = None
        if completed_epochs:
            estimate = wall_s + (no_pruning_epochs - epochs) * completed_s / completed_epochs
        return StudyCompute(epochs, wall_s, gpu_s, no_pruning_epochs, estimate)


def parent_metrics(compute: StudyCompute) -> Mapping[str, float]:
    """The study's totals as metrics of its parent run (`compute/...`)."""
    return {f"compute/{key}": float(value) for key, value in compute.summary().items() if value is not None}
