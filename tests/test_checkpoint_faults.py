"""Checkpoint files that fail: a full disk and a blocked folder.

The full-disk tests mount a real, small tmpfs, which needs root; CI runs the tests as root.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import set_in, tiny_train

from trainer import TrainConfig, config_from_dict, train
from trainer.checkpoint import BEST_NAME, LAST_NAME, load_checkpoint, save_checkpoint
from trainer.errors import CheckpointError


def tiny_config(root: Path, checkpoint_dir: Path, **overrides: Any) -> TrainConfig:
    """`tiny_train` for 2 epochs of SGD, with dotted-path overrides such as `**{"optim.lr": 0.5}`."""
    data = tiny_train(
        root,
        seed=7,
        epochs=2,
        optim={"name": "sgd", "lr": 0.02, "backbone_lr_mult": 1.0, "schedule": "poly"},
        checkpoint={"dir": str(checkpoint_dir)},
    )
    for path, value in overrides.items():
        data = set_in(data, path.split("."), value)
    return config_from_dict(data)


def files_under(folder: Path) -> list[str]:
    """Every file below `folder`, hidden temporary files included, relative to it."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """`small_disk("1m")` mounts a tmpfs of that size under `tmp_path`; unmounted after the test."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root (CI runs the tests as root)")
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        try:
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True, text=True
            )
        except FileNotFoundError:
            pytest.skip("no mount command to make a small tmpfs")
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", str(point)], check=True)


# --- writing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "failing", "left"),
    [
        pytest.param("1m", BEST_NAME, [], id="smaller-than-best.pt"),
        # best.pt is about 47 MB and last.pt 94 MB: best.pt is written, last.pt fills the disk.
        pytest.param("64m", LAST_NAME, [BEST_NAME], id="room-for-best.pt-only"),
    ],
)
def test_a_full_disk_fails_the_run_naming_the_file_and_leaves_nothing_half_written(
    size: str, failing: str, left: list[str], small_disk: Callable[[str], Path], synth_voc: Path
) -> None:
    disk = small_disk(size)
    folder = disk / "ckpt"
    with pytest.raises(CheckpointError, match="no space left on device") as raised:
        train(tiny_config(synth_voc, folder, epochs=1))
    message = str(raised.value)
    assert message.startswith(f"{folder / failing}: cannot save the checkpoint")
    assert message.endswith("free space or point checkpoint.dir at another disk")
    assert files_under(disk) == [f"ckpt/{name}" for name in left], "the partial temporary file is removed"
    if left:
        assert load_checkpoint(folder / BEST_NAME)["epoch"] == 1, "best.pt, written first, is whole"


def test_a_failed_write_on_a_full_disk_keeps_the_previous_checkpoint(small_disk: Callable[[str], Path]) -> None:
    disk = small_disk("4m")
    path = disk / LAST_NAME
    save_checkpoint({"model": {"weight": torch.ones(4)}}, path)
    before = path.read_bytes()
    with (disk / "filler").open("wb", buffering=0) as filler, pytest.raises(OSError) as full:
        while True:
            filler.write(bytes(1 << 16))
    assert full.value.errno == errno.ENOSPC
    with pytest.raises(CheckpointError, match=rf"^{re.escape(str(path))}: cannot save the checkpoint: no space left"):
        save_checkpoint({"model": {"weight": torch.ones(1 << 16)}}, path)
    assert path.read_bytes() == before and files_under(disk) == ["filler", LAST_NAME]


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
