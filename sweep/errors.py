"""Exceptions raised by the sweep layer.

Each expected failure has its own class; the `sweep` CLI prints any `SweepError` as one `error: ...` line
and exits with its `exit_code`.
"""

from __future__ import annotations


class SweepError(Exception):
    """Base class of every expected error in the sweep layer."""

    exit_code: int = 1


class StorageError(SweepError):
    """The Optuna storage cannot be opened: a missing database driver, say."""


class StudyNotFoundError(SweepError):
    """`sweep status`, `best` or `promote` asked for a study that has not been run."""


class NothingToPromoteError(SweepError):
    """The study has no completed trial, or its best trial has no MLflow run to take the model from."""


class NothingToConfirmError(SweepError):
    """`sweep confirm`: the study has no completed feasible trial of its own to train again."""


class OverBudgetError(NothingToPromoteError):
    """`sweep promote --max-...`: no completed trial of the study keeps the budget on its network's cost."""


class GateMismatchError(SweepError):
    """`sweep promote`: the candidate's checkpoint no longer evaluates to the val mIoU its study recorded."""


class StudyGaveUpError(SweepError):
    """As many trials failed for good as `study.max_failed_trials` allows, so the study started no more."""


class TrackingError(SweepError):
    """The MLflow tracking store cannot be opened: a server that does not answer, a database that fails."""


class WorkerError(SweepError):
    """A worker process of `sweep run --workers` failed (its own error is in the output above)."""


class MissingExtraError(SweepError):
    """A command needs an optional dependency that is not installed (`pip install 'segsweep[EXTRA]'`).

    Exit 2, as for a usage error: nothing ran, and the fix is in the installation, not in the study."""

    exit_code = 2
