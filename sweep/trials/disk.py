"""Disk hygiene: which local checkpoint folders outlive their trial, and how much disk a study's folders use.

A trial's folder (`<artifacts_dir>/<namespace>/trial-<N>`) holds at most `last.pt` and `best.pt`. It is
removed by an Optuna callback, which runs only after the trial's state is stored, for the trials this
process ran to an end:
- COMPLETE: its `best.pt` is already logged to MLflow as `checkpoint/best.pt` (with the overlays drawn
  from it), so the folder goes unless the study sets `keep_checkpoints: all`;
- PRUNED, or FAIL for good (its record's `attempt.failed_for_good`): no retry will come.

A FAIL with a retry queued (an error a retry may cure, or a signal) keeps its folder, which the retry
resumes from; so does the trial of a worker that dies and never reaches the callback.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.trials.record_view import TrialRecord
from sweep.trials.retries import ChainState, chain_state, chains

KeepCheckpoints = Literal["best_in_mlflow", "all"]
_UNITS = ("B", "KB", "MB", "GB", "TB")


class CheckpointCleaner:
    """`study.optimize` callback: removes the local folder of a trial that ended for good."""

    def __init__(self, keep: KeepCheckpoints) -> None:
        self.keep = keep

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        record = TrialRecord.of(trial)
        folder = record.checkpoint_dir
        if folder is None:  # a surplus trial never got one
            return
        if trial.state == TrialState.COMPLETE and self.keep == "all":
            return
        failed_for_good = trial.state == TrialState.FAIL and record.attempt.failed_for_good is not None
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or failed_for_good:
            shutil.rmtree(folder, ignore_errors=True)


def remove_failed_chain_folders(study: optuna.Study, max_retries: int) -> list[str]:
    """Remove the folders of trials that failed for good without reaching `CheckpointCleaner`: a worker
    that died on the chain's last allowed attempt. Run when the study ends; returns the folders removed."""
    removed = []
    for attempts in chains(study.get_trials(deepcopy=False)).values():
        folder = TrialRecord.of(attempts[-1]).checkpoint_dir
        if folder is not None and chain_state(attempts, max_retries) == ChainState.FAILED and folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


def disk_used(folder: Path) -> int:
    """Bytes of the regular files under `folder` (0 when it does not exist); links are not followed."""
    if not folder.is_dir():
        return 0
    return sum(path.lstat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def human_size(size: int) -> str:
    """`1536` -> `1.5 KB` (powers of 1024, one decimal above bytes)."""
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
