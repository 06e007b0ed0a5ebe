"""One optimisation step, and reading its loss back without stalling the device.

`TrainStep` runs forward under the device policy, backward, optional clipping, the optimizer and the
schedule, and returns the loss as a tensor on the device: nothing in it waits for the GPU. `LossReadback`
collects those tensors and copies them to the host in one transfer every `DevicePolicy.loss_sync_every`
steps, where each value is checked for NaN or infinity and reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from trainer.components import TrainingParts
from trainer.errors import DivergedError
from trainer.runtime import DevicePolicy


class TrainStep:
    """Callable that trains on one batch and returns its loss, detached, as a 0-d tensor on the device.

    fp16 uses a gradient scaler, kept in `scaler` so checkpoints can save it; bf16 and float32 need none.
    """

    def __init__(self, parts: TrainingParts, policy: DevicePolicy, *, grad_clip_norm: float | None) -> None:
        self.parts = parts
        self.policy = policy
        self.grad_clip_norm = grad_clip_norm
        self.scaler = torch.amp.GradScaler(policy.device.type, enabled=policy.needs_grad_scaler)

    def __call__(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        parts, policy = self.parts, self.policy
        images = policy.images(images)
        masks = masks.to(policy.device, non_blocking=True)
        with policy.autocast():
            logits = parts.train_forward(images)
        loss = parts.loss(logits.float(), masks)
        parts.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip_norm is not None:
            self.scaler.unscale_(parts.optimizer)
            torch.nn.utils.clip_grad_norm_(parts.model.parameters(), self.grad_clip_norm)
        self.scaler.step(parts.optimizer)
        self.scaler.update()
        parts.scheduler.step()
        detached: torch.Tensor = loss.detach()
        return detached


IterationReport = Callable[[int, float, float], None]
"""`report(iteration, loss, lr)`, called in iteration order once each loss is on the host."""


class LossReadback:
    """The losses of one epoch, kept on the device and read back every `every` steps (and by `flush`).

    `add` stores a step's loss tensor with its iteration and learning rate (a Python float, which costs no
    sync). Every `every`-th `add`, and `flush`, copy the pending losses to the host in one transfer, raise
    `DivergedError` naming the first iteration whose loss is NaN or infinite, and pass the others to
    `report`. The losses between a divergence and its detection change nothing that is kept: the epoch's
    checkpoint is only written after the epoch.
    """

    def __init__(self, epoch: int, every: int, report: IterationReport) -> None:
        self.epoch, self.every, self.report = epoch, every, report
        self._pending: list[tuple[int, torch.Tensor, float]] = []
        self.total = 0.0
        self.count = 0

    def add(self, iteration: int, loss: torch.Tensor, lr: float) -> None:
        """Keep one step's loss; read the pending ones back when `every` have gathered."""
        self._pending.append((iteration, loss, lr))
        if len(self._pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        """Read every pending loss back now, check and report each."""
        if not self._pending:
            return
        values = torch.stack([loss for _, loss, _ in self._pending]).tolist()
        pending, self._pending = self._pending, []
        for (iteration, _, lr), value in zip(pending, values, strict=True):
            if not math.isfinite(value):
                raise DivergedError(self.epoch, iteration, value)
            self.total += value
            self.count += 1
            self.report(iteration, value, lr)

    @property
    def mean(self) -> float:
        """The mean of the losses read back so far (0 before any)."""
        return self.total / max(self.count, 1)
