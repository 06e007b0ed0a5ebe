"""Paired image/mask transforms in the style of torchvision's segmentation references.

Every transform is a small class whose ``__call__(image, mask)`` returns both. Random parameters are drawn
once per call from Python's `random` module (or torch's global generator) and applied to both tensors, so
the pair stays aligned pixel for pixel. The loader seeds both generators per sample (see
`trainer.data.loader.SeededAugmentation`), which makes augmentation reproducible.

Tensors: ``image`` is uint8 [3, H, W] until `Normalize` turns it into float32; ``mask`` is long [H, W]
and keeps its label values: it is only ever resized with nearest-neighbour, flipped, cropped and padded
with `IGNORE_INDEX` (255), so no new label can appear.
"""

from __future__ import annotations

import random
from typing import Sequence

import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from trainer.constants import IGNORE_INDEX

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Pair = tuple[torch.Tensor, torch.Tensor]


class Compose:
    """Apply paired transforms in order."""

    def __init__(self, transforms: Sequence[object]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        for transform in self.transforms:
            image, mask = transform(image, mask)  # type: ignore[operator]
        return image, mask

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class RandomScale:
    """Resize both by one factor drawn uniformly from [min_scale, max_scale].

    The image uses bilinear interpolation with antialiasing; the mask uses NEAREST_EXACT, nearest-neighbour
    sampling at pixel centres, which lines up with the image's bilinear grid (legacy NEAREST is shifted by
    up to half a source pixel when downscaling).
    """

    def __init__(self, min_scale: float = 0.5, max_scale: float = 2.0) -> None:
        if not 0 < min_scale <= max_scale:
            raise ValueError(f"need 0 < min_scale <= max_scale, got {min_scale}, {max_scale}")
        self.min_scale, self.max_scale = min_scale, max_scale

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        scale = random.uniform(self.min_scale, self.max_scale)
        size = [max(1, round(image.shape[-2] * scale)), max(1, round(image.shape[-1] * scale))]
        image = F.resize(image, size, interpolation=InterpolationMode.BILINEAR, antialias=True)
        mask = F.resize(mask[None], size, interpolation=InterpolationMode.NEAREST_EXACT)[0]
        return image, mask

    def __repr__(self) -> str:
        return f"RandomScale({self.min_scale}, {self.max_scale})"


class RandomCrop:
    """Crop both to ``size`` (int or (H, W)) at one random position.

    A side shorter than the crop is first padded at the bottom/right: the image with 0, the mask with 255,
    so padding never counts as a class in the loss or the metrics.
    """

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        crop_h, crop_w = self.size
        pad_h, pad_w = max(0, crop_h - image.shape[-2]), max(0, crop_w - image.shape[-1])
        if pad_h or pad_w:
            image = F.pad(image, [0, 0, pad_w, pad_h], fill=0)
            mask = F.pad(mask[None], [0, 0, pad_w, pad_h], fill=IGNORE_INDEX)[0]
        top = random.randint(0, image.shape[-2] - crop_h)
        left = random.randint(0, image.shape[-1] - crop_w)
        return F.crop(image, top, left, crop_h, crop_w), F.crop(mask, top, left, crop_h, crop_w)

    def __repr__(self) -> str:
        return f"RandomCrop({self.size})"


class RandomHorizontalFlip:
    """Mirror both left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        if random.random() < self.p:
            return F.horizontal_flip(image), F.horizontal_flip(mask)
        return image, mask

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class PhotometricDistort:
    """Jitter the image's brightness, contrast, saturation and hue, each with probability ``p``; mask untouched.

    Factors are drawn uniformly from the given ranges (hue as a shift of the hue circle, in [-0.5, 0.5]).
    """

    def __init__(
        self,
        brightness: tuple[float, float] = (0.875, 1.125),
        contrast: tuple[float, float] = (0.5, 1.5),
        saturation: tuple[float, float] = (0.5, 1.5),
        hue: tuple[float, float] = (-0.05, 0.05),
        p: float = 0.5,
    ) -> None:
        self.brightness, self.contrast, self.saturation, self.hue, self.p = brightness, contrast, saturation, hue, p

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        if random.random() < self.p:
            image = F.adjust_brightness(image, random.uniform(*self.brightness))
        if random.random() < self.p:
            image = F.adjust_contrast(image, random.uniform(*self.contrast))
        if random.random() < self.p:
            image = F.adjust_saturation(image, random.uniform(*self.saturation))
        if random.random() < self.p:
            image = F.adjust_hue(image, random.uniform(*self.hue))
        return image, mask

    def __repr__(self) -> str:
        return f"PhotometricDistort(p={self.p})"


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """The network's input: uint8 images [..., 3, H, W] as float32 in [0, 1], standardised with ImageNet's
    mean and std. Runs wherever `images` are, so loaders can ship uint8 (4x fewer bytes) and the device
    normalizes."""
    images = F.to_dtype(images, torch.float32, scale=True)
    normalized: torch.Tensor = F.normalize(images, mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD))
    return normalized


class Normalize:
    """Convert the image to float32 in [0, 1] (uint8 is divided by 255) and standardise it per channel.

    The presets leave this out: the training and evaluation loops normalize on the device
    (`trainer.runtime.DevicePolicy.images`) with `normalize_images`.
    """

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        self.mean, self.std = list(mean), list(std)

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        image = F.to_dtype(image, torch.float32, scale=True)
        return F.normalize(image, mean=self.mean, std=self.std), mask

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"
