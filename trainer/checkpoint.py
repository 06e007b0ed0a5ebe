"""Atomic checkpoint files and the random-number state that makes a resume exact.

A checkpoint is a plain dict of tensors and Python scalars, written to a temporary file in the same
folder, flushed to disk and then renamed over the old one, so a crash (even `kill -9`) leaves either the
previous checkpoint or the new one, never half of one. Files load with `weights_only=True`: reading a
checkpoint never runs code.

Layout of a training checkpoint (`last.pt`): `format`, `epoch` (last finished epoch, 1-based), `model`,
`optimizer`, `scheduler`, `scaler`, `best_miou`, `best_epoch`, `epochs_without_improvement`, `history`,
`config` (the `TrainConfig` as a dict) and `rng`. `best.pt` holds `format`, `epoch`, `model`, `config`
and `metrics` only: what inference and the model registry need.

Failures are `CheckpointError`s that name the file and the fix: a folder that cannot be written, a full
disk (the temporary file is removed, the previous checkpoint is untouched). A file whose content is no
checkpoint raises the subclass `CorruptCheckpointError`, which a resume may answer by starting over.
"""

from __future__ import annotations

import errno
import io
import random
import textwrap
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from trainer.data.atomic import atomic_write
from trainer.errors import CheckpointError, CorruptCheckpointError

FORMAT_VERSION = 1
LAST_NAME = "last.pt"
BEST_NAME = "best.pt"


# errno values of a failed write, by the fix they call for.
_NO_SPACE = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded"}
_IN_THE_WAY = (errno.EEXIST, errno.ENOTDIR, errno.EISDIR)
_NO_PERMISSION = (errno.EACCES, errno.EPERM, errno.EROFS)


def save_checkpoint(state: dict[str, Any], path: Path) -> Path:
    """Write `state` to `path` atomically and durably, creating the folder; returns `path`.

    Raises `CheckpointError` naming `path` and the fix when the folder cannot be created or written or the
    disk is full. Nothing is left behind then: no temporary file, and an existing `path` is unchanged.
    """
    try:
        with atomic_write(path, durable=True) as temporary:
            _torch_save({"format": FORMAT_VERSION, **state}, temporary)
    except OSError as error:
        raise _write_error(path, error) from error
    return path


def delete_checkpoint(path: Path) -> None:
    """Remove `path` if it is there; raises `CheckpointError` naming it when the folder forbids that."""
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be deleted ({error}); check the folder's permissions") from error


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint without unpickling code.

    Raises `CorruptCheckpointError` when the file was read but holds no trainer checkpoint (truncated,
    garbage, another program's file), and `CheckpointError` when it is missing, cannot be read, or has
    another format version. Both name the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint file there; check the path or train first")
    try:
        with path.open("rb") as file:
            state = torch.load(file, map_location=map_location, weights_only=True)
    except OSError as error:  # the disk or the permissions, not the content: the file may be fine
        raise CheckpointError(f"{path}: cannot be read ({error}); check the file and its disk") from error
    except Exception as error:  # torch raises many types for truncated or foreign files
        raise CorruptCheckpointError(
            f"{path}: not a readable checkpoint ({_summary(error)}); it is truncated, damaged or another program's file"
        ) from error
    if not isinstance(state, dict) or "format" not in state or "model" not in state:
        raise CorruptCheckpointError(f"{path}: not a trainer checkpoint (it has no format and model entries)")
    if state["format"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {state['format']!r}, but this trainer reads format {FORMAT_VERSION}; "
            "use the trainer version that wrote it"
        )
    return state


def capture_rng_state() -> dict[str, Any]:
    """The state of every random generator training draws from (Python, NumPy, torch CPU and CUDA)."""
    # legacy=True always gives the tuple (name, keys, position, has_gauss, cached_gaussian).
    numpy_state = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state(legacy=True))
    state: dict[str, Any] = {
        "python": _to_plain(random.getstate()),
        "numpy": [numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Undo `capture_rng_state`; CUDA states are restored only where CUDA is present."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _to_plain(value: Any) -> Any:
    """Tuples become lists so the state loads under `weights_only=True` on every torch version."""
    if isinstance(value, tuple):
        return [_to_plain(item) for item in value]
    return value


def _torch_save(state: dict[str, Any], path: Path) -> None:
    """`torch.save` into a new file at `path`; a write that fails raises its `OSError` (errno intact)."""
    with _WriteErrorKeepingFile(io.FileIO(path, "wb")) as file:
        try:
            torch.save(state, file)
        except RuntimeError:
            if file.error is None:
                raise
            raise file.error from None


class _WriteErrorKeepingFile(io.BufferedWriter):
    """A buffered file that keeps the first `OSError` of a write in `error`.

    torch's zip writer turns a failed write into `RuntimeError("... unexpected pos ...")`, which hides the
    errno; `save_checkpoint` raises the kept error instead, so a full disk is reported as one.
    """

    error: OSError | None = None

    def write(self, buffer: Any, /) -> int:
        try:
            return super().write(buffer)
        except OSError as error:
            self.error = self.error or error
            raise


def _summary(error: Exception) -> str:
    """The type and the first line of `error`, shortened: torch's messages run to many lines of advice."""
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {textwrap.shorten(lines[0], 100)}" if lines else type(error).__name__


def _write_error(path: Path, error: OSError) -> CheckpointError:
    """The `CheckpointError` for `error`, met while writing `path`: what went wrong and how to fix it."""
    folder = path.parent
    if error.errno in _NO_SPACE:
        problem = f"{_NO_SPACE[error.errno]} ({error}); free space or point checkpoint.dir at another disk"
    elif error.errno in _IN_THE_WAY:
        problem = (
            f"{folder} is not a writable folder: a file or folder is in the way ({error}); "
            "move it, or point checkpoint.dir at another folder"
        )
    elif error.errno in _NO_PERMISSION:
        problem = f"{folder} is not writable ({error}); fix its permissions or point checkpoint.dir at another folder"
    else:
        problem = f"{error}; check the disk, or point checkpoint.dir at another folder"
    return CheckpointError(f"{path}: cannot save the checkpoint: {problem}")
