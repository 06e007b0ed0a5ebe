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
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trainer.config_errors import RuleViolation
from trainer.constants import NUM_CLASSES

Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]


class _Section(BaseModel):
    # allow_inf_nan=False: no setting has a use for inf or NaN, and YAML reads `.inf` as a float.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SynthConfig(_Section):
    """Generated VOC-format data, written to `data.root` on first use when the folder does not exist."""

    train: Annotated[int, Field(ge=1)] = 64
    val: Annotated[int, Field(ge=1)] = 32
    size: Annotated[int, Field(ge=32)] = 128
    seed: int = 0


class DataConfig(_Section):
    """Where the VOC-layout data lives and how training crops are drawn.

    `root` is the folder that holds JPEGImages/ (for the real data set: VOCdevkit/VOC2012). Evaluation
    always runs on whole images at their own size.
    """

    root: Path = Path("data/voc-synth")
    train_split: str = "train"
    val_split: str = "val"
    crop_size: Annotated[int, Field(ge=16)] = 513
    scale_min: Positive = 0.5
    scale_max: Positive = 2.0
    hflip: bool = True
    photometric: bool = False
    batch_size: Annotated[int, Field(ge=1)] = 16
    eval_batch_size: Annotated[int, Field(ge=1)] = 1
    num_workers: Annotated[int, Field(ge=0)] = 4
    synthesize: SynthConfig | None = None

    @model_validator(mode="after")
    def _scale_range_is_ordered(self) -> DataConfig:
        if self.scale_min > self.scale_max:
            raise RuleViolation(
                f"scale_min ({self.scale_min}) must not exceed scale_max ({self.scale_max}); swap them",
                involves=("scale_min", "scale_max"),
            )
        return self


class ModelConfig(_Section):
    """DeepLabV3+ on a torchvision backbone; see `trainer.model.build_model`."""

    backbone: Literal["resnet50", "resnet101", "mobilenet_v3_large"] = "resnet50"
    output_stride: Literal[8, 16] = 16
    separable: bool = False
    pretrained: bool = False
    weights_path: Path | None = None
    dropout: Fraction = 0.1

    @model_validator(mode="after")
    def _one_source_of_initial_weights(self) -> ModelConfig:
        if self.pretrained and self.weights_path is not None:
            raise RuleViolation(
                "cannot be combined with pretrained: true, since one would overwrite the other; "
                "set pretrained to false to load this file, or remove weights_path for ImageNet weights",
                key="weights_path",
                involves=("pretrained", "weights_path"),
            )
        return self


class LossConfig(_Section):
    """A weighted sum of cross-entropy and softmax focal loss, both ignoring label 255.

    `class_weights` turns CE into weighted CE: `none`, `stats` (from `trainer data stats` on the train
    split) or an explicit list of 21 weights. `focal_alpha` is the focal loss's optional per-class weight.
    """

    ce_weight: NonNegative = 1.0
    focal_weight: NonNegative = 0.0
    focal_gamma: NonNegative = 2.0
    focal_alpha: list[NonNegative] | None = None
    class_weights: Literal["none", "stats"] | list[NonNegative] = "none"

    @model_validator(mode="after")
    def _some_component_is_on(self) -> LossConfig:
        if self.ce_weight == 0 and self.focal_weight == 0:
            raise RuleViolation(
                "ce_weight and focal_weight are both 0, which leaves nothing to train on; set at least one above 0",
                involves=("ce_weight", "focal_weight"),
            )
        return self

    @model_validator(mode="after")
    def _one_value_per_class(self) -> LossConfig:
        for name, values in (("class_weights", self.class_weights), ("focal_alpha", self.focal_alpha)):
            if not isinstance(values, list):
                continue
            if len(values) != NUM_CLASSES:
                raise ValueError(f"{name} has {len(values)} values; give one per VOC class ({NUM_CLASSES})")
            if not any(values):
                raise ValueError(f"{name} are all 0, which switches the loss off for every class; raise some")
        return self


class OptimConfig(_Section):
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


class EarlyStoppingConfig(_Section):
    """Stop when val mIoU has not improved by more than `min_delta` for `patience` epochs (None: never)."""

    patience: Annotated[int, Field(ge=1)] | None = None
    min_delta: NonNegative = 0.0


class CheckpointConfig(_Section):
    """Where `last.pt` and `best.pt` are written.

    With `resume`, a `last.pt` already in `dir` is picked up and training continues after its epoch; a
    checkpoint written by a different configuration is refused rather than mixed in.
    """

    dir: Path = Path("runs/train")
    resume: bool = True


class TrainConfig(_Section):
    """Everything `trainer.train` needs. Build it with `trainer.load_config` or `config_from_dict`.

    `amp` applies on CUDA only (the CPU trains in float32). `channels_last` (NHWC) applies everywhere:
    it speeds up DeepLabV3+ training on CPUs too (about 1.45x for ResNet-50 at 256 px, docs/performance.md).
    """

    seed: int = 0
    epochs: Annotated[int, Field(ge=1)] = 30
    device: str = "auto"
    amp: Literal["off", "bf16", "fp16"] = "bf16"
    channels_last: bool = True
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
