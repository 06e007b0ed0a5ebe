"""Ready-made transform pipelines for training and evaluation (keyword-only, like torchvision's presets)."""

from __future__ import annotations

from trainer.data.transforms import (
    Compose,
    Normalize,
    PhotometricDistort,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
)


def train_transforms(
    *,
    crop_size: int | tuple[int, int],
    scale_range: tuple[float, float] = (0.5, 2.0),
    hflip: bool = True,
    photometric: bool = False,
) -> Compose:
    """Random scale, random crop (mask padded with 255), optional flip and colour jitter, then ImageNet normalize.

    Every output has the same size (``crop_size``), so the default collate can batch it.
    """
    steps: list[object] = [RandomScale(*scale_range), RandomCrop(crop_size)]
    if hflip:
        steps.append(RandomHorizontalFlip(0.5))
    if photometric:
        steps.append(PhotometricDistort())
    steps.append(Normalize())
    return Compose(steps)


def eval_transforms() -> Compose:
    """ImageNet normalize only: evaluation runs on each whole image at its own size (see `pad_collate`)."""
    return Compose([Normalize()])
