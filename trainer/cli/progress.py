"""A rich progress bar for `trainer train`: epoch, iteration, loss, lr and ETA."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from trainer.listener import TrainingListener


class RichTrainingProgress(TrainingListener):
    """Draws one bar over all remaining iterations and prints a line per finished epoch (to stderr)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  lr {task.fields[lr]:.2e}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task = None
        self.epochs = 0
        self.iterations_per_epoch = 0

    def on_resume(self, epoch: int, checkpoint: Path) -> None:
        self.console.print(f"resuming after epoch {epoch} from {checkpoint}")

    def on_train_start(self, epochs: int, iterations_per_epoch: int, start_epoch: int) -> None:
        self.epochs, self.iterations_per_epoch = epochs, iterations_per_epoch
        remaining = (epochs - start_epoch) * iterations_per_epoch
        self.progress.start()
        self.task = self.progress.add_task(
            "train", total=remaining, epoch=start_epoch + 1, epochs=epochs, loss=float("nan"), lr=0.0
        )

    def on_iteration(self, epoch: int, iteration: int, loss: float, lr: float) -> None:
        if self.task is not None:
            self.progress.update(self.task, advance=1, epoch=epoch, loss=loss, lr=lr)

    def on_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.progress.console.print(
            f"epoch {epoch}/{self.epochs}  train loss {metrics['train/loss']:.4f}  "
            f"val mIoU {metrics['val/miou']:.4f}  pixel acc {metrics['val/pixel_accuracy']:.4f}"
        )

    def on_train_end(self) -> None:
        self.progress.stop()
