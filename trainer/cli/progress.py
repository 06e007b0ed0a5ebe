"""Rich progress bars: `trainer train` (epoch, iteration, loss, lr, ETA) and `trainer data download` (bytes)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from trainer.data.download import ProgressCallback
from trainer.listener import TrainingListener


@contextmanager
def download_progress(description: str, *, show: bool = True) -> Iterator[ProgressCallback]:
    """A `progress(done, total)` callback that draws a byte bar on stderr (only on a terminal, and if `show`)."""
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not (show and console.is_terminal)) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        yield update


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
        self.task: TaskID | None = None
        self.epochs = 0
        self.iterations_per_epoch = 0

    def on_resume(self, epoch: int, checkpoint: Path) -> None:
        self.console.print(f"resuming after epoch {epoch} from {checkpoint}")

    def on_checkpoint_discarded(self, path: Path, reason: str) -> None:
        self.console.print(f"[yellow]warning:[/] {reason}; training starts over from epoch 1", highlight=False)

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
