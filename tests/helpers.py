"""Helpers shared by the tests: the one tiny training config, nested-mapping edits, folder listings, and the
split files and JPEG damage of a VOC root."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trainer import TrainConfig, config_from_dict

QUICK_LATENCY = {"image_size": 64, "warmup": 0, "repeats": 1}
"""`study.latency` for the tests' studies: one pass at 64 px. The 513 px default costs about 5 s per process
on 2 cores, and most tests run their study in a subprocess of their own."""


def set_in(document: Mapping[str, Any], keys: Sequence[str], value: Any) -> dict[str, Any]:
    """A deep copy of `document` with the nested key path `keys` set to `value` (sections made as needed)."""
    result = copy.deepcopy(dict(document))
    node = result
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return result


def tiny_train(data_root: Path, **sections: Any) -> dict[str, Any]:
    """A `train` section that runs in about a second per epoch: MobileNetV3 on 48 px crops, 4 per batch."""
    return {
        "epochs": 1,
        "device": "cpu",
        "data": {"root": str(data_root), "crop_size": 48, "batch_size": 4, "eval_batch_size": 2, "num_workers": 0},
        "model": {"backbone": "mobilenet_v3_large"},
        **sections,
    }


def tiny_config(root: Path, checkpoint_dir: Path, **overrides: Any) -> TrainConfig:
    """`tiny_train` for 3 epochs of SGD, with dotted-path overrides such as `**{"optim.lr": 0.5}`."""
    data = tiny_train(
        root,
        seed=7,
        epochs=3,
        optim={"name": "sgd", "lr": 0.02, "backbone_lr_mult": 1.0, "schedule": "poly"},
        checkpoint={"dir": str(checkpoint_dir)},
    )
    for path, value in overrides.items():
        data = set_in(data, path.split("."), value)
    return config_from_dict(data)


def files_under(folder: Path) -> list[str]:
    """Every file below `folder`, hidden temporary files included, relative to it."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def split_ids(root: Path, split: str) -> list[str]:
    """The image IDs that `split`.txt of the VOC root lists, in order."""
    return (root / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()


def corrupt_jpeg(path: Path) -> None:
    """Zero 200 bytes inside the entropy-coded data: the header still parses, the pixels do not decode."""
    data = bytearray(path.read_bytes())
    data[400:600] = bytes(200)
    path.write_bytes(bytes(data))
