"""The sections of `TrainConfig` other than `optim`: data, model, loss, early stopping, checkpoints.

Each section is a frozen pydantic model that rejects unknown keys and non-finite floats; its rules are
field constraints or validators, written once here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainer.config_errors import RuleViolation
from trainer.constants import NUM_CLASSES

Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]


class Section(BaseModel):
    """Base of every config section: frozen, no unknown keys, no inf or NaN."""

    # allow_inf_nan=False: no setting has a use for inf or NaN, and YAML reads `.inf` as a float.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SynthConfig(Section):
    """Generated VOC-format data, written to `data.root` on first use when the folder does not exist."""

    train: Annotated[int, Field(ge=1)] = 64
    val: Annotated[int, Field(ge=1)] = 32
    size: Annotated[int, Field(ge=32)] = 128
    seed: int = 0


class DataConfig(Section):
    """Where the VOC-layout data lives and how training crops are drawn.

    `root` is the folder that holds JPEGImages/ (for the real data set: VOCdevkit/VOC2012). Evaluation
    always runs on whole images at their own size. `augment_on` says where training images are decoded,
    scaled, cropped and flipped: `cpu`, in the loader workers, or `device`, batched on the training device
    (meant for CUDA, where nvJPEG decodes; it also runs on the CPU), which leaves the workers only reading
    files and masks. Both draw the same distribution of crops; `device` has no photometric distortion.
    """

    root: Path = Path("data/voc-synth")
    train_split: str = "train"
    val_split: str = "val"
    crop_size: Annotated[int, Field(ge=16)] = 513
    scale_min: Positive = 0.5
    scale_max: Positive = 2.0
    hflip: bool = True
    photometric: bool = False
    augment_on: Literal["cpu", "device"] = "cpu"
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

    @model_validator(mode="after")
    def _device_augmentation_is_geometric(self) -> DataConfig:
        if self.augment_on == "device" and self.photometric:
            raise RuleViolation(
                "device augmentation does only scale, crop and flip; set photometric to false, "
                "or augment_on to cpu to keep the colour jitter",
                key="augment_on",
                involves=("augment_on", "photometric"),
            )
        return self


class ModelConfig(Section):
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


class LossConfig(Section):
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


class EarlyStoppingConfig(Section):
    """Stop when val mIoU has not improved by more than `min_delta` for `patience` epochs (None: never)."""

    patience: Annotated[int, Field(ge=1)] | None = None
    min_delta: NonNegative = 0.0


class CheckpointConfig(Section):
    """Where `last.pt` and `best.pt` are written.

    With `resume`, a `last.pt` already in `dir` is picked up and training continues after its epoch; a
    checkpoint written by a different configuration is refused rather than mixed in.
    """

    dir: Path = Path("runs/train")
    resume: bool = True
