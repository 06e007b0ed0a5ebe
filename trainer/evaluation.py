"""Whole-image evaluation on the val split."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from trainer.config import TrainConfig
from trainer.data import NUM_CLASSES, VOC_CLASSES
from trainer.metrics import ConfusionMatrix


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> dict[str, float]:
    """Val metrics as `val/miou`, `val/pixel_accuracy`, `val/mean_class_accuracy`, `val/fw_iou` and
    `val/iou/<class>`; padded pixels (label 255) are ignored. The model is left in eval mode."""
    model.eval()
    confusion = ConfusionMatrix(NUM_CLASSES, device=device)
    for images, masks in loader:
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logits = model(images)
        confusion.update(logits.argmax(dim=1), masks.to(device, non_blocking=True))
    metrics = confusion.compute().as_dict(VOC_CLASSES)
    return {f"val/{name}": value for name, value in metrics.items()}


def evaluate_checkpoint(config: TrainConfig, checkpoint: Path | None = None) -> dict[str, float]:
    """Val metrics of `checkpoint`'s weights, or of the freshly initialised network when it is None.

    The network and the val data are built as `config` says (seeded like a training run), so the
    untrained figure is the one a training run starts from.
    """
    from trainer.checkpoint import load_checkpoint
    from trainer.components import build_parts, resolve_device
    from trainer.engine import seed_everything

    device = resolve_device(config.device)
    seed_everything(config.seed, deterministic=config.deterministic)
    parts = build_parts(config, device)
    if checkpoint is not None:
        parts.model.load_state_dict(load_checkpoint(checkpoint, map_location=device)["model"])
    return evaluate(parts.model, parts.val_loader, device, channels_last=config.channels_last)
