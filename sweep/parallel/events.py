"""The progress events a worker of `sweep run --workers` sends the process that started it.

One JSON object per line on a pipe of its own (the worker's stdout and stderr stay free for warnings and
errors, which the parent relays): `{"event": "epoch_end", "epoch": 1, "metrics": {...}}`. The parent
draws every worker's events in one view (`sweep.parallel.board`).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console

from sweep.run.progress import SweepProgress, model_cost_text

if TYPE_CHECKING:
    from trainer.model_cost import ModelCost

ITERATION_INTERVAL_S = 0.5
"""Iteration events are sent at most this often: the parent only redraws a bar."""


class EventProgress(SweepProgress):
    """A worker's progress: each event is written as a JSON line to `stream` instead of being printed.

    Should the parent die, the pipe breaks: the worker then stops as on Ctrl-C (its trial is recorded
    FAILED) rather than running on unseen.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(Console(stderr=True, highlight=False))
        self.stream = stream
        self._last_iteration = 0.0
        self._parent_gone = False

    def send(self, event: str, **fields: Any) -> None:
        if self._parent_gone:
            return
        try:
            self.stream.write(json.dumps({"event": event, **fields}) + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):  # ValueError: the stream was closed
            self._parent_gone = True
            signal.raise_signal(signal.SIGINT)

    def already_complete(self, n_trials: int, done: int) -> None:
        self.send("already_complete", n_trials=n_trials, done=done)

    def study_start(self, name: str, n_trials: int, done: int, best: float | None = None) -> None:
        self.send("study_start", name=name, n_trials=n_trials, done=done, best=best)

    def trial_start(self, number: int, params: Mapping[str, Any], epochs: int, retry_of: int | None = None) -> None:
        self.trial_number, self.epochs = number, epochs
        plain = {key: _plain(value) for key, value in params.items()}
        self.send("trial_start", number=number, params=plain, epochs=epochs, retry_of=retry_of)

    def on_resume(self, epoch: int, checkpoint: Path) -> None:
        self.send("resume", number=self.trial_number, epoch=epoch, checkpoint=str(checkpoint))

    def on_train_start(self, epochs: int, iterations_per_epoch: int, start_epoch: int) -> None:
        self.send("train_start", epochs=epochs, iterations=iterations_per_epoch, start_epoch=start_epoch)

    def on_iteration(self, epoch: int, iteration: int, loss: float, lr: float) -> None:
        now = time.monotonic()
        if now - self._last_iteration >= ITERATION_INTERVAL_S:
            self._last_iteration = now
            self.send("iteration", epoch=epoch, iteration=iteration, loss=loss)

    def model_cost(self, cost: ModelCost) -> None:
        self.send("model_cost", text=model_cost_text(self.trial_number, cost))

    def epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.send("epoch_end", number=self.trial_number, epoch=epoch, metrics=dict(metrics))

    def trial_end(self, number: int, state: str, value: float | None, note: str = "") -> None:
        self.send("trial_end", number=number, state=state, value=value, note=note)

    def finished(self, ran: int) -> None:
        """The worker's loop ended normally after running `ran` trials."""
        self.send("done", ran=ran)


def decode(line: str) -> dict[str, Any] | None:
    """One event from a line of the pipe; None for a line that is not one (never expected)."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)
