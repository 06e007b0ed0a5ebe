"""One optimisation step: forward under the device policy, backward, optional clipping, optimizer and schedule."""

from __future__ import annotations

import torch

from trainer.components import TrainingParts
from trainer.runtime import DevicePolicy


class TrainStep:
    """Callable that trains on one batch and returns its loss as a Python float.

    fp16 uses a gradient scaler, kept in `scaler` so checkpoints can save it; bf16 and float32 need none.
    """

    def __init__(self, parts: TrainingParts, policy: DevicePolicy, *, grad_clip_norm: float | None) -> None:
        self.parts = parts
        self.policy = policy
        self.grad_clip_norm = grad_clip_norm
        self.scaler = torch.amp.GradScaler(policy.device.type, enabled=policy.needs_grad_scaler)

    def __call__(self, images: torch.Tensor, masks: torch.Tensor) -> float:
        parts, policy = self.parts, self.policy
        images = policy.images(images)
        masks = masks.to(policy.device, non_blocking=True)
        with policy.autocast():
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
