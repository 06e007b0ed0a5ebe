"""One optimisation step: forward under autocast, backward, optional clipping, optimizer and schedule."""

from __future__ import annotations

import torch

from trainer.components import TrainingParts
from trainer.config import TrainConfig

_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class TrainStep:
    """Callable that trains on one batch and returns its loss as a Python float.

    Mixed precision applies on CUDA only; channels_last everywhere. fp16 uses a gradient scaler (kept in
    `scaler` so checkpoints can save it); bf16 and float32 need none.
    """

    def __init__(self, parts: TrainingParts, device: torch.device, config: TrainConfig) -> None:
        self.parts = parts
        self.device = device
        on_cuda = device.type == "cuda"
        self.autocast_dtype = _AUTOCAST_DTYPES.get(config.amp) if on_cuda else None
        self.channels_last = config.channels_last
        self.grad_clip_norm = config.optim.grad_clip_norm
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.autocast_dtype is torch.float16)

    def __call__(self, images: torch.Tensor, masks: torch.Tensor) -> float:
        parts = self.parts
        images = images.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        masks = masks.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            logits = parts.model(images)
        loss = parts.loss(logits.float(), masks)
        parts.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip_norm is not None:
            self.scaler.unscale_(parts.optimizer)
            torch.nn.utils.clip_grad_norm_(parts.model.parameters(), self.grad_clip_norm)
        self.scaler.step(parts.optimizer)
        self.scaler.update()
        parts.scheduler.step()
        return float(loss.detach())
