"""The baseline of `data_loader.py`: a PIL training pipeline in the style of torchvision's references/segmentation.

Written for this benchmark (not copied): PIL decodes, the whole image is resized by one random factor
(image bilinear, mask nearest), flipped, padded to the crop (image 0, mask 255) and cropped, then turned into a
normalized float32 tensor and an int64 mask in the worker, as the reference's ``PILToTensor``,
``ToDtype(float, scale=True)`` and ``Normalize`` do. The scale range, crop and flip probability are ours, so
both pipelines draw from the same distribution of crops.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as F

from trainer.constants import IGNORE_INDEX
from trainer.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from trainer.data.voc import read_split_ids

PilPair = tuple[Image.Image, Image.Image]


class ReferenceResize:
    """Resize image and mask by one factor drawn uniformly from ``scale_range``."""

    def __init__(self, scale_range: tuple[float, float]) -> None:
        self.scale_range = scale_range

    def __call__(self, image: Image.Image, mask: Image.Image) -> PilPair:
        scale = random.uniform(*self.scale_range)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        return image.resize(size, Image.Resampling.BILINEAR), mask.resize(size, Image.Resampling.NEAREST)


class ReferenceFlip:
    def __call__(self, image: Image.Image, mask: Image.Image) -> PilPair:
        if random.random() < 0.5:
            return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), mask.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return image, mask


class ReferenceCrop:
    """Pad bottom/right to ``size`` if smaller (image 0, mask 255), then crop at a random position."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image: Image.Image, mask: Image.Image) -> PilPair:
        pad_w, pad_h = max(0, self.size - image.width), max(0, self.size - image.height)
        if pad_w or pad_h:
            padded_image = Image.new("RGB", (image.width + pad_w, image.height + pad_h), (0, 0, 0))
            padded_image.paste(image)
            padded_mask = Image.new("P", padded_image.size, IGNORE_INDEX)  # indices, not colours
            padded_mask.paste(mask)
            image, mask = padded_image, padded_mask
        top, left = random.randint(0, image.height - self.size), random.randint(0, image.width - self.size)
        box = (left, top, left + self.size, top + self.size)
        return image.crop(box), mask.crop(box)


def reference_train_transforms(
    *, crop_size: int, scale_range: tuple[float, float] = (0.5, 2.0)
) -> Callable[[Image.Image, Image.Image], tuple[torch.Tensor, torch.Tensor]]:
    """Resize, flip, crop, then a normalized float32 image [3, H, W] and an int64 mask [H, W]."""
    steps: Sequence[Callable[[Image.Image, Image.Image], PilPair]] = (
        ReferenceResize(scale_range),
        ReferenceFlip(),
        ReferenceCrop(crop_size),
    )

    def transform(image: Image.Image, mask: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        for step in steps:
            image, mask = step(image, mask)
        tensor = F.to_dtype(F.pil_to_tensor(image), torch.float32, scale=True)
        normalized: torch.Tensor = F.normalize(tensor, mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD))
        return normalized, torch.as_tensor(np.array(mask), dtype=torch.int64)

    return transform


class ReferenceVOC(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A split's (image, mask) pairs decoded with PIL (RGB image, palette mask kept as label indices)."""

    def __init__(
        self,
        root: Path,
        split: str,
        transforms: Callable[[Image.Image, Image.Image], tuple[torch.Tensor, torch.Tensor]],
    ) -> None:
        self.root, self.ids, self.transforms = root, read_split_ids(root, split), transforms

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = Image.open(self.root / "JPEGImages" / f"{self.ids[index]}.jpg").convert("RGB")
        mask = Image.open(self.root / "SegmentationClass" / f"{self.ids[index]}.png")
        return self.transforms(image, mask)
