"""DeepLabV3+ = backbone (feature extractor) + head (ASPP, decoder, classifier), and its builder."""

from __future__ import annotations

from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn

from trainer.model.backbones import BackboneSpec, build_backbone, get_backbone_spec
from trainer.model.heads import DeepLabV3PlusHead
from trainer.model.weights import load_imagenet_weights, load_weights_file


class DeepLabV3Plus(nn.Module):
    """Semantic segmentation network: ``forward(x[N, 3, H, W]) -> logits[N, num_classes, H, W]``.

    Any H and W are accepted (odd sizes included); logits are bilinearly upsampled (align_corners=False)
    from stride 4 back to the input size. `backbone` and `head` are separate attributes so the optimizer
    can give the pretrained backbone its own learning-rate multiplier: every parameter is in exactly one
    of ``backbone.parameters()`` and ``head.parameters()``.
    """

    def __init__(self, backbone: nn.Module, head: DeepLabV3PlusHead, *, spec: BackboneSpec, output_stride: int):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.backbone_name = spec.name
        self.output_stride = output_stride

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.head(self.backbone(x))
        if logits.shape[-2:] != x.shape[-2:]:
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits


def build_model(
    backbone: str,
    num_classes: int = 21,
    output_stride: int = 16,
    pretrained: bool = False,
    separable: bool = False,
    weights_path: str | Path | None = None,
    dropout: float = 0.1,
    *,
    progress: bool = False,
) -> DeepLabV3Plus:
    """Build a DeepLabV3+ with backbone ``resnet50``, ``resnet101`` or ``mobilenet_v3_large``.

    - `output_stride` 16 or 8 sets the backbone's dilation and the ASPP rates (6/12/18 or 12/24/36).
    - `separable` makes ASPP's atrous branches and the decoder's 3×3 convs depthwise-separable.
    - `pretrained` loads torchvision's ImageNet weights into the backbone (torch.hub cache, then web).
    - `weights_path` loads a local torchvision classification state_dict into the backbone, or a full
      DeepLabV3Plus state_dict into the whole model (detected from the keys); it cannot be combined
      with `pretrained`, since one would silently overwrite the other.

    Raises ValueError naming the argument for invalid arguments, and WeightsError when weights cannot be
    found or do not match.
    """
    spec = get_backbone_spec(backbone)
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if pretrained and weights_path is not None:
        raise ValueError("pass either pretrained=True or weights_path, not both: one would overwrite the other")
    feature_extractor = build_backbone(backbone, output_stride)
    head = DeepLabV3PlusHead(
        low_level_channels=spec.low_level_channels,
        high_level_channels=spec.high_level_channels,
        num_classes=num_classes,
        output_stride=output_stride,
        separable=separable,
        dropout=dropout,
    )
    model = DeepLabV3Plus(feature_extractor, head, spec=spec, output_stride=output_stride)
    if pretrained:
        load_imagenet_weights(model.backbone, spec, progress=progress)
    elif weights_path is not None:
        load_weights_file(model, spec, weights_path)
    return model
