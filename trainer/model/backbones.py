"""Feature extractors for DeepLabV3+: torchvision classification networks with dilated last stages.

Contract of every backbone built here: ``backbone(x)`` returns a dict with two tensors,

- ``"low_level"``: the stride-4 features the decoder refines edges with (`low_level_channels` channels);
- ``"out"``: the high-level features at ``output_stride`` (8 or 16) that feed ASPP (`high_level_channels`).

The output stride comes from dilation, never from cropping: strides of the last stage(s) are set to 1 and
their 3×3 convolutions dilated instead, so receptive fields and parameter shapes match the ImageNet
networks and their pretrained weights load unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn
from torchvision.models import (
    MobileNet_V3_Large_Weights,
    ResNet50_Weights,
    ResNet101_Weights,
    WeightsEnum,
    resnet50,
    resnet101,
)
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.mobilenetv3 import MobileNetV3, _mobilenet_v3_conf

OUTPUT_STRIDES: tuple[int, ...] = (8, 16)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and how its ImageNet checkpoint maps onto it.

    `classification_prefix` is the prefix of the feature-extractor keys in the torchvision classification
    state_dict (``"features."`` for MobileNetV3, whose backbone is the ``features`` Sequential); keys that
    start with one of `classifier_prefixes` (the ImageNet head) are dropped before loading.
    """

    name: str
    build: Callable[[int], nn.Module]
    imagenet_weights: WeightsEnum
    low_level_channels: int
    high_level_channels: int
    classification_prefix: str
    classifier_prefixes: tuple[str, ...]


def _resnet_extractor(factory: Callable[..., nn.Module]) -> Callable[[int], nn.Module]:
    def build(output_stride: int) -> nn.Module:
        # layer3 keeps its stride 2 at OS16; at OS8 layer3 and layer4 are both dilated.
        dilate = [False, output_stride == 8, True]
        network = factory(weights=None, replace_stride_with_dilation=dilate)
        extractor: nn.Module = IntermediateLayerGetter(network, return_layers={"layer1": "low_level", "layer4": "out"})
        return extractor

    return build


def _build_mobilenet_v3_large(output_stride: int) -> nn.Module:
    """MobileNetV3-large features, dilated the way torchvision's ``dilated=True`` does it.

    torchvision's ``InvertedResidual`` uses stride 1 in its depthwise conv whenever the config's
    dilation is above 1, and pads by ``dilation``. OS16 dilates the C4 stage by 2 (exactly
    ``mobilenet_v3_large(dilated=True)``); OS8 also dilates the C3 stage by 2 and C4 by 4, as the
    ResNets' ``replace_stride_with_dilation`` compounds dilation stage after stage.

    Stages are found as torchvision's segmentation models find them: a stage starts at each block that
    halves the resolution (the settings with stride 2, whose blocks torchvision marks ``_is_cn``).
    """
    settings, last_channel = _mobilenet_v3_conf("mobilenet_v3_large")
    *_, c3_start, c4_start = [index for index, setting in enumerate(settings) if setting.stride > 1]
    c3_dilation, c4_dilation = (1, 2) if output_stride == 16 else (2, 4)
    for index, setting in enumerate(settings):
        if index >= c4_start:
            setting.dilation = c4_dilation
        elif index >= c3_start:
            setting.dilation = c3_dilation
    # torchvision's momentum 0.01 suits ImageNet's 1.2M-image epochs; segmentation runs take a hundred
    # times fewer steps, and with 0.01 the eval-mode statistics lag the weights for thousands of steps.
    network = MobileNetV3(settings, last_channel, norm_layer=partial(nn.BatchNorm2d, eps=0.001, momentum=0.1))
    features = network.features
    stage_starts = [index for index, block in enumerate(features) if getattr(block, "_is_cn", False)]
    # Strides 4, 8, 16, 32 start at the last four stages; the block before the stride-8 stage is the last
    # at stride 4 (24 channels), and the final 1×1 conv (960 channels) is the high-level output.
    low_level = stage_starts[-3] - 1
    out = len(features) - 1
    extractor: nn.Module = IntermediateLayerGetter(
        features, return_layers={str(low_level): "low_level", str(out): "out"}
    )
    return extractor


BACKBONES: dict[str, BackboneSpec] = {
    "resnet50": BackboneSpec(
        name="resnet50",
        build=_resnet_extractor(resnet50),
        imagenet_weights=ResNet50_Weights.IMAGENET1K_V2,
        low_level_channels=256,
        high_level_channels=2048,
        classification_prefix="",
        classifier_prefixes=("fc.",),
    ),
    "resnet101": BackboneSpec(
        name="resnet101",
        build=_resnet_extractor(resnet101),
        imagenet_weights=ResNet101_Weights.IMAGENET1K_V2,
        low_level_channels=256,
        high_level_channels=2048,
        classification_prefix="",
        classifier_prefixes=("fc.",),
    ),
    "mobilenet_v3_large": BackboneSpec(
        name="mobilenet_v3_large",
        build=_build_mobilenet_v3_large,
        imagenet_weights=MobileNet_V3_Large_Weights.IMAGENET1K_V1,
        low_level_channels=24,
        high_level_channels=960,
        classification_prefix="features.",
        classifier_prefixes=("classifier.",),
    ),
}


def get_backbone_spec(name: str) -> BackboneSpec:
    """Return the spec registered under `name`; raise ValueError naming the choices."""
    try:
        return BACKBONES[name]
    except KeyError:
        allowed = ", ".join(sorted(BACKBONES))
        raise ValueError(f"backbone must be one of {allowed}, got {name!r}") from None


def build_backbone(name: str, output_stride: int) -> nn.Module:
    """Build backbone `name` (randomly initialised) producing ``{"low_level", "out"}`` at `output_stride`."""
    spec = get_backbone_spec(name)
    if output_stride not in OUTPUT_STRIDES:
        allowed = ", ".join(str(stride) for stride in OUTPUT_STRIDES)
        raise ValueError(f"output_stride must be one of {allowed}, got {output_stride!r}")
    return spec.build(output_stride)
