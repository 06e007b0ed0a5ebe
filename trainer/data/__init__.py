"""Pascal VOC 2012 data: dataset, paired transforms, seeded loaders, download, SBD, synthetic data, stats."""

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

__all__ = [
    "IGNORE_INDEX",
    "NUM_CLASSES",
    "SYNTH_CLASSES",
    "VOC_CLASSES",
    "VOC_MD5",
    "VOC_URLS",
    "EpochSampler",
    "SbdResult",
    "SeededAugmentation",
    "SplitStats",
    "VOCSegmentation",
    "derive_seed",
    "download_voc",
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
