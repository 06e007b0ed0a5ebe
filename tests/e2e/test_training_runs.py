"""trainer.train over several epochs: every epoch reported and checkpointed, exact resume, early stopping, and
reproducible training with `data.augment_on: device` whatever the loader workers.

Checks that need at most one epoch are in `tests/unit/test_engine.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch
from helpers import tiny_config

from trainer import train
from trainer.checkpoint import BEST_NAME, LAST_NAME, load_checkpoint


class Stop(Exception):
    """Raised from `report` to simulate a crash right after an epoch's checkpoint."""


def test_reports_every_epoch_and_writes_checkpoints(synth_voc: Path, tmp_path: Path) -> None:
    reports: list[tuple[int, dict[str, float]]] = []
    result = train(tiny_config(synth_voc, tmp_path / "ckpt"), lambda e, m: reports.append((e, dict(m))))
    assert [epoch for epoch, _ in reports] == [1, 2, 3]
    metrics = reports[-1][1]
    assert {
        "train/loss",
        "lr",
        "val/miou",
        "val/pixel_accuracy",
        "val/mean_class_accuracy",
        "val/fw_iou",
    } <= metrics.keys()
    assert "val/iou/background" in metrics and 0.0 <= metrics["val/miou"] <= 1.0
    assert result.epochs_run == 3 and len(result.history) == 3
    assert result.best_miou == max(row["val/miou"] for row in result.history)
    assert result.history[result.best_epoch - 1]["val/miou"] == result.best_miou
    last = load_checkpoint(tmp_path / "ckpt" / LAST_NAME)
    assert last["epoch"] == 3 and {"model", "optimizer", "scheduler", "scaler", "rng", "config"} <= last.keys()
    best = load_checkpoint(result.checkpoint)
    assert result.checkpoint.name == BEST_NAME and best["epoch"] == result.best_epoch
    assert best["metrics"]["val/miou"] == result.best_miou
    assert not list((tmp_path / "ckpt").glob("*.tmp")), "temporary files must be renamed away"
    # poly schedule: lr reaches 0 at the last iteration
    assert reports[-1][1]["lr"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_matches_an_uninterrupted_run(num_workers: int, synth_voc: Path, tmp_path: Path) -> None:
    full = train(tiny_config(synth_voc, tmp_path / "full", **{"data.num_workers": num_workers}))

    def crash_after_epoch_2(epoch: int, metrics: Mapping[str, float]) -> None:
        if epoch == 2:
            raise Stop

    interrupted = tiny_config(synth_voc, tmp_path / "resumed", **{"data.num_workers": num_workers})
    with pytest.raises(Stop):
        train(interrupted, crash_after_epoch_2)
    resumed_reports: list[int] = []
    resumed = train(interrupted, lambda e, m: resumed_reports.append(e))
    assert resumed_reports == [3], "only the missing epoch runs again"
    assert repr(resumed.history) == repr(full.history)  # bit-for-bit (repr, so NaN IoUs compare equal)
    saved_full = load_checkpoint(tmp_path / "full" / LAST_NAME)["model"]
    saved_resumed = load_checkpoint(tmp_path / "resumed" / LAST_NAME)["model"]
    assert all(torch.equal(saved_full[k], saved_resumed[k]) for k in saved_full)


def test_early_stopping_after_patience(synth_voc: Path, tmp_path: Path) -> None:
    # lr 1e-9 never moves the weights: mIoU stays flat, so patience 1 stops after epoch 2.
    config = tiny_config(
        synth_voc, tmp_path / "ckpt", epochs=5, **{"optim.lr": 1e-9, "early_stopping.patience": 1, "model.dropout": 0.0}
    )
    result = train(config)
    assert result.stopped_early and result.epochs_run == 2 and result.best_epoch == 1


def test_device_augmentation_trains_reproducibly_whatever_the_workers(synth_voc: Path, tmp_path: Path) -> None:
    losses = []
    for workers in (0, 1):
        config = tiny_config(
            synth_voc, tmp_path / str(workers), epochs=2, **{"data.augment_on": "device", "data.num_workers": workers}
        )
        losses.append([row["train/loss"] for row in train(config).history])
    assert all(math.isfinite(loss) for loss in losses[0]) and len(losses[0]) == 2
    assert losses[0] == losses[1]
