"""The `optim` section: optimizer, learning-rate schedule and gradient clipping, with their rules."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from trainer.config.sections import Fraction, NonNegative, Positive, Section
from trainer.config_errors import RuleViolation


class OptimConfig(Section):
    """Optimizer, learning-rate schedule (stepped per iteration) and gradient clipping.

    Durations are in epochs (fractions allowed) so they survive a change of data set or batch size.
    `backbone_lr_mult` scales the backbone's learning rate against the head's.
    """

    name: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: Positive = 0.01
    momentum: Fraction = 0.9
    nesterov: bool = False
    betas: tuple[Fraction, Fraction] = (0.9, 0.999)
    weight_decay: NonNegative = 1e-4
    no_decay_bn_bias: bool = True
    backbone_lr_mult: Positive = 0.1
    schedule: Literal["poly", "cosine", "step", "constant"] = "poly"
    warmup_epochs: NonNegative = 0.0
    warmup_factor: Annotated[float, Field(gt=0.0, le=1.0)] = 0.001
    poly_power: Positive = 0.9
    min_lr: NonNegative = 0.0
    step_size: Positive = 10.0
    step_gamma: Annotated[float, Field(gt=0.0, le=1.0)] = 0.1
    grad_clip_norm: Positive | None = None

    @model_validator(mode="after")
    def _nesterov_needs_sgd_with_momentum(self) -> OptimConfig:
        if self.nesterov and (self.name != "sgd" or self.momentum == 0):
            raise RuleViolation(
                f"needs name 'sgd' and a momentum above 0 (got name {self.name!r}, momentum {self.momentum}); "
                "set nesterov to false, or use sgd with momentum",
                key="nesterov",
                involves=("name", "momentum", "nesterov"),
            )
        return self

    @model_validator(mode="after")
    def _min_lr_is_a_cosine_floor_below_every_lr(self) -> OptimConfig:
        if self.min_lr == 0:
            return self
        if self.schedule != "cosine":
            raise RuleViolation(
                f"is only used by the cosine schedule, not {self.schedule!r}; set min_lr to 0, or schedule to cosine",
                key="min_lr",
                involves=("schedule", "min_lr"),
            )
        # The backbone group runs at lr * backbone_lr_mult, the head at lr; the floor must stay below both.
        smallest_lr = self.lr * min(1.0, self.backbone_lr_mult)
        if self.min_lr >= smallest_lr:
            raise RuleViolation(
                f"{self.min_lr} must be below the smallest group lr, lr * min(1, backbone_lr_mult) = "
                f"{smallest_lr:g}; lower min_lr or raise lr",
                key="min_lr",
                involves=("lr", "backbone_lr_mult", "min_lr"),
            )
        return self
