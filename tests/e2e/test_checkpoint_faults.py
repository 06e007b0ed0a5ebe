"""Checkpoint files that fail: a full disk, and a corrupt or unfitting `last.pt` on resume.

The full-disk tests mount a real, small tmpfs, which needs root; CI runs the tests as root. A folder in the
way and a failed fsync are in `tests/unit/test_checkpoint_writes.py`.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import files_under
from helpers import tiny_config as shared_tiny_config

from trainer import TrainConfig, TrainResult, train
from trainer.checkpoint import BEST_NAME, LAST_NAME, load_checkpoint, save_checkpoint
from trainer.errors import CheckpointError, CorruptCheckpointError
from trainer.listener import TrainingListener


def tiny_config(root: Path, checkpoint_dir: Path, **overrides: Any) -> TrainConfig:
    """`helpers.tiny_config` for 2 epochs (a 2-epoch run leaves a `last.pt` to corrupt)."""
    return shared_tiny_config(root, checkpoint_dir, **{"epochs": 2, **overrides})


def snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in files_under(folder)}


class Recorder(TrainingListener):
    """Records the resume and discard events, and what the folder held when a checkpoint was discarded."""

    def __init__(self) -> None:
        self.resumed: list[int] = []
        self.discarded: list[tuple[Path, str, list[str]]] = []

    def on_resume(self, epoch: int, checkpoint: Path) -> None:
        self.resumed.append(epoch)

    def on_checkpoint_discarded(self, path: Path, reason: str) -> None:
        self.discarded.append((path, reason, files_under(path.parent)))


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


@pytest.fixture(scope="module")
def finished_run(synth_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainResult]:
    """The checkpoint folder of a finished 2-epoch run, and its result; copy the folder before changing it."""
    folder = tmp_path_factory.mktemp("finished") / "ckpt"
    return folder, train(tiny_config(synth_voc, folder))


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


# --- reading on resume --------------------------------------------------------------------------------------


def truncate_to_half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def write_garbage(path: Path) -> None:
    path.write_bytes(b"not a checkpoint\n" * 1000)


def write_foreign_torch_file(path: Path) -> None:
    torch.save({"weights": torch.zeros(3)}, path)


@pytest.mark.parametrize(
    ("corrupt", "reason"),
    [
        (truncate_to_half, r"not a readable checkpoint \(RuntimeError: PytorchStreamReader failed reading zip archive"),
        (write_garbage, r"not a readable checkpoint \(UnpicklingError: "),
        (write_foreign_torch_file, r"not a trainer checkpoint \(it has no format and model entries\)"),
    ],
    ids=["truncated", "garbage", "foreign-torch-file"],
)
def test_a_corrupt_last_pt_is_discarded_and_training_starts_over(
    corrupt: Callable[[Path], None],
    reason: str,
    finished_run: tuple[Path, TrainResult],
    synth_voc: Path,
    tmp_path: Path,
) -> None:
    finished, original = finished_run
    folder = Path(shutil.copytree(finished, tmp_path / "ckpt"))
    assert load_checkpoint(folder / LAST_NAME)["epoch"] == 2
    corrupt(folder / LAST_NAME)
    recorder = Recorder()
    reports: list[int] = []
    result = train(tiny_config(synth_voc, folder), lambda epoch, metrics: reports.append(epoch), listener=recorder)

    assert len(recorder.discarded) == 1 and recorder.resumed == []
    path, message, files_then = recorder.discarded[0]
    assert path == folder / LAST_NAME and message.startswith(f"{path}: ")
    assert re.search(reason, message), message
    assert files_then == [], "last.pt and the best.pt of its timeline are gone before training starts over"
    assert reports == [1, 2] and result.epochs_run == 2
    # Same seed, same data, nothing carried over: the new timeline repeats the original run exactly.
    assert repr(result.history) == repr(original.history)
    best = load_checkpoint(folder / BEST_NAME)
    assert best["epoch"] == result.best_epoch
    assert repr(best["metrics"]) == repr(
        {k: v for k, v in result.history[result.best_epoch - 1].items() if k != "epoch"}
    )
    assert load_checkpoint(folder / LAST_NAME)["epoch"] == 2


@pytest.mark.parametrize(
    ("change", "overrides", "message"),
    [
        pytest.param(None, {"optim.lr": 0.5}, r"different configuration \(changed: optim.lr\)", id="other-config"),
        pytest.param(
            lambda folder: shutil.copyfile(folder / BEST_NAME, folder / LAST_NAME),
            {},
            r"holds weights but no training state \(missing: best_epoch, best_miou, ",
            id="best.pt-as-last.pt",
        ),
        pytest.param(
            lambda folder: save_checkpoint({"model": {}, "format": 2}, folder / LAST_NAME),
            {},
            r"checkpoint format 2, but this trainer reads format 1",
            id="newer-format",
        ),
    ],
)
def test_a_readable_checkpoint_that_does_not_fit_is_a_user_error_and_is_kept(
    change: Callable[[Path], object] | None,
    overrides: dict[str, Any],
    message: str,
    finished_run: tuple[Path, TrainResult],
    synth_voc: Path,
    tmp_path: Path,
) -> None:
    folder = Path(shutil.copytree(finished_run[0], tmp_path / "ckpt"))
    if change is not None:
        change(folder)
    before = snapshot(folder)
    recorder = Recorder()
    with pytest.raises(CheckpointError, match=message) as raised:
        train(tiny_config(synth_voc, folder, **overrides), listener=recorder)
    assert not isinstance(raised.value, CorruptCheckpointError)
    assert str(raised.value).startswith(f"{folder / LAST_NAME}: ")
    assert recorder.discarded == [] and snapshot(folder) == before, "nothing is deleted or rewritten"
