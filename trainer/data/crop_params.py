"""The random geometry of one training crop, drawn apart from the pixels so another device can apply it.

`CropSampler.draw` is the one definition of a training crop's geometry, which the CPU pipeline
(`trainer.data.transforms.RandomScaleCrop`) and the device path (`trainer.data.device_augment`) both
apply: a scale ``s ~ U[scale_min, scale_max]`` gives the resized size ``(round(H*s), round(W*s))`` (at
least 1); a side shorter than the crop is padded at the bottom/right; the crop's top and left are uniform
integers over the padded image, and the crop is mirrored left-right with probability 0.5 when ``hflip``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import NamedTuple, Protocol


class RandomSource(Protocol):
    """What `CropSampler.draw` needs from a generator: Python's `random` module or a `random.Random`."""

    def uniform(self, a: float, b: float) -> float: ...

    def randint(self, a: int, b: int) -> int: ...

    def random(self) -> float: ...


class CropParams(NamedTuple):
    """Where one crop comes from: the image resized to ``scaled_height x scaled_width`` (before padding),
    the crop's top-left corner in that resized image, and whether the crop is then mirrored left-right."""

    scaled_height: int
    scaled_width: int
    top: int
    left: int
    flip: bool


@dataclass(frozen=True)
class CropSampler:
    """Draws `CropParams` for crops of ``crop_size`` (a side, or (height, width)) from ``scale_range`` and
    ``hflip``; without ``hflip`` no flip is drawn, so the generator's sequence is scale, top, left."""

    crop_size: int | tuple[int, int]
    scale_range: tuple[float, float] = (0.5, 2.0)
    hflip: bool = True

    @property
    def crop_shape(self) -> tuple[int, int]:
        """The crop's (height, width)."""
        size = self.crop_size
        return (size, size) if isinstance(size, int) else (size[0], size[1])

    def __post_init__(self) -> None:
        low, high = self.scale_range
        if not 0 < low <= high:
            raise ValueError(f"need 0 < min_scale <= max_scale, got {low}, {high}")

    def draw(self, height: int, width: int, rng: RandomSource = random) -> CropParams:
        """The crop of an image ``height x width``, from ``rng`` (by default `random`, which the training
        loader seeds per sample; see `trainer.data.loader.SeededAugmentation`)."""
        scale = rng.uniform(*self.scale_range)
        scaled_height, scaled_width = max(1, round(height * scale)), max(1, round(width * scale))
        crop_height, crop_width = self.crop_shape
        top = rng.randint(0, max(scaled_height, crop_height) - crop_height)
        left = rng.randint(0, max(scaled_width, crop_width) - crop_width)
        flip = self.hflip and rng.random() < 0.5
        return CropParams(scaled_height, scaled_width, top, left, flip)
