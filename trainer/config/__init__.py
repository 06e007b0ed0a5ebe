"""The typed, frozen training configuration.

`TrainConfig` is the whole contract between a YAML file (or a sweep trial) and `trainer.train`. Every
section rejects unknown keys, so a typo fails before any work starts. Reading YAML, applying `--set`
overrides and turning validation errors into `ConfigError` live in `trainer.config_loading`.

Every rule about config values lives here, once, as a field constraint or a validator, so a bad value
(or a bad combination, such as `nesterov` with Adam) fails when the config is read, not when a factory
meets it mid-run. Rules between fields raise `RuleViolation`, which names the field to blame and the
fields the rule reads. The factories (`trainer.optim`, `trainer.schedules`, `trainer.losses`,
`trainer.model`) check only their own arguments.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from trainer.config.optim import OptimConfig
from trainer.config.sections import (
    CheckpointConfig,
    DataConfig,
    EarlyStoppingConfig,
    LossConfig,
    ModelConfig,
    Section,
    SynthConfig,
)
from trainer.config_errors import RuleViolation

__all__ = [
    "CheckpointConfig",
    "DataConfig",
    "EarlyStoppingConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "SynthConfig",
    "TrainConfig",
]


class TrainConfig(Section):
    """Everything `trainer.train` needs. Build it with `trainer.load_config` or `config_from_dict`.

    `amp` applies on CUDA only (the CPU trains in float32). `channels_last` (NHWC) applies everywhere:
    it speeds up DeepLabV3+ training on CPUs too (about 1.45x for ResNet-50 at 256 px, docs/performance.md).
    `compile` runs the training forward and backward through `torch.compile` (evaluation, on whole images
    of varying sizes, stays eager). `loss_sync_every` is how many steps the loss stays on a CUDA device
    before it is read back, checked for NaN and reported: reading it every step would stall the GPU each
    time. The CPU reads it every step, which costs nothing there.
    """

    seed: int = 0
    epochs: Annotated[int, Field(ge=1)] = 30
    device: str = "auto"
    amp: Literal["off", "bf16", "fp16"] = "bf16"
    channels_last: bool = True
    compile: bool = False
    loss_sync_every: Annotated[int, Field(ge=1)] = 25
    deterministic: bool = False
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()

    @field_validator("device")
    @classmethod
    def _device_is_spelled_right(cls, device: str) -> str:
        # Whether CUDA is present is checked when training starts, on the machine that trains.
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
            raise ValueError(f"{device!r} is not a device; use auto, cpu, cuda or cuda:N (N: a GPU index)")
        return device

    @model_validator(mode="after")
    def _warmup_ends_before_training(self) -> TrainConfig:
        if self.optim.warmup_epochs >= self.epochs:
            raise RuleViolation(
                f"warmup must end before training does, but it lasts {self.optim.warmup_epochs} of {self.epochs} "
                "epochs; lower optim.warmup_epochs or raise epochs",
                key="optim.warmup_epochs",
                involves=("epochs", "optim.warmup_epochs"),
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """The config as plain YAML/JSON types (paths become strings)."""
        return self.model_dump(mode="json")
