"""Pascal VOC 2012 data: dataset, paired transforms, seeded loaders, download, SBD, synthetic data, stats.

Public names are imported on first use, so `import trainer.data.voc` does not pull in SciPy (SBD) or the
download code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "VOC_MD5": "trainer.data.download",
    "VOC_URLS": "trainer.data.download",
    "download_voc": "trainer.data.download",
    "is_complete": "trainer.data.download",
    "EpochSampler": "trainer.data.loader",
    "SeededAugmentation": "trainer.data.loader",
    "derive_seed": "trainer.data.loader",
    "make_eval_loader": "trainer.data.loader",
    "make_train_loader": "trainer.data.loader",
    "pad_collate": "trainer.data.loader",
    "eval_transforms": "trainer.data.presets",
    "train_transforms": "trainer.data.presets",
    "check_data_present": "trainer.data.provision",
    "dataset_tags": "trainer.data.provision",
    "ensure_data": "trainer.data.provision",
    "SbdResult": "trainer.data.sbd",
    "prepare_sbd": "trainer.data.sbd",
    "SplitStats": "trainer.data.stats",
    "median_frequency_weights": "trainer.data.stats",
    "split_checksum": "trainer.data.stats",
    "split_stats": "trainer.data.stats",
    "SYNTH_CLASSES": "trainer.data.synth",
    "synthesize": "trainer.data.synth",
    "IGNORE_INDEX": "trainer.data.voc",
    "NUM_CLASSES": "trainer.data.voc",
    "VOC_CLASSES": "trainer.data.voc",
    "VOCSegmentation": "trainer.data.voc",
    "read_image": "trainer.data.voc",
    "read_mask": "trainer.data.voc",
    "read_split_ids": "trainer.data.voc",
    "voc_palette": "trainer.data.voc",
}

__all__ = [
    "EpochSampler",
    "IGNORE_INDEX",
    "NUM_CLASSES",
    "SYNTH_CLASSES",
    "SbdResult",
    "SeededAugmentation",
    "SplitStats",
    "VOCSegmentation",
    "VOC_CLASSES",
    "VOC_MD5",
    "VOC_URLS",
    "check_data_present",
    "dataset_tags",
    "derive_seed",
    "download_voc",
    "ensure_data",
    "eval_transforms",
    "is_complete",
    "make_eval_loader",
    "make_train_loader",
    "median_frequency_weights",
    "pad_collate",
    "prepare_sbd",
    "read_image",
    "read_mask",
    "read_split_ids",
    "split_checksum",
    "split_stats",
    "synthesize",
    "train_transforms",
    "voc_palette",
]

if TYPE_CHECKING:
    from trainer.data.download import VOC_MD5, VOC_URLS, download_voc, is_complete
    from trainer.data.loader import (
        EpochSampler,
        SeededAugmentation,
        derive_seed,
        make_eval_loader,
        make_train_loader,
        pad_collate,
    )
    from trainer.data.presets import eval_transforms, train_transforms
    from trainer.data.provision import check_data_present, dataset_tags, ensure_data
    from trainer.data.sbd import SbdResult, prepare_sbd
    from trainer.data.stats import SplitStats, median_frequency_weights, split_checksum, split_stats
    from trainer.data.synth import SYNTH_CLASSES, synthesize
    from trainer.data.voc import (
        IGNORE_INDEX,
        NUM_CLASSES,
        VOC_CLASSES,
        VOCSegmentation,
        read_image,
        read_mask,
        read_split_ids,
        voc_palette,
    )


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'trainer.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
