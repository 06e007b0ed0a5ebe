"""Helpers shared by the tests: the one tiny training config, the one study document builder, nested-mapping
edits, folder listings, and the split files and JPEG damage of a VOC root."""

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


def unmade_data_train(**sections: Any) -> dict[str, Any]:
    """A one-epoch `train` section whose data, at data/never-made, would be generated on first use: for
    studies that must be refused, validated or inspected before any data is made."""
    return {
        "epochs": 1,
        "data": {"root": "data/never-made", "synthesize": {"train": 4, "val": 2, "size": 48}},
        **sections,
    }


LR_SEARCH = {"optim.lr": {"type": "float", "low": 0.01, "high": 0.05}}
"""`study_document`'s search space: learning rates at which the tiny network trains."""
WIDE_LR_SEARCH = {"optim.lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}}
"""A log-uniform learning rate over three decades."""
RANDOM_SAMPLER = {"type": "random", "seed": 0}
NO_PRUNER = {"type": "none"}


def study_document(
    name: str,
    data_root: Path | None = None,
    n_trials: int | None = None,
    *,
    train: Mapping[str, Any] | None = None,
    search: Mapping[str, Any] = LR_SEARCH,
    latency: Mapping[str, Any] | None = QUICK_LATENCY,
    sampler: Mapping[str, Any] | None = RANDOM_SAMPLER,
    pruner: Mapping[str, Any] | None = NO_PRUNER,
    settings: Mapping[str, Any] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """The document of a study file (what `yaml.safe_dump` writes): by default `n_trials` one-epoch trials of
    `tiny_train(data_root)`, sampled at random from `LR_SEARCH`, nothing pruned, latency measured at 64 px.

    `train` replaces the whole train section (then `data_root` is not used) and `search` the search space.
    `latency`, `sampler`, `pruner` and `n_trials` set as None leave their key out, so the study runs on the
    default. `settings` adds keys to the study section (`max_retries`, `keep_checkpoints`, ...), and
    `sections` adds top-level sections (`tracking`, `constraints`, `enqueue`, `warm_start`). The document is
    a fresh copy: a test may change it in place.
    """
    if train is None:
        if data_root is None:
            raise TypeError("study_document needs data_root for its tiny_train section, or a whole train section")
        train = tiny_train(data_root)
    study = {"latency": latency, "name": name, "n_trials": n_trials, "sampler": sampler, "pruner": pruner}
    study = {key: value for key, value in study.items() if value is not None}
    return copy.deepcopy({"study": {**study, **(settings or {})}, "train": train, "search": search, **sections})


PRUNING_STUDY_TRIALS = 5


def pruning_study(
    name: str, data_root: Path, *, settings: Mapping[str, Any] | None = None, **sections: Any
) -> dict[str, Any]:
    """`PRUNING_STUDY_TRIALS` two-epoch trials whose learning rates learn, stall and blow up, under a median
    pruner: a study that ends with completed, pruned and diverged (failed) trials."""
    return study_document(
        name,
        n_trials=PRUNING_STUDY_TRIALS,
        train=tiny_train(data_root, seed=0, epochs=2, optim={"name": "sgd", "backbone_lr_mult": 1.0}),
        search={"optim.lr": {"type": "categorical", "choices": [1.0e-9, 0.05, 1.0e30]}},
        sampler={"type": "random", "seed": 8},  # draws 0.05, 1e-9, 1e30, 0.05, 1e-9
        pruner={"type": "median", "n_startup_trials": 1, "n_warmup_steps": 0, "n_min_trials": 1},
        settings=settings,
        **sections,
    )


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
