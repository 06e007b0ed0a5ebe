"""Random scale, crop and flip as batched tensor ops on the device, for `data.augment_on: device`.

`DeviceAugmentation` turns an `EncodedBatch` (JPEG bytes, masks and `CropParams` drawn by the loader) into
the training step's input: uint8 images [N, 3, crop, crop] and long masks [N, crop, crop] (255 where the
crop lies outside the resized image), on the device. On CUDA the JPEGs are decoded there by nvJPEG; on the
CPU the same code runs with libjpeg-turbo (tests, debugging).

Geometry (`apply_crops`) is the CPU pipeline's (`trainer.data.transforms`), written as one batched
resampling per axis instead of a resize followed by a crop:

* image: ``crop = Wy @ image @ Wxᵀ`` per sample and channel, where row ``i`` of ``Wy`` holds the weights
  that PyTorch's antialiased bilinear resize gives output row ``top + i`` (a triangle filter, widened by
  ``1/s`` when shrinking, renormalized at the image border). So the result equals ``F.resize(...,
  antialias=True)`` followed by the crop, up to rounding: within 1-2 grey levels of the CPU path's uint8
  kernel, which rounds between its two passes. Rows and columns of the crop past the resized image
  (the CPU path's padding) get no weight: 0.
* mask: nearest-neighbour at pixel centres (NEAREST_EXACT), gathered by index; padding is 255.
* flip: the column weights and indices are mirrored.

The dense ``Wy``/``Wx`` cost about ``2 * crop * H * W`` multiply-adds per channel and sample, trivial on
a GPU and ~0.3 s for 16 VOC images at crop 513 on two CPU cores.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torchvision.io import ImageReadMode, decode_jpeg

from trainer.constants import IGNORE_INDEX
from trainer.data.encoded import EncodedBatch


def decode_jpegs(jpegs: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """Decode 1-D uint8 JPEG byte tensors (on the CPU) to RGB uint8 [3, H, W] tensors on ``device``, in one
    batched call (nvJPEG on CUDA)."""
    with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders on every call
        warnings.simplefilter("ignore", DeprecationWarning)
        decoded: list[torch.Tensor] = decode_jpeg(jpegs, mode=ImageReadMode.RGB, device=device)
    return decoded


def pad_stack(tensors: Sequence[torch.Tensor], fill: int, device: torch.device) -> torch.Tensor:
    """Stack tensors [..., H_i, W_i] on ``device``, padded bottom/right with ``fill`` to the largest size."""
    height = max(tensor.shape[-2] for tensor in tensors)
    width = max(tensor.shape[-1] for tensor in tensors)
    first = tensors[0]
    stacked = torch.full((len(tensors), *first.shape[:-2], height, width), fill, dtype=first.dtype, device=device)
    for slot, tensor in zip(stacked, tensors, strict=True):
        slot[..., : tensor.shape[-2], : tensor.shape[-1]].copy_(tensor, non_blocking=True)
    return stacked


def resize_weights(source: torch.Tensor, scaled: torch.Tensor, start: torch.Tensor, crop: int, width: int) -> torch.Tensor:
    """Antialiased-bilinear weights [N, crop, width] along one axis.

    Sample ``n`` has ``source[n]`` pixels (of ``width``, the rest padding), resized to ``scaled[n]``; row
    ``i`` gives the weights of output pixel ``start[n] + i``, or zeros when that pixel is past ``scaled[n]``.
    """
    ratio = (source.float() / scaled.float())[:, None, None]  # source pixels per output pixel
    output = start[:, None] + torch.arange(crop, device=start.device)  # [N, crop]
    centres = ratio * (output[..., None].float() + 0.5)
    positions = torch.arange(width, device=start.device, dtype=torch.float32) + 0.5
    weights = (1 - (positions - centres).abs() / ratio.clamp(min=1)).clamp(min=0)
    weights = weights * (positions < source[:, None, None]).float()
    weights = weights / weights.sum(-1, keepdim=True).clamp(min=1e-12)
    inside: torch.Tensor = weights * (output < scaled[:, None])[..., None].float()
    return inside


def nearest_indices(source: torch.Tensor, scaled: torch.Tensor, start: torch.Tensor, crop: int) -> torch.Tensor:
    """NEAREST_EXACT source indices [N, crop] of output pixels ``start[n] + i``; -1 past ``scaled[n]``.

    The ratio is float32 and the product rounded to float32, as in PyTorch's kernel, so indices agree with
    ``F.resize(..., NEAREST_EXACT)`` exactly.
    """
    ratio = (source.float() / scaled.float())[:, None]
    output = start[:, None] + torch.arange(crop, device=start.device)
    index = ((output.double() + 0.5) * ratio.double()).float().floor().long()
    index = torch.minimum(index, source[:, None] - 1)
    return torch.where(output < scaled[:, None], index, -1)


def apply_crops(
    images: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], crops: torch.Tensor, crop_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop uint8 images [3, H_i, W_i] and masks [H_i, W_i] (any integer dtype, on any device) as the rows of
    ``crops`` (long [N, 5]: `CropParams`) say; returns uint8 [N, 3, crop, crop] and long [N, crop, crop] on
    the images' device."""
    device = images[0].device
    crops = crops.to(device)
    heights = torch.tensor([image.shape[-2] for image in images], device=device)
    widths = torch.tensor([image.shape[-1] for image in images], device=device)
    scaled_h, scaled_w, top, left, flip = crops.unbind(1)
    padded_images = pad_stack(images, 0, device).float()
    padded_masks = pad_stack(masks, IGNORE_INDEX, device)
    height, width = padded_images.shape[-2:]

    flip = flip.bool()
    rows = resize_weights(heights, scaled_h, top, crop_size, height)
    cols = resize_weights(widths, scaled_w, left, crop_size, width)
    cols = torch.where(flip[:, None, None], cols.flip(1), cols)
    resized = rows[:, None] @ padded_images @ cols[:, None].transpose(-1, -2)
    out_images = resized.round_().clamp_(0, 255).to(torch.uint8)

    row_index = nearest_indices(heights, scaled_h, top, crop_size)
    col_index = nearest_indices(widths, scaled_w, left, crop_size)
    col_index = torch.where(flip[:, None], col_index.flip(1), col_index)
    samples = torch.arange(len(masks), device=device)[:, None, None]
    gathered = padded_masks[samples, row_index.clamp(min=0)[:, :, None], col_index.clamp(min=0)[:, None, :]]
    inside = (row_index >= 0)[:, :, None] & (col_index >= 0)[:, None, :]
    out_masks = torch.where(inside, gathered.long(), IGNORE_INDEX)
    return out_images, out_masks


class DeviceAugmentation:
    """`TrainingParts.prepare_batch` for `EncodedBatch`es: decode on ``device``, then `apply_crops`.

    Results depend only on the batch (its `CropParams` were drawn in the loader from per-sample seeds), so
    training stays reproducible whatever ``num_workers`` is.
    """

    def __init__(self, *, crop_size: int, device: torch.device) -> None:
        self.crop_size, self.device = crop_size, device

    def __call__(self, batch: EncodedBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return apply_crops(decode_jpegs(batch.jpegs, self.device), batch.masks, batch.crops, self.crop_size)
