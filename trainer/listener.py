"""Hooks through which a caller watches training progress without touching the loop."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


class TrainingListener:
    """Receives progress events from `trainer.train`; every hook is a no-op here.

    Subclasses draw progress bars or log lines. They must not raise: to stop training, raise from the
    `report` callback instead, which runs after the epoch's checkpoint is safely written.
    """

    def on_resume(self, epoch: int, checkpoint: Path) -> None:
        """Training continues after `epoch`, read from `checkpoint`."""

    def on_checkpoint_discarded(self, path: Path, reason: str) -> None:
        """`path` (a `last.pt`) held no readable checkpoint; it and its `best.pt` were deleted.

        Training starts over from epoch 1. `reason` is the error that names the file and what is wrong with
        it. The caller should record a warning: the epochs that file held are lost and will run again.
        """

    def on_train_start(self, epochs: int, iterations_per_epoch: int, start_epoch: int) -> None:
        """Called once; `start_epoch` epochs are already done (0 for a fresh run)."""

    def on_iteration(self, epoch: int, iteration: int, loss: float, lr: float) -> None:
        """Called after every optimisation step; `iteration` is 1-based within the epoch."""

    def on_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Called after evaluation and checkpointing of `epoch`."""

    def on_train_end(self) -> None:
        """Called once when the loop ends, normally or by an exception (which then propagates)."""
