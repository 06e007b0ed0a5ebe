"""Checkpoint writes that fail in the process itself: a file or folder in the way, and a failed fsync.

A full disk (a real, small tmpfs) and corrupt checkpoints met on resume are in `tests/e2e/test_checkpoint_faults.py`.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from helpers import files_under, tiny_config

from trainer import train
from trainer.checkpoint import BEST_NAME, LAST_NAME, save_checkpoint
from trainer.errors import CheckpointError


@pytest.mark.parametrize(
    ("make_blocker", "checkpoint_dir", "failing"),
    [
        pytest.param(lambda base: (base / "ckpt").write_text("x"), "ckpt", BEST_NAME, id="dir-is-a-file"),
        pytest.param(lambda base: (base / "ckpt").write_text("x"), "ckpt/run", BEST_NAME, id="parent-is-a-file"),
        pytest.param(
            lambda base: (base / "ckpt" / LAST_NAME).mkdir(parents=True), "ckpt", LAST_NAME, id="last.pt-is-a-folder"
        ),
    ],
)
def test_a_blocked_checkpoint_folder_fails_the_run_naming_the_path(
    make_blocker: Callable[[Path], object], checkpoint_dir: str, failing: str, synth_voc: Path, tmp_path: Path
) -> None:
    base = tmp_path / "out"
    base.mkdir()
    make_blocker(base)
    before = files_under(base)
    folder = base / checkpoint_dir
    with pytest.raises(CheckpointError) as raised:
        train(tiny_config(synth_voc, folder, epochs=1))
    assert str(raised.value).startswith(
        f"{folder / failing}: cannot save the checkpoint: {folder} is not a writable folder: "
        "a file or folder is in the way ("
    )
    assert str(raised.value).endswith("move it, or point checkpoint.dir at another folder")
    written = [BEST_NAME] if failing == LAST_NAME else []
    assert files_under(base) == sorted(before + [f"ckpt/{name}" for name in written]), "no temporary file is left"


def test_a_failed_fsync_raises_checkpoint_error_and_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / LAST_NAME
    save_checkpoint({"model": {"weight": torch.ones(4)}}, path)
    before = path.read_bytes()

    def failing_fsync(descriptor: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(CheckpointError, match=r"cannot save the checkpoint: \[Errno 5\] .*; check the disk"):
        save_checkpoint({"model": {"weight": torch.zeros(4)}}, path)
    assert path.read_bytes() == before and files_under(tmp_path) == [LAST_NAME]
