"""The Optuna storage: opening it (SQLite hardened for many processes, or a server database), keeping
calls alive through a database restart, looking a study up without creating anything, and the preflight
that asks each service one cheap question before a study starts.

May import: `sweep.tracking` (the preflight asks the MLflow server), `sweep.trials`, `sweep.spec` and the
base modules.
"""

from sweep.storage.rdb import build_storage

__all__ = ["build_storage"]
