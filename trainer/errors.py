"""Exceptions raised by the trainer library.

Every expected failure (bad config, bad data, a failed download, a diverged run) has its own class so the
CLIs can print one clear line and exit with the right code, and so callers such as the sweep layer can
catch exactly what they can handle.
"""

from __future__ import annotations

from pathlib import Path


class TrainerError(Exception):
    """Base class of every expected error in the trainer library."""

    exit_code: int = 1


class ConfigError(TrainerError):
    """A configuration key holds a value that cannot be used.

    `key` is the dotted path of the offending key (``"optim.lr"``), or ``""`` for the whole document.
    """

    exit_code = 2

    def __init__(self, key: str, message: str, *, source: str | Path | None = None) -> None:
        self.key = key
        self.message = message
        self.source = str(source) if source is not None else None
        where = f"{self.source}: " if self.source else ""
        at = f"{key}: " if key else ""
        super().__init__(f"{where}{at}{message}")


class DatasetError(TrainerError):
    """The data on disk is missing or malformed; `path` names the file or folder at fault."""

    exit_code = 1

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = Path(path)
        self.message = message
        super().__init__(f"{path}: {message}")

    def __reduce__(self) -> tuple[type[DatasetError], tuple[Path, str]]:
        # Pickled with both arguments, so that it crosses from a DataLoader worker to the training process.
        return (type(self), (self.path, self.message))


class DownloadError(TrainerError):
    """A download failed on every mirror, or its checksum did not match."""


class WeightsError(TrainerError):
    """Pretrained weights could not be found, downloaded or loaded."""


class CheckpointError(TrainerError):
    """A checkpoint file is missing, unreadable or does not match the model."""


class CorruptCheckpointError(CheckpointError):
    """The file exists and was read, but holds no trainer checkpoint: truncated, garbage, or another program's.

    Unlike its base class, this says the content itself is bad (not the disk, the permissions or the
    configuration), so a resume may discard the file and start over.
    """


class DivergedError(TrainerError):
    """The training loss became NaN or infinite; `epoch` and `iteration` say where."""

    def __init__(self, epoch: int, iteration: int, loss: float) -> None:
        self.epoch = epoch
        self.iteration = iteration
        self.loss = loss
        super().__init__(
            f"loss diverged to {loss} at epoch {epoch}, iteration {iteration}; "
            "lower optim.lr, enable optim.grad_clip_norm, or check the data"
        )
