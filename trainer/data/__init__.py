"""Pascal VOC 2012 data: dataset, paired transforms, seeded loaders, download, SBD, synthetic data, stats."""

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
    "VOCSegmentation",
    "read_image",
    "read_mask",
    "read_split_ids",
    "synthesize",
    "voc_palette",
]
