"""Paired transforms keep image and mask aligned pixel for pixel and never invent a label."""

from __future__ import annotations

import random

import pytest
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from trainer.data.presets import eval_transforms, train_transforms
from trainer.data.resample import nearest_exact_window
from trainer.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PhotometricDistort,
    RandomHorizontalFlip,
    RandomScaleCrop,
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


def _resize_pad_crop(image: torch.Tensor, mask: torch.Tensor, crop: tuple[int, int], scale_range: tuple[float, float]):
    """The contract, done the slow way: resize both whole, pad bottom/right (0 / 255), crop, same draws."""
    scale = random.uniform(*scale_range)
    size = [max(1, round(image.shape[-2] * scale)), max(1, round(image.shape[-1] * scale))]
    image = F.resize(image, size, interpolation=InterpolationMode.BILINEAR, antialias=True)
    mask = F.resize(mask[None], size, interpolation=InterpolationMode.NEAREST_EXACT)[0]
    pad_h, pad_w = max(0, crop[0] - size[0]), max(0, crop[1] - size[1])
    image = F.pad(image, [0, 0, pad_w, pad_h], fill=0)
    mask = F.pad(mask[None], [0, 0, pad_w, pad_h], fill=255)[0]
    top, left = random.randint(0, image.shape[-2] - crop[0]), random.randint(0, image.shape[-1] - crop[1])
    return image[:, top : top + crop[0], left : left + crop[1]], mask[top : top + crop[0], left : left + crop[1]]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("crop", [(40, 40), (48, 30), (20, 70)])
def test_scale_crop_equals_resize_pad_crop(seed: int, crop: tuple[int, int]) -> None:
    """The mask is resized only inside the crop window, yet image and mask equal the whole-image pipeline's."""
    image, mask = _encoded_pair()
    random.seed(seed)
    expected_image, expected_mask = _resize_pad_crop(image, mask.to(torch.uint8), crop, (0.5, 2.0))
    random.seed(seed)
    out_image, out_mask = RandomScaleCrop(crop, 0.5, 2.0)(image, mask.to(torch.uint8))
    assert out_image.shape == (3, *crop) and out_mask.shape == crop and out_mask.dtype == torch.uint8
    assert torch.equal(out_image, expected_image) and torch.equal(out_mask, expected_mask)


def test_scale_crop_pads_bottom_right_with_0_and_255() -> None:
    """37x53 at scale 1 into a 48x30 crop: 11 padded rows; the one draw of `left` picks the columns."""
    image, mask = _encoded_pair()
    random.seed(3)
    out_image, out_mask = RandomScaleCrop((48, 30), 1.0, 1.0)(image, mask)
    random.seed(3)
    random.uniform(1.0, 1.0), random.randint(0, 0)
    left = random.randint(0, 53 - 30)
    assert torch.equal(out_mask[:37], mask[:, left : left + 30]) and (out_mask[37:] == 255).all()
    assert torch.equal(out_image[:, :37], image[:, :, left : left + 30]) and (out_image[:, 37:] == 0).all()


@pytest.mark.parametrize(("height", "width"), [(37, 53), (375, 500), (333, 500), (1, 7)])
@pytest.mark.parametrize("scale", [0.31, 0.5, 0.77, 1.0, 1.026, 1.37, 2.0, 3.3])
def test_nearest_window_equals_torch_nearest_exact(height: int, width: int, scale: float) -> None:
    mask = torch.randint(0, 256, (height, width), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    whole = F.resize(mask[None], list(size), interpolation=InterpolationMode.NEAREST_EXACT)[0]
    assert torch.equal(nearest_exact_window(mask, size, range(size[0]), range(size[1])), whole)
    rows, cols = range(size[0] // 3, size[0]), range(size[1] // 2, size[1] // 2 + 1)
    assert torch.equal(nearest_exact_window(mask, size, rows, cols), whole[size[0] // 3 :, cols.start : cols.stop])


@pytest.mark.parametrize("seed", range(6))
def test_scale_keeps_alignment_and_labels(seed: int) -> None:
    image, mask = _encoded_pair()
    random.seed(seed)
    scaled_image, scaled_mask = RandomScaleCrop((80, 110), 0.5, 2.0)(image, mask)
    assert scaled_image.shape[1:] == scaled_mask.shape
    assert set(scaled_mask.unique().tolist()) <= set(mask.unique().tolist())
    # Bilinear blends colours only next to label edges: away from them colour must name the mask's label.
    labelled = scaled_mask != 255
    neighbours = torch.nn.functional.max_pool2d(scaled_mask[None, None].float(), 3, 1, 1)[0, 0]
    low = -torch.nn.functional.max_pool2d(-scaled_mask[None, None].float(), 3, 1, 1)[0, 0]
    interior = labelled & (neighbours == low)
    assert interior.sum() > 0.3 * labelled.sum()
    assert torch.equal(_label_of_colour(scaled_image)[interior], scaled_mask[interior])


@pytest.mark.parametrize("seed", range(8))
def test_train_preset_alignment_and_no_invented_labels(seed: int) -> None:
    image, mask = _encoded_pair()
    pipeline = train_transforms(crop_size=40, scale_range=(0.7, 1.6))
    random.seed(seed)
    torch.manual_seed(seed)
    out_image, out_mask = pipeline(image, mask)
    assert out_image.shape == (3, 40, 40) and out_mask.shape == (40, 40) and out_mask.dtype == mask.dtype
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


def test_bad_scale_range() -> None:
    with pytest.raises(ValueError, match="min_scale"):
        RandomScaleCrop(32, 2.0, 0.5)
