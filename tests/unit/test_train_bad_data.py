"""A bad file met mid-epoch by `trainer.train` with loader workers: the caller gets a `DatasetError` naming it."""

from __future__ import annotations

import multiprocessing
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from bad_input_cases import FIRST, label_50_in_first_mask, truncate_first_image
from helpers import set_in, tiny_train

from trainer import config_from_dict, train
from trainer.errors import DatasetError
from trainer.listener import TrainingListener


class Started(TrainingListener):
    """Notes whether training got past its checks into the first epoch."""

    started = False

    def on_train_start(self, epochs: int, iterations_per_epoch: int, start_epoch: int) -> None:
        self.started = True


@pytest.mark.parametrize(
    ("damage", "bad_file", "message"),
    [
        (truncate_first_image, f"JPEGImages/{FIRST}.jpg", r"corrupt or unreadable image \(image file is truncated"),
        (label_50_in_first_mask, f"SegmentationClass/{FIRST}.png", r"mask holds labels \[50\] outside 0\.\.20 and 255"),
    ],
    ids=["truncated-jpeg", "mask-label-out-of-range"],
)
def test_a_bad_file_found_by_a_loader_worker_reaches_the_caller_as_dataset_error(
    damage: Callable[[Path, list[str]], None], bad_file: str, message: str, synth_voc: Path, tmp_path: Path
) -> None:
    root = Path(shutil.copytree(synth_voc, tmp_path / "VOC2012"))
    damage(root, (root / "ImageSets" / "Segmentation" / "train.txt").read_text().split())
    data = tiny_train(root, checkpoint={"dir": str(tmp_path / "ckpt")})
    config = config_from_dict(set_in(data, ["data", "num_workers"], 2))
    listener = Started()
    with pytest.raises(DatasetError, match=message) as raised:
        train(config, listener=listener)
    assert listener.started, "the file is found mid-epoch, by a worker, not by a check before training"
    assert type(raised.value) is DatasetError and raised.value.path == root / bad_file
    assert str(raised.value).startswith(f"{root / bad_file}: ")
    assert multiprocessing.active_children() == [], "the loader's persistent workers stop before the error leaves"
