"""Whether loader worker processes can hand their batches back through the temp folder.

On Linux, torch's loader workers pass each batch's shared memory to the training process as a file
descriptor (the `file_descriptor` sharing strategy), over a Unix socket that `multiprocessing` opens at
``<temp folder>/pymp-XXXXXXXX/listener-XXXXXXXX``. A socket path longer than the kernel takes fails in a
background thread of the worker: the batch is lost and the training process waits for it forever, silently
(Python before 3.14 does not fall back to a shorter folder). A long `TMPDIR` is enough for it, e.g. one
inside a test's or a job scheduler's scratch folder; `check_worker_sockets` turns that hang into an error.
"""

from __future__ import annotations

import multiprocessing.util
import os
import sys

import torch.multiprocessing

from trainer.errors import TrainerError

UNIX_SOCKET_PATH_MAX = 107
"""The longest Unix socket path Linux takes (`sun_path` holds 108 bytes, the last of them NUL)."""
LISTENER_NAME = "listener-XXXXXXXX"
"""The name `multiprocessing.connection.arbitrary_address` gives a socket: a prefix and 8 random characters."""


class TempDirError(TrainerError):
    """The temp folder cannot hold what the training needs there (exit code 1)."""


def worker_socket_path() -> str:
    """The longest socket path `multiprocessing` would open in this process's temp folder (it creates the
    `pymp-` folder, as the first loader worker would)."""
    return os.path.join(multiprocessing.util.get_temp_dir(), LISTENER_NAME)


def check_worker_sockets(num_workers: int) -> None:
    """Raise `TempDirError`, naming the folder and the fix, when `num_workers` loader processes could not
    send their batches over a Unix socket under the temp folder; nothing to check without workers, off
    Linux, or with the `file_system` sharing strategy, which needs no socket."""
    if num_workers == 0 or not sys.platform.startswith("linux"):
        return
    if torch.multiprocessing.get_sharing_strategy() != "file_descriptor":  # type: ignore[no-untyped-call]
        return
    path = worker_socket_path()
    if len(path) > UNIX_SOCKET_PATH_MAX:
        raise TempDirError(
            f"{os.path.dirname(path)}: loader workers cannot send batches from this temp folder: their socket "
            f"path is {len(path)} characters, over the {UNIX_SOCKET_PATH_MAX} Linux takes; set TMPDIR to a "
            "shorter folder (e.g. /tmp), or data.num_workers to 0"
        )
