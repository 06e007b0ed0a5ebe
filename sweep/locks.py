"""An exclusive lock between processes on one host, held on a file beside a local database.

Creating a database's tables is not atomic: two processes that start together on a fresh SQLite file
both see no tables and both try to create them. Whoever holds this lock creates them; the others wait,
then find them in place. The lock is the kernel's (`flock`), so a killed holder releases it at once.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive_file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if missing) for the `with` block; blocks until free."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def init_lock_path(database: Path) -> Path:
    """The lock file guarding the creation of `database`'s tables: `x.db` -> `x.db.init-lock`."""
    return database.with_name(database.name + ".init-lock")
