"""Build every part of a training run from a `TrainConfig`: device policy, loaders, model, loss, optimizer, schedule.

This is the one place that maps config keys onto the keyword arguments of the library's factories, so
the factories themselves stay free of configuration classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, default_collate

from trainer.config import DataConfig, ModelConfig, TrainConfig
from trainer.constants import NUM_CLASSES
from trainer.data.crop_params import CropSampler
from trainer.data.device_augment import DeviceAugmentation
from trainer.data.encoded import EncodedVOCSegmentation, collate_encoded
from trainer.data.loader import make_eval_loader, make_train_loader
from trainer.data.presets import eval_transforms, train_transforms
from trainer.data.provision import ensure_data
from trainer.data.stats import split_stats
from trainer.data.voc import VOCSegmentation
from trainer.errors import ConfigError
from trainer.losses import build_loss
from trainer.model import build_model
from trainer.optim import build_optimizer
from trainer.runtime import DevicePolicy, resolve_device
from trainer.schedules import build_scheduler

Batch = tuple[torch.Tensor, torch.Tensor]


def batch_as_loaded(batch: Any) -> Batch:
    """The default `TrainingParts.prepare_batch`: the loader already yields (uint8 images, masks)."""
    images, masks = batch
    return images, masks


@dataclass
class TrainingParts:
    """The live objects of one training run.

    `train_forward` is what training calls: `model` itself, or `model` under `torch.compile` (checkpoints
    and evaluation use `model`). `prepare_batch` turns one item of `train_loader` into (uint8 images
    [N, 3, H, W], long masks [N, H, W]), on the CPU or already on the device.
    """

    model: nn.Module
    loss: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    train_loader: DataLoader[Any]
    val_loader: DataLoader[Any]
    train_forward: nn.Module
    prepare_batch: Callable[[Any], Batch] = batch_as_loaded


def device_policy(config: TrainConfig) -> DevicePolicy:
    """The device and precision that training and evaluation both run with."""
    return DevicePolicy.for_device(
        resolve_device(config.device),
        amp=config.amp,
        channels_last=config.channels_last,
        loss_sync_every=config.loss_sync_every,
    )


def build_network(model: ModelConfig, *, initial_weights: bool = True) -> nn.Module:
    """DeepLabV3+ as `model` describes; `initial_weights=False` skips ImageNet or file weights, for
    callers that load a trained checkpoint next."""
    return build_model(
        model.backbone,
        num_classes=NUM_CLASSES,
        output_stride=model.output_stride,
        pretrained=model.pretrained and initial_weights,
        separable=model.separable,
        weights_path=model.weights_path if initial_weights else None,
        dropout=model.dropout,
    )


def build_val_loader(data: DataConfig) -> DataLoader[Any]:
    """Whole val images in split order, generating the data first if it is synthetic and absent."""
    val_set = VOCSegmentation(ensure_data(data), data.val_split, transforms=eval_transforms())
    return make_eval_loader(val_set, batch_size=data.eval_batch_size, num_workers=data.num_workers)


def build_parts(config: TrainConfig, policy: DevicePolicy) -> TrainingParts:
    """Construct loaders, model, loss, optimizer and scheduler, with the model placed as `policy` says."""
    data = config.data
    root = ensure_data(data)
    train_set, collate, prepare_batch = _training_data(data, root, policy)
    val_loader = build_val_loader(data)
    if data.batch_size > len(train_set):
        raise ConfigError(
            "data.batch_size",
            f"{data.batch_size} exceeds the {len(train_set)} images of split {data.train_split!r}; "
            "lower it so that an epoch has at least one full batch",
        )
    train_loader = make_train_loader(
        train_set, batch_size=data.batch_size, seed=config.seed, num_workers=data.num_workers, collate_fn=collate
    )
    model = policy.place(build_network(config.model))

    loss = build_loss(
        ce_weight=config.loss.ce_weight,
        focal_weight=config.loss.focal_weight,
        focal_gamma=config.loss.focal_gamma,
        focal_alpha=config.loss.focal_alpha,
        class_weights=_class_weights(config, root),
        num_classes=NUM_CLASSES,
    ).to(policy.device)

    optim = config.optim
    optimizer = build_optimizer(
        model,
        name=optim.name,
        lr=optim.lr,
        momentum=optim.momentum,
        nesterov=optim.nesterov,
        weight_decay=optim.weight_decay,
        betas=optim.betas,
        backbone_lr_mult=optim.backbone_lr_mult,
        no_decay_bn_bias=optim.no_decay_bn_bias,
    )
    iterations_per_epoch = len(train_loader)
    scheduler = build_scheduler(
        optimizer,
        name=optim.schedule,
        total_iters=config.epochs * iterations_per_epoch,
        warmup_iters=round(optim.warmup_epochs * iterations_per_epoch),
        warmup_factor=optim.warmup_factor,
        step_size=max(1, round(optim.step_size * iterations_per_epoch)),
        gamma=optim.step_gamma,
        min_lr=optim.min_lr,
        power=optim.poly_power,
    )
    train_forward: nn.Module = torch.compile(model) if config.compile else model  # type: ignore[assignment]
    return TrainingParts(model, loss, optimizer, scheduler, train_loader, val_loader, train_forward, prepare_batch)


def _training_data(
    data: DataConfig, root: Path, policy: DevicePolicy
) -> tuple[VOCSegmentation | EncodedVOCSegmentation, Callable[[list[Any]], Any], Callable[[Any], Batch]]:
    """The train split, its loader's collate function and the `prepare_batch` for `data.augment_on`."""
    scale_range = (data.scale_min, data.scale_max)
    if data.augment_on == "device":
        crops = CropSampler(data.crop_size, scale_range, data.hflip)
        return (
            EncodedVOCSegmentation(root, data.train_split, crops=crops),
            collate_encoded,
            DeviceAugmentation(crop_size=data.crop_size, device=policy.device),
        )
    transforms = train_transforms(
        crop_size=data.crop_size, scale_range=scale_range, hflip=data.hflip, photometric=data.photometric
    )
    return VOCSegmentation(root, data.train_split, transforms=transforms), default_collate, batch_as_loaded


def _class_weights(config: TrainConfig, root: Path) -> list[float] | None:
    choice = config.loss.class_weights
    if choice == "none":
        return None
    if choice == "stats":
        return list(split_stats(root, config.data.train_split).class_weights)
    return list(choice)
