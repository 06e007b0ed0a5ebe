"""Device-side augmentation crops like the CPU pipeline: same geometry for the same draw, same distribution.

The distribution tests run both paths on a mask that encodes each pixel's source coordinates, recover from
every output crop its scale, centre, padded fraction and flip, and compare the two samples with two-sample
KS tests. Deliberately wrong samplers (negative controls) show the same tests fail when the distribution
is off.
"""

from __future__ import annotations

import random

import pytest
import torch
from scipy import stats
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from trainer.constants import IGNORE_INDEX
from trainer.data.crop_params import CropParams, CropSampler, RandomSource
from trainer.data.device_augment import apply_crops
from trainer.data.presets import train_transforms

HEIGHT, WIDTH, CROP = 60, 90, 64
SCALES = (0.5, 2.0)
SAMPLES = 500
CODE_OFFSET = 256  # coordinate codes start above IGNORE_INDEX, so padding stays recognisable


def _coordinate_pair(height: int = HEIGHT, width: int = WIDTH) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth uint8 image and a long mask whose value is ``CODE_OFFSET + y * width + x``."""
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    mask = CODE_OFFSET + ys * width + xs
    image = torch.stack([xs * 255 // (width - 1), ys * 255 // (height - 1), (xs + ys) % 256]).to(torch.uint8)
    return image, mask


CropStats = dict[str, list[float]]
"""Per statistic, its value for each crop of a sample: what the crops reveal about their geometry."""


def _crop_stats(masks: torch.Tensor) -> CropStats:
    """Scale, centre (as a fraction of the source), padded fraction and flip (1.0) of coordinate masks [N, H, W]."""
    valid = masks != IGNORE_INDEX
    codes = masks - CODE_OFFSET
    xs, ys = codes % WIDTH, codes // WIDTH
    columns = valid.any(1)  # [N, W]: output columns showing the image
    first = columns.int().argmax(1)
    last = columns.shape[1] - 1 - columns.flip(1).int().argmax(1)
    row = valid.any(2).int().argmax(1)  # the first output row showing the image
    samples = torch.arange(len(masks))
    first_x, last_x = xs[samples, row, first], xs[samples, row, last]
    pixels = valid.sum((1, 2))
    return {
        "scale": (columns.sum(1) / ((last_x - first_x).abs() + 1)).tolist(),
        "centre_x": ((xs * valid).sum((1, 2)) / pixels / WIDTH).tolist(),
        "centre_y": ((ys * valid).sum((1, 2)) / pixels / HEIGHT).tolist(),
        "padded": (1 - pixels / valid[0].numel()).tolist(),
        "flipped": (first_x > last_x).float().tolist(),
    }


def _cpu_crops(seeds: range) -> CropStats:
    transforms = train_transforms(crop_size=CROP, scale_range=SCALES, hflip=True)
    image, mask = _coordinate_pair()
    masks = []
    for seed in seeds:
        random.seed(seed)
        torch.manual_seed(seed)
        masks.append(transforms(image, mask)[1])
    return _crop_stats(torch.stack(masks))


def _device_crops(seeds: range, sampler: CropSampler) -> CropStats:
    image, mask = _coordinate_pair()
    crops = torch.tensor([sampler.draw(HEIGHT, WIDTH, random.Random(seed)) for seed in seeds])
    return _crop_stats(apply_crops([image] * len(seeds), [mask] * len(seeds), crops, CROP)[1])


def _p_values(cpu: CropStats, device: CropStats) -> dict[str, float]:
    """KS p-values per continuous statistic, and a binomial test of the device flip rate against 1/2."""
    p_values = {
        name: float(stats.ks_2samp(cpu[name], device[name]).pvalue)
        for name in ("scale", "centre_x", "centre_y", "padded")
    }
    p_values["flipped"] = float(stats.binomtest(int(sum(device["flipped"])), len(device["flipped"]), 0.5).pvalue)
    return p_values


@pytest.fixture(scope="module")
def cpu_crops() -> CropStats:
    return _cpu_crops(range(SAMPLES))


def test_device_crops_have_the_cpu_distribution(cpu_crops: CropStats) -> None:
    # Other seeds than the CPU sample's, so the two samples are independent draws.
    device = _device_crops(range(SAMPLES, 2 * SAMPLES), CropSampler(CROP, SCALES, hflip=True))
    p_values = _p_values(cpu_crops, device)
    assert min(p_values.values()) > 0.01, p_values


class _HalfwayCrop(CropSampler):
    """Bug: the crop's corner only ever lies in the first half of its range."""

    def draw(self, height: int, width: int, rng: RandomSource = random) -> CropParams:
        crop = super().draw(height, width, rng)
        return crop._replace(top=crop.top // 2, left=crop.left // 2)


class _NoFlip(CropSampler):
    """Bug: the flip is drawn but never applied."""

    def draw(self, height: int, width: int, rng: RandomSource = random) -> CropParams:
        return super().draw(height, width, rng)._replace(flip=False)


@pytest.mark.parametrize(
    ("sampler", "statistic"),
    [
        (CropSampler(CROP, (0.5, 1.5), hflip=True), "scale"),
        (_HalfwayCrop(CROP, SCALES, hflip=True), "centre_x"),
        (_HalfwayCrop(CROP, SCALES, hflip=True), "centre_y"),
        (_NoFlip(CROP, SCALES, hflip=True), "flipped"),
    ],
    ids=["scale-range", "crop-corner-x", "crop-corner-y", "no-flip"],
)
def test_a_wrong_distribution_is_detected(cpu_crops: CropStats, sampler: CropSampler, statistic: str) -> None:
    p_values = _p_values(cpu_crops, _device_crops(range(SAMPLES, 2 * SAMPLES), sampler))
    assert p_values[statistic] < 1e-4, p_values


def _cpu_reference(image: torch.Tensor, mask: torch.Tensor, crop: CropParams, size: int) -> tuple[torch.Tensor, ...]:
    """The CPU pipeline's steps (resize, pad, crop, flip) with the geometry fixed instead of drawn."""
    scaled = [crop.scaled_height, crop.scaled_width]
    image = F.resize(image, scaled, interpolation=InterpolationMode.BILINEAR, antialias=True)
    mask = F.resize(mask[None], scaled, interpolation=InterpolationMode.NEAREST_EXACT)[0]
    padding = [0, 0, max(0, size - crop.scaled_width), max(0, size - crop.scaled_height)]
    image, mask = F.pad(image, padding, fill=0), F.pad(mask[None], padding, fill=IGNORE_INDEX)[0]
    image = image[:, crop.top : crop.top + size, crop.left : crop.left + size]
    mask = mask[crop.top : crop.top + size, crop.left : crop.left + size]
    return (image.flip(-1), mask.flip(-1)) if crop.flip else (image, mask)


@pytest.mark.parametrize("seed", range(40))
def test_a_fixed_crop_matches_the_cpu_pipeline(seed: int) -> None:
    """Masks agree exactly; images within 1 grey level (the CPU uint8 kernel rounds between its passes),
    at every scale of the range, shrinking included."""
    image, _ = _coordinate_pair(173, 251)
    image = F.gaussian_blur(image, [5, 5])
    mask = torch.randint(0, 21, (173, 251), generator=torch.Generator().manual_seed(seed))
    crop = CropSampler(97, SCALES, hflip=True).draw(173, 251, random.Random(seed))
    expected_image, expected_mask = _cpu_reference(image, mask, crop, 97)
    images, masks = apply_crops([image], [mask], torch.tensor([crop]), 97)
    assert torch.equal(masks[0], expected_mask)
    assert (images[0].int() - expected_image.int()).abs().max() <= 1


def test_a_batch_of_different_sizes_crops_each_sample_as_alone() -> None:
    """Padding the batch to its largest image must not leak into a smaller image's border pixels."""
    pairs = [_coordinate_pair(40, 70), _coordinate_pair(90, 30)]
    crops = [CropParams(53, 93, 0, 20, False), CropParams(180, 60, 100, 0, True)]
    images, masks = apply_crops([p[0] for p in pairs], [p[1] for p in pairs], torch.tensor(crops), 64)
    for index, ((image, mask), crop) in enumerate(zip(pairs, crops, strict=True)):
        alone_images, alone_masks = apply_crops([image], [mask], torch.tensor([crop]), 64)
        assert torch.equal(images[index], alone_images[0]) and torch.equal(masks[index], alone_masks[0])


def test_draws_stay_inside_the_padded_image() -> None:
    sampler = CropSampler(CROP, SCALES, hflip=True)
    for seed in range(200):
        crop = sampler.draw(HEIGHT, WIDTH, random.Random(seed))
        assert 0 <= crop.top <= max(crop.scaled_height, CROP) - CROP
        assert 0 <= crop.left <= max(crop.scaled_width, CROP) - CROP
        assert round(HEIGHT * 0.5) <= crop.scaled_height <= round(HEIGHT * 2.0)


def test_a_bad_scale_range_is_refused() -> None:
    with pytest.raises(ValueError, match="min_scale <= max_scale"):
        CropSampler(CROP, (2.0, 1.0))
