"""DeepLabV3+ model: `build_model` builds it, `BACKBONES` lists the supported feature extractors."""

from trainer.model.backbones import BACKBONES, OUTPUT_STRIDES, BackboneSpec
from trainer.model.deeplabv3plus import DeepLabV3Plus, build_model

__all__ = ["BACKBONES", "OUTPUT_STRIDES", "BackboneSpec", "DeepLabV3Plus", "build_model"]
