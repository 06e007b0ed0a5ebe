"""The typed, frozen training configuration.

`TrainConfig` is the whole contract between a YAML file (or a sweep trial) and `trainer.train`. Every
section rejects unknown keys, so a typo fails before any work starts. Reading YAML, applying `--set`
overrides and turning validation errors into `ConfigError` live in `trainer.config_loading`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NUM_CLASSES = 21
"""Pascal VOC: 20 object classes and background (the data layer's `trainer.data.NUM_CLASSES`)."""

Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
            raise ValueError(f"scale_min ({self.scale_min}) must not exceed scale_max ({self.scale_max})")
        return self


class ModelConfig(_Section):
    """DeepLabV3+ on a torchvision backbone; see `trainer.model.build_model`."""

    backbone: Literal["resnet50", "resnet101", "mobilenet_v3_large"] = "resnet50"
    output_stride: Literal[8, 16] = 16
    separable: bool = False
    pretrained: bool = False
    weights_path: Path | None = None
    dropout: Fraction = 0.1


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
            raise ValueError("ce_weight and focal_weight are both 0; set at least one above 0")
        return self

    @model_validator(mode="after")
    def _one_value_per_class(self) -> LossConfig:
        for name, values in (("class_weights", self.class_weights), ("focal_alpha", self.focal_alpha)):
            if isinstance(values, list) and len(values) != NUM_CLASSES:
                raise ValueError(f"{name} has {len(values)} values; give one per VOC class ({NUM_CLASSES})")
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

    def to_dict(self) -> dict[str, Any]:
        """The config as plain YAML/JSON types (paths become strings)."""
        return self.model_dump(mode="json")
