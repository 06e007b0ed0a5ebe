"""Whole-image evaluation on the val split, under the same device policy as training."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from trainer.checkpoint import load_checkpoint
from trainer.components import build_network, build_val_loader, device_policy
from trainer.config import TrainConfig
from trainer.constants import NUM_CLASSES, VOC_CLASSES
from trainer.errors import CheckpointError
from trainer.metrics import ConfusionMatrix
from trainer.runtime import DevicePolicy, seed_everything, use_cpu_share


@torch.inference_mode()
def evaluate(
    model: nn.Module, loader: DataLoader[Any], policy: DevicePolicy, *, after_batch: Callable[[], None] | None = None
) -> dict[str, float]:
    """Val metrics as `val/miou`, `val/pixel_accuracy`, `val/mean_class_accuracy`, `val/fw_iou` and
    `val/iou/<class>`; padded pixels (label 255) are ignored. The model is left in eval mode.

    `after_batch` runs after each batch; training passes its stop check, which may raise."""
    model.eval()
    confusion = ConfusionMatrix(NUM_CLASSES, device=policy.device)
    for images, masks in loader:
        with policy.autocast():
            logits = model(policy.images(images))
        confusion.update(logits.argmax(dim=1), masks.to(policy.device, non_blocking=True))
        if after_batch is not None:
            after_batch()
    metrics = confusion.compute().as_dict(VOC_CLASSES)
    return {f"val/{name}": value for name, value in metrics.items()}


def evaluate_checkpoint(config: TrainConfig, checkpoint: Path | None = None) -> dict[str, float]:
    """Val metrics of `checkpoint`'s weights, or of the freshly initialised network when it is None.

    Only the network and the val data are built, as `config` says and seeded like a training run, so the
    untrained figure is the one a training run starts from; the device, precision and CPU threads are
    training's too.
    """
    policy = device_policy(config)
    seed_everything(config.seed, deterministic=config.deterministic)
    model = build_network(config.model, initial_weights=checkpoint is None)
    if checkpoint is not None:
        try:
            model.load_state_dict(load_checkpoint(checkpoint, map_location="cpu")["model"])
        except RuntimeError as error:
            raise CheckpointError(f"{checkpoint}: weights do not fit the configured model ({error})") from error
    loader = build_val_loader(config.data)
    use_cpu_share()
    return evaluate(policy.place(model), loader, policy)
