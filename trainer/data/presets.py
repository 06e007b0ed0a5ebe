"""Ready-made transform pipelines for training and evaluation (keyword-only, like torchvision's presets)."""

from __future__ import annotations

from trainer.data.transforms import (
    Compose,
    PhotometricDistort,
    RandomHorizontalFlip,
    RandomScaleCrop,
)


def train_transforms(
    *,
    crop_size: int | tuple[int, int],
    scale_range: tuple[float, float] = (0.5, 2.0),
    hflip: bool = True,
    photometric: bool = False,
) -> Compose:
    """Random scale, random crop (mask padded with 255), optional flip and colour jitter.

    Every output has the same size (``crop_size``), so the default collate can batch it. Images and masks stay
    uint8: the training step normalizes the images on the device (`trainer.data.transforms.normalize_images`).
    """
    steps: list[object] = [RandomScaleCrop(crop_size, *scale_range)]
    if hflip:
        steps.append(RandomHorizontalFlip(0.5))
    if photometric:
        steps.append(PhotometricDistort())
    return Compose(steps)


def eval_transforms() -> Compose:
    """No transform: evaluation runs on each whole uint8 image at its own size (batched only with images of
    the same size, see `make_eval_loader`), normalized on the device like training batches."""
    return Compose([])
