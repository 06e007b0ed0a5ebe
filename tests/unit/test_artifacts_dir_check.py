"""Before the first trial, `sweep run` asks whether trials can make their checkpoint folders; it creates none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sweep.trials.folders import check_artifacts_dir
from trainer.errors import CheckpointError


def test_a_folder_still_to_make_under_a_writable_one_passes_and_nothing_is_made(tmp_path: Path) -> None:
    check_artifacts_dir(tmp_path / "runs" / "probe" / "trials")
    assert list(tmp_path.iterdir()) == []


def test_a_relative_folder_is_asked_of_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    check_artifacts_dir(Path("runs/probe/trials"))
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(CheckpointError) as raised:
        check_artifacts_dir(tmp_path / "runs" / "probe" / "trials")
    assert str(raised.value) == (
        f"study.artifacts_dir {tmp_path}/runs/probe/trials: {tmp_path}/runs is in the way, not a folder; "
        "move it, or point study.artifacts_dir at a folder this user can write"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a folder whatever its permission bits say")
def test_a_folder_without_write_permission_is_named(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(
        CheckpointError,
        match=rf"study\.artifacts_dir {locked}/trials: trials cannot write in "
        rf"{locked} \(Permission denied\); fix its permissions",
    ):
        check_artifacts_dir(locked / "trials")
