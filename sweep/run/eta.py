"""How long the rest of a study will take, from the epochs trained so far and the epochs still to train.

One estimate serves the single-process progress lines (`sweep.run.progress`) and the `--workers` board
(`sweep.parallel.board`). It counts in epochs, not trials, so it moves smoothly through a trial instead of
growing until the trial ends, and it has a figure after the first epoch rather than after the first trial
(optimistic only in that it assumes the epochs still to come cost what the past ones did):

    seconds per epoch = wall time of this invocation / epochs trained in it (all workers together)
    epochs left       = the running trials' remaining epochs
                        + trials not started yet x the epochs a trial is expected to train

A trial is expected to train its planned epochs until trials have ended; from then on, the epochs the ended
trials trained per planned epoch, so the pruner's savings (and an infeasible trial's zero) are counted once
they are known. A retry's resumed epochs count as epochs left, like any running trial's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Running:
    epoch: int
    epochs: int


class StudyEta:
    """The ETA of one `sweep run` invocation; `clock` is `time.monotonic` unless a test gives another."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._left_to_start = 0
        self._running: dict[int, _Running] = {}
        self._epochs_trained = 0
        self._ended_trained = 0
        self._ended_planned = 0
        self._planned = 0  # the latest trial's planned epochs: what a trial not started yet would plan

    def study_start(self, trials_left: int) -> None:
        """The study has `trials_left` trials to run, none of them started by this invocation yet."""
        self._started, self._left_to_start = self._clock(), max(trials_left, 0)
        self._running.clear()

    def trial_start(self, slot: int, epochs: int) -> None:
        """A trial of `epochs` planned epochs starts in `slot` (a worker index, 0 for a single process); a
        retry takes the place its failed or interrupted attempt gave back."""
        self._left_to_start = max(self._left_to_start - 1, 0)
        self._running[slot] = _Running(0, epochs)
        self._planned = epochs

    def trial_resumed(self, slot: int, epoch: int) -> None:
        """The trial in `slot` resumed after `epoch` from its checkpoint: those epochs are not left."""
        if slot in self._running:
            self._running[slot].epoch = epoch

    def epoch_end(self, slot: int, epoch: int) -> None:
        """The trial in `slot` finished `epoch` (1-based)."""
        running = self._running.get(slot)
        if running is not None:
            self._epochs_trained += max(epoch - running.epoch, 0)
            running.epoch = epoch

    def trial_end(self, slot: int, *, result: bool) -> None:
        """The trial in `slot` ended; `result` says it has one (COMPLETE, PRUNED, INFEASIBLE). An attempt that
        ends without one (interrupted, or failed with a retry to come) gives back its place."""
        running = self._running.pop(slot, None)
        if running is None:
            return
        if result:
            self._ended_trained += running.epoch
            self._ended_planned += running.epochs
        else:
            self._left_to_start += 1

    def seconds_left(self) -> float | None:
        """The estimate, or None before this invocation has trained an epoch."""
        if self._epochs_trained == 0:
            return None
        per_epoch = (self._clock() - self._started) / self._epochs_trained
        running_left = sum(max(trial.epochs - trial.epoch, 0) for trial in self._running.values())
        return per_epoch * (running_left + self._left_to_start * self._expected_epochs())

    def text(self) -> str:
        """`HH:MM:SS`, `?` before the first epoch, or `-` once nothing is left."""
        seconds = self.seconds_left()
        if seconds is None:
            return "-" if not self._running and self._left_to_start == 0 else "?"
        return time.strftime("%H:%M:%S", time.gmtime(seconds))

    def _expected_epochs(self) -> float:
        if self._ended_planned == 0:
            return float(self._planned)
        return self._planned * self._ended_trained / self._ended_planned
