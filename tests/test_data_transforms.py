"""Paired transforms keep image and mask aligned pixel for pixel and never invent a label."""

from __future__ import annotations

import random

import pytest
import torch

from trainer.data.presets import eval_transforms, train_transforms
from trainer.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Normalize,
    PhotometricDistort,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    normalize_images,
)

LABELS = (0, 3, 7, 12, 15, 20)


def _encoded_pair(height: int = 37, width: int = 53) -> tuple[torch.Tensor, torch.Tensor]:
    """Blocky labels (8x8 cells) with each label's id written into the image colour: R = 10 * label."""
    generator = torch.Generator().manual_seed(0)
    cells = torch.tensor(LABELS)[torch.randint(len(LABELS), ((height + 7) // 8, (width + 7) // 8), generator=generator)]
    mask = cells.repeat_interleave(8, 0).repeat_interleave(8, 1)[:height, :width].clone()
    mask[8:16, :] = 255  # an ignore block (one cell tall, so downscaling keeps it) must stay 255
    image = torch.stack([mask.clamp(max=20) * 10, torch.full_like(mask, 100), torch.full_like(mask, 50)]).to(
        torch.uint8
    )
    return image, mask


def _label_of_colour(image: torch.Tensor) -> torch.Tensor:
    return torch.round(image[0].float() / 10).long()


def test_flip_is_exact() -> None:
    image, mask = _encoded_pair()
    flipped_image, flipped_mask = RandomHorizontalFlip(p=1.0)(image, mask)
    assert torch.equal(flipped_image, image.flip(-1)) and torch.equal(flipped_mask, mask.flip(-1))
    assert RandomHorizontalFlip(p=0.0)(image, mask)[1] is mask


@pytest.mark.parametrize("seed", range(5))
def test_crop_is_exact_and_pads_with_255(seed: int) -> None:
    image, mask = _encoded_pair()
    random.seed(seed)
    cropped_image, cropped_mask = RandomCrop((48, 30))(image, mask)  # taller than the image: padded rows
    random.seed(seed)
    top, left = random.randint(0, 48 - 48), random.randint(0, 53 - 30)
    assert cropped_image.shape == (3, 48, 30) and cropped_mask.shape == (48, 30)
    assert torch.equal(cropped_mask[:37], mask[top : top + 37, left : left + 30])
    assert torch.equal(cropped_image[:, :37], image[:, top : top + 37, left : left + 30])
    assert (cropped_mask[37:] == 255).all() and (cropped_image[:, 37:] == 0).all()


@pytest.mark.parametrize("seed", range(6))
def test_scale_keeps_alignment_and_labels(seed: int) -> None:
    image, mask = _encoded_pair()
    random.seed(seed)
    scaled_image, scaled_mask = RandomScale(0.5, 2.0)(image, mask)
    assert scaled_image.shape[1:] == scaled_mask.shape
    assert set(scaled_mask.unique().tolist()) <= set(mask.unique().tolist())
    # Bilinear blends colours only next to label edges: away from them colour must name the mask's label.
    labelled = scaled_mask != 255
    neighbours = torch.nn.functional.max_pool2d(scaled_mask[None, None].float(), 3, 1, 1)[0, 0]
    low = -torch.nn.functional.max_pool2d(-scaled_mask[None, None].float(), 3, 1, 1)[0, 0]
    interior = labelled & (neighbours == low)
    assert interior.float().mean() > 0.3
    assert torch.equal(_label_of_colour(scaled_image)[interior], scaled_mask[interior])


@pytest.mark.parametrize("seed", range(8))
def test_train_preset_alignment_and_no_invented_labels(seed: int) -> None:
    image, mask = _encoded_pair()
    pipeline = train_transforms(crop_size=40, scale_range=(0.7, 1.6))
    random.seed(seed)
    torch.manual_seed(seed)
    out_image, out_mask = pipeline(image, mask)
    assert out_image.shape == (3, 40, 40) and out_mask.shape == (40, 40) and out_mask.dtype == torch.long
    assert set(out_mask.unique().tolist()) <= set(LABELS) | {255}
    low = -torch.nn.functional.max_pool2d(-out_mask[None, None].float(), 3, 1, 1)[0, 0]
    high = torch.nn.functional.max_pool2d(out_mask[None, None].float(), 3, 1, 1)[0, 0]
    interior = (out_mask != 255) & (low == high)
    assert torch.equal(_label_of_colour(out_image)[interior], out_mask[interior])


def test_photometric_changes_image_only() -> None:
    image, mask = _encoded_pair()
    random.seed(1)
    out_image, out_mask = PhotometricDistort(p=1.0)(image, mask)
    assert out_mask is mask and out_image.dtype == torch.uint8 and not torch.equal(out_image, image)


def test_presets_leave_uint8_for_the_device_to_normalize() -> None:
    image, mask = _encoded_pair()
    out_image, out_mask = eval_transforms()(image, mask)
    assert out_image is image and out_mask is mask
    random.seed(0)
    assert train_transforms(crop_size=40)(image, mask)[0].dtype == torch.uint8

    normalized = normalize_images(image[None])[0]
    assert normalized.dtype == torch.float32
    expected = (image[1, 0, 0].item() / 255 - IMAGENET_MEAN[1]) / IMAGENET_STD[1]
    assert normalized[1, 0, 0].item() == pytest.approx(expected, abs=1e-6)
    assert torch.equal(Normalize()(image, mask)[0], normalized)


def test_bad_scale_range() -> None:
    with pytest.raises(ValueError, match="min_scale"):
        RandomScale(2.0, 0.5)
