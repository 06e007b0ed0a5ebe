"""Writing a file or a whole folder so that readers see the old version or the new one, never half of it.

It lives in `trainer.data`, the lowest layer, so that both the data code (SBD masks, statistics caches,
generated data sets) and the checkpoints can use it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path: Path, *, durable: bool = False) -> Iterator[Path]:
    """Yield a private temporary path beside `path`; when the block ends normally, rename it onto `path`.

    The block writes a file (or builds a folder) at the yielded path. If the block, the fsync or the rename
    fails, the temporary copy is removed and that error propagates: an `OSError` for a full disk or a folder
    that cannot be written (creating `path`'s folder raises one too). A file replaces an existing `path`; a
    folder cannot replace a non-empty folder, so the rename raises `OSError` when another process got there
    first. With `durable`, the file and the rename are fsynced, so a power cut leaves the old file or the
    new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # pid and a random part: concurrent writers, in processes or threads, never share a temporary path.
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield temporary
        if durable:
            _fsync(temporary)
        os.replace(temporary, path)
    except BaseException:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            # A failed removal must not replace the error that says why the write failed.
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
        raise
    if durable:
        _fsync(path.parent, best_effort=True)


def _fsync(path: Path, *, best_effort: bool = False) -> None:
    """fsync `path`; with `best_effort`, a platform that cannot open it (a folder on Windows) is fine."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        if best_effort:
            return
        raise
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
