"""Paired image/mask transforms in the style of torchvision's segmentation references.

Every transform is a small class whose ``__call__(image, mask)`` returns both. Random parameters are drawn
once per call from Python's `random` module (or torch's global generator) and applied to both tensors, so
the pair stays aligned pixel for pixel. The loader seeds both generators per sample (see
`trainer.data.loader.SeededAugmentation`), which makes augmentation reproducible.

Tensors: ``image`` stays uint8 [3, H, W] (the device normalizes batches with `normalize_images`); ``mask`` is an integer
tensor [H, W] (uint8 from `VOCSegmentation`) and keeps its label values: it is only ever resized with
nearest-neighbour, flipped, cropped and padded with `IGNORE_INDEX` (255), so no new label can appear.
"""

from __future__ import annotations

import random
from typing import Sequence

import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from trainer.constants import IGNORE_INDEX
from trainer.data.crop_params import CropSampler
from trainer.data.resample import nearest_exact_window

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


class RandomScaleCrop:
    """Resize both by one random factor, then crop ``size`` (int or (H, W)) at one random position.

    The geometry is `CropSampler.draw`'s (without its flip), from Python's `random`: the factor
    ``s ~ U[min_scale, max_scale]``, then ``top`` and ``left`` uniform over the scaled image, each side
    padded at the bottom/right to at least the crop. Padding is 0 in the image and `IGNORE_INDEX` (255) in
    the mask, so it never counts as a class.

    The image is resized whole with antialiased bilinear on uint8 (PyTorch's SIMD kernel is faster than
    resizing just the window) and sliced; the mask is resized only inside the window, with NEAREST_EXACT,
    which lines up with the image's bilinear grid. The result equals resizing both whole, padding and then
    cropping, pixel for pixel.
    """

    def __init__(self, size: int | tuple[int, int], min_scale: float = 0.5, max_scale: float = 2.0) -> None:
        self.geometry = CropSampler(size, (min_scale, max_scale), hflip=False)
        self.size = self.geometry.crop_shape
        self.min_scale, self.max_scale = min_scale, max_scale

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> Pair:
        crop_h, crop_w = self.size
        crop = self.geometry.draw(image.shape[-2], image.shape[-1])
        scaled = (crop.scaled_height, crop.scaled_width)
        rows = range(crop.top, min(crop.top + crop_h, scaled[0]))
        cols = range(crop.left, min(crop.left + crop_w, scaled[1]))
        image = F.resize(image, list(scaled), interpolation=InterpolationMode.BILINEAR, antialias=True)
        image = image[:, rows.start : rows.stop, cols.start : cols.stop]
        mask = nearest_exact_window(mask, scaled, rows, cols)
        if (len(rows), len(cols)) == self.size:
            return image.contiguous(), mask
        padded_image = image.new_zeros((image.shape[0], crop_h, crop_w))
        padded_mask = mask.new_full((crop_h, crop_w), IGNORE_INDEX)
        padded_image[:, : len(rows), : len(cols)] = image
        padded_mask[: len(rows), : len(cols)] = mask
        return padded_image, padded_mask

    def __repr__(self) -> str:
        return f"RandomScaleCrop({self.size}, {self.min_scale}, {self.max_scale})"


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
    floats = F.to_dtype(images, torch.float32, scale=True)
    # In place on the fresh float copy: a second batch-sized allocation cost as much as the arithmetic on CPU.
    normalized: torch.Tensor = F.normalize(
        floats, mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), inplace=floats is not images
    )
    return normalized
