"""Training samples left JPEG-encoded, for augmentation on the device (`trainer.data.device_augment`).

A loader worker then only reads the JPEG's bytes and header, decodes the (small, PNG) mask and draws the
crop's geometry; decoding, resizing and cropping the image happen batched on the device. The draw uses
Python's `random`, which the training loader seeds per sample, so the crops are a pure function of
(seed, epoch, index) whatever ``num_workers`` is.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch

from trainer.data.crop_params import CropParams, CropSampler
from trainer.data.voc import VOCSegmentation, check_same_size, read_image_header, read_mask
from trainer.errors import DatasetError


class EncodedSample(NamedTuple):
    """One training sample: JPEG bytes (uint8 [B]), the mask (uint8 [H, W]) and its crop's geometry."""

    jpeg: torch.Tensor
    mask: torch.Tensor
    crop: CropParams


class EncodedBatch(NamedTuple):
    """`collate_encoded`'s batch: N JPEGs and N masks of their own sizes, and the crops as long [N, 5]
    rows of (scaled_height, scaled_width, top, left, flip)."""

    jpegs: list[torch.Tensor]
    masks: list[torch.Tensor]
    crops: torch.Tensor


def collate_encoded(samples: Sequence[EncodedSample]) -> EncodedBatch:
    """Batch `EncodedSample`s without decoding or resizing anything."""
    crops = torch.tensor([[int(value) for value in sample.crop] for sample in samples], dtype=torch.long)
    return EncodedBatch([sample.jpeg for sample in samples], [sample.mask for sample in samples], crops)


def jpeg_size(data: bytes, path: Path) -> tuple[int, int]:
    """(H, W) from a JPEG's header without decoding it; `DatasetError` naming `path` if it is no JPEG."""
    kind, size = read_image_header(io.BytesIO(data), path)
    if kind != "JPEG":
        raise DatasetError(
            path, f"is a {kind} file; data.augment_on: device decodes JPEG only (re-encode it, or augment on the cpu)"
        )
    return size


class EncodedVOCSegmentation(torch.utils.data.Dataset[EncodedSample]):
    """The split of `VOCSegmentation` (same files and checks) as `EncodedSample`s cropped by ``crops``.

    A file found unusable while loading raises `DatasetError` naming it: a mask as in `VOCSegmentation`, an
    image that is not a JPEG, or one whose header size differs from its mask's. A JPEG whose body is
    corrupt fails later, when the device decodes the batch.
    """

    def __init__(self, root: str | Path, split: str, *, crops: CropSampler) -> None:
        self.files = VOCSegmentation(root, split)
        self.crops = crops

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> EncodedSample:
        image_path, mask_path = self.files.image_path(index), self.files.mask_path(index)
        data = image_path.read_bytes()
        size = jpeg_size(data, image_path)
        mask = torch.from_numpy(read_mask(mask_path))
        check_same_size(size, tuple(mask.shape), mask_path)
        jpeg = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        return EncodedSample(jpeg, mask, self.crops.draw(*size))
