"""Where and how the network runs: seeding, the CPU threads, the device, and the precision policy shared by
training and evaluation.

Training (`TrainStep`) and evaluation (`evaluate`) both move batches and run the forward pass through one
`DevicePolicy`, so a checkpoint evaluated on its own scores exactly what the training run reported.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from trainer.cpu_share import CPU_SHARE_LOGGER, CpuShare, cpu_share
from trainer.data.transforms import normalize_images
from trainer.errors import ConfigError

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
"""The `amp` settings that turn mixed precision on; any other value (`off`) runs in float32."""

log = logging.getLogger(CPU_SHARE_LOGGER)
_logged_share: list[CpuShare] = []


def use_cpu_share() -> CpuShare:
    """Give torch this process's share of the CPUs (`trainer.cpu_share`) as its intra-op threads, and log the
    choice in one line the first time, and again only if it changes. Training, evaluation and the cost
    measurement call it first. torch's inter-op pool is left alone: eager mode never starts it."""
    share = cpu_share(os.environ)
    torch.set_num_threads(share.threads)
    if _logged_share != [share]:
        log.info(share.text())
        _logged_share[:] = [share]
    return share


def seed_everything(seed: int, *, deterministic: bool) -> None:
    """Seed Python, NumPy and torch (all devices); `deterministic` trades cuDNN speed for repeatability."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present, else the CPU; an unusable explicit device is a `ConfigError`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError("device", f"{name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", f"{name!r} was asked for but CUDA is not available; use auto or cpu")
    return device


@dataclass(frozen=True)
class DevicePolicy:
    """The device, the autocast dtype (None: float32) and the memory format that every forward pass uses."""

    device: torch.device
    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False
    loss_sync_every: int = 1

    @classmethod
    def for_device(
        cls, device: torch.device, *, amp: str, channels_last: bool, loss_sync_every: int = 1
    ) -> DevicePolicy:
        """Mixed precision and reading the loss back only every `loss_sync_every` steps apply on CUDA: the
        CPU runs float32 whatever `amp` says, and reads each step's loss at once (it is already there)."""
        if device.type != "cuda":
            return cls(device, None, channels_last, 1)
        return cls(device, AUTOCAST_DTYPES.get(amp), channels_last, loss_sync_every)

    @property
    def needs_grad_scaler(self) -> bool:
        """fp16 gradients underflow without loss scaling; bf16 and float32 need none."""
        return self.autocast_dtype is torch.float16

    def place(self, model: nn.Module) -> nn.Module:
        """Move `model` to the device, in NHWC when `channels_last`."""
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def images(self, images: torch.Tensor) -> torch.Tensor:
        """The network's input from a batch of uint8 images [N, 3, H, W]: moved to the device (without waiting,
        from pinned memory), normalized there, in the model's memory format."""
        images = normalize_images(images.to(self.device, non_blocking=True))
        return images.contiguous(memory_format=torch.channels_last) if self.channels_last else images

    def autocast(self) -> torch.autocast:
        """The context to run a forward pass in."""
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None)
