"""`sweep dashboard`: optuna-dashboard, the live board of Optuna's users, on a study's storage.

optuna-dashboard opens a storage URL as a plain `RDBStorage`: on SQLite that is a 5 s busy timeout and
deferred transactions, and a dashboard opened on a study that is still running has failed that study's
writes with "database is locked" (optuna-dashboard#545). So the board gets the storage the study's workers
use (`sweep.storage.rdb.build_storage`): the file in WAL mode, where the board's reads never block a
worker's write, a long busy timeout and `BEGIN IMMEDIATE`, so a note the board writes queues for the lock
like any worker's write instead of failing one. It is bound to 127.0.0.1: the board can change the study
(notes, trial states), so it is not offered to the network.
"""

from __future__ import annotations

import importlib

from sweep.errors import MissingExtraError
from sweep.spec.study_file import StudySpec
from sweep.storage.lookup import load_existing_study
from sweep.storage.rdb import build_storage

HOST = "127.0.0.1"
INSTALL_EXTRA = "pip install 'segsweep[dashboard]'"


def serve_dashboard(spec: StudySpec, *, port: int) -> None:
    """Serve optuna-dashboard on http://127.0.0.1:PORT for the storage of `spec`'s study, which must exist;
    blocks until the process is stopped. Raises `MissingExtraError` without optuna-dashboard."""
    try:
        dashboard = importlib.import_module("optuna_dashboard")
    except ImportError:
        raise MissingExtraError(f"sweep dashboard needs optuna-dashboard: {INSTALL_EXTRA}") from None
    load_existing_study(spec)  # a study never run is an error, not an empty board
    dashboard.run_server(build_storage(spec.storage_url), host=HOST, port=port)
