"""Disk hygiene: sizes, and the local checkpoint folders that go when their trial ends.

MLflow checkpoints outside the top k, and what whole studies leave on disk, are in
`tests/e2e/test_sweep_disk_studies.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from sweep.trials.disk import CheckpointCleaner, disk_used, human_size
from sweep.trials.record import FAILED_FOR_GOOD_ATTR


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KB"), (894 * 1024**2, "894.0 MB"), (3 * 1024**5, "3072.0 TB")],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_disk_used_counts_the_files_below_a_folder(tmp_path: Path) -> None:
    assert disk_used(tmp_path / "missing") == 0
    (tmp_path / "trial-0").mkdir()
    (tmp_path / "trial-0" / "last.pt").write_bytes(b"x" * 1000)
    (tmp_path / "best.pt").write_bytes(b"x" * 24)
    assert disk_used(tmp_path) == 1024


@pytest.mark.parametrize(
    ("state", "keep", "removed"),
    [
        (TrialState.COMPLETE, "best_in_mlflow", True),
        (TrialState.COMPLETE, "all", False),
        (TrialState.PRUNED, "all", True),
        (TrialState.FAIL, "all", True),  # failed for good
        (None, "all", False),  # FAIL with a retry queued, which resumes from the folder
    ],
)
def test_the_cleaner_removes_the_folder_of_a_trial_that_ended_for_good(
    tmp_path: Path, state: TrialState | None, keep: Any, removed: bool
) -> None:
    folder = tmp_path / "trial-0"
    folder.mkdir()
    (folder / "last.pt").write_bytes(b"state")
    user_attrs = {"checkpoint_dir": str(folder)}
    if state == TrialState.FAIL:
        user_attrs[FAILED_FOR_GOOD_ATTR] = "failed for good: the same params would fail again"
    trial = create_trial(
        state=state or TrialState.FAIL,
        value=0.5 if state == TrialState.COMPLETE else None,
        intermediate_values={1: 0.5},
        user_attrs=user_attrs,
    )
    CheckpointCleaner(keep)(optuna.create_study(), trial)
    assert folder.exists() is not removed
