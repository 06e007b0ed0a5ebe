"""Shared fixtures: a small synthetic VOC root that every test module may read (never write)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from trainer.data.synth import synthesize


@pytest.fixture(scope="session")
def synth_voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VOC2012-layout root made by `synthesize(train=8, val=4, size=64, seed=0)`; treat it as read-only."""
    return synthesize(tmp_path_factory.mktemp("synth_voc") / "VOC2012", train=8, val=4, size=64, seed=0)


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
