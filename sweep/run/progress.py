"""Live progress of a sweep: trial i/N, epoch e/E, loss, val mIoU, best so far and ETA.

`SweepProgress` prints one line per epoch and per trial (`--quiet`, and whenever stderr is not a
terminal); `LiveSweepProgress` adds a live bar for the running epoch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sweep.run.eta import StudyEta
from trainer.listener import TrainingListener

if TYPE_CHECKING:
    from trainer.model_cost import ModelCost


RESULT_STATES = ("COMPLETE", "PRUNED", "INFEASIBLE")
"""How a trial ends with a result; any other end (INTERRUPTED, FAIL) leaves its place to a retry."""


class SweepProgress(TrainingListener):
    """Plain progress lines on stderr; also the `TrainingListener` handed to each trial's training."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.total = 0
        self.finished_before = 0
        self.finished_now = 0
        self.eta = StudyEta()
        self.best = -math.inf
        self.trial_number = -1
        self.epochs = 0

    def training_listener(self) -> TrainingListener:
        return self

    def already_complete(self, n_trials: int, done: int) -> None:
        if done >= n_trials:
            self.console.print(f"study already has {done} finished trials of {n_trials}: nothing to run")
        else:
            self.console.print(
                f"all {n_trials} trials are taken ({done} finished, the rest running elsewhere): nothing to run"
            )

    def study_start(self, name: str, n_trials: int, done: int, best: float | None = None) -> None:
        self.total, self.finished_before = n_trials, done
        self.eta.study_start(n_trials - done)
        self.best = -math.inf if best is None else best
        self.console.print(f"study {name}: {done}/{n_trials} trials finished, running the rest")

    def trial_start(self, number: int, params: Mapping[str, Any], epochs: int, retry_of: int | None = None) -> None:
        """Trial `number` starts; `retry_of` is the first attempt it continues (None for a new trial)."""
        self.trial_number, self.epochs = number, epochs
        self.eta.trial_start(0, epochs)
        shown = ", ".join(f"{key}={_short(value)}" for key, value in params.items())
        retry = "" if retry_of is None else f", retry of #{retry_of}"
        self.console.print(f"trial {self._position()}/{self.total} (#{number}{retry}) {shown}")

    def on_resume(self, epoch: int, checkpoint: Path) -> None:
        self.eta.trial_resumed(0, epoch)
        self.console.print(f"  trial #{self.trial_number} resumes after epoch {epoch} from {checkpoint}")

    def on_checkpoint_discarded(self, path: Path, reason: str) -> None:
        self.console.print(f"  trial #{self.trial_number} warning: {reason}; it starts over from epoch 1")

    def model_cost(self, cost: ModelCost) -> None:
        """The running trial's network, measured before it trains (`sweep.spec.constraints`)."""
        self.console.print(model_cost_text(self.trial_number, cost))

    def epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.eta.epoch_end(0, epoch)
        self.console.print(
            f"  trial #{self.trial_number} epoch {epoch}/{self.epochs}  loss {metrics['train/loss']:.4f}  "
            f"val mIoU {metrics['val/miou']:.4f}  best {self._best_text()}  ETA {self.eta.text()}"
        )

    def trial_end(self, number: int, state: str, value: float | None, note: str = "") -> None:
        """The trial ended in `state` (an Optuna state, or INTERRUPTED); `note` says why and what comes next.

        Only results (COMPLETE, PRUNED, INFEASIBLE) advance the count: a retry runs in the place of the attempt
        it retries."""
        result = state in RESULT_STATES
        self.finished_now += result
        self.eta.trial_end(0, result=result)
        if value is not None:
            self.best = max(self.best, value)
        shown = f" val mIoU {value:.4f}" if value is not None else ""
        said = f": {note}" if note else ""
        self.console.print(f"trial #{number} {state}{shown}{said}  best {self._best_text()}  ETA {self.eta.text()}")

    def _position(self) -> int:
        return self.finished_before + self.finished_now + 1

    def _best_text(self) -> str:
        return "-" if self.best == -math.inf else f"{self.best:.4f}"


def model_cost_text(number: int, cost: ModelCost) -> str:
    """`  trial #3 network: 11.73 M params, 0.767 GFLOPs at 64², 210.8 ms per 513² image on cpu`."""
    return (
        f"  trial #{number} network: {cost.params_m:.2f} M params, {cost.gflops:.3g} GFLOPs at {cost.crop_size}², "
        f"{cost.latency_ms:.1f} ms per {cost.latency_image_size}² image on {cost.device}"
    )


class LiveSweepProgress(SweepProgress):
    """`SweepProgress` plus a live bar over the running epoch's iterations (for terminals)."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__(console)
        self.bar = Progress(
            TextColumn("trial {task.fields[trial]} epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task: Any = None

    def on_train_start(self, epochs: int, iterations_per_epoch: int, start_epoch: int) -> None:
        self.bar.start()
        self.task = self.bar.add_task(
            "epoch",
            total=iterations_per_epoch,
            trial=f"{self._position()}/{self.total}",
            epoch=f"{start_epoch + 1}/{epochs}",
            loss=math.nan,
        )

    def on_iteration(self, epoch: int, iteration: int, loss: float, lr: float) -> None:
        if self.task is not None:
            self.bar.update(self.task, completed=iteration, epoch=f"{epoch}/{self.epochs}", loss=loss)

    def on_train_end(self) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None
        self.bar.stop()


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
