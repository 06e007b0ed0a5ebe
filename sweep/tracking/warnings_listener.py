"""A training listener that also tags a trial's MLflow run with what training warned about."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sweep.tracking.trial_run import TrialRun
from trainer.listener import TrainingListener


class WarningsOnRun(TrainingListener):
    """The progress display's listener, plus a warning tag on the trial's run when training discards an
    unreadable `last.pt` and starts over (the epochs it had logged are then trained and logged again)."""

    def __init__(self, display: TrainingListener, run: TrialRun) -> None:
        self.display = display
        self.run = run

    def on_checkpoint_discarded(self, path: Path, reason: str) -> None:
        self.run.set_tags({"warning.checkpoint": f"{reason}; training started over from epoch 1"[:5000]})
        self.display.on_checkpoint_discarded(path, reason)

    def on_resume(self, epoch: int, checkpoint: Path) -> None:
        self.display.on_resume(epoch, checkpoint)

    def on_train_start(self, epochs: int, iterations_per_epoch: int, start_epoch: int) -> None:
        self.display.on_train_start(epochs, iterations_per_epoch, start_epoch)

    def on_iteration(self, epoch: int, iteration: int, loss: float, lr: float) -> None:
        self.display.on_iteration(epoch, iteration, loss, lr)

    def on_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.display.on_epoch_end(epoch, metrics)

    def on_train_end(self) -> None:
        self.display.on_train_end()
