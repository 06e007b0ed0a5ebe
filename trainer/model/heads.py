"""DeepLabV3+ head (Chen et al., ECCV 2018): ASPP, the low-level decoder and the classifier.

The head takes the backbone's ``{"low_level", "out"}`` features and returns logits at the low-level
(stride-4) resolution; `DeepLabV3Plus` upsamples them to the input size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ASPP_CHANNELS = 256
LOW_LEVEL_PROJECTION_CHANNELS = 48
DECODER_CHANNELS = 256


def atrous_rates(output_stride: int) -> tuple[int, int, int]:
    """ASPP rates of the paper: (6, 12, 18) at output stride 16, doubled to (12, 24, 36) at 8."""
    scale = 16 // output_stride
    return (6 * scale, 12 * scale, 18 * scale)


class AtrousConv2d(nn.Conv2d):
    """3×3 convolution with ``padding == dilation`` (size-preserving) that skips taps reading only padding.

    When the dilation is at least the feature map's height (width), every off-centre row (column) of
    taps falls into the zero padding for every output position, so only the centre row (column) of the
    kernel contributes. The conv then runs with that slice of the weight: the same values and gradients
    (the skipped taps' gradients are exactly zero), for a third or a ninth of the work. This is common
    in ASPP: rate 18 on the 16×16 map of a 256×256 crop at OS16, or rate 36 at OS8.
    """

    def __init__(self, in_channels: int, out_channels: int, dilation: int, groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, 3, padding=dilation, dilation=dilation, groups=groups, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        rate = self.dilation[0]
        skip_rows, skip_cols = rate >= x.shape[-2], rate >= x.shape[-1]
        if not (skip_rows or skip_cols):
            return super().forward(x)
        centre, whole = slice(1, 2), slice(0, 3)
        weight = self.weight[:, :, centre if skip_rows else whole, centre if skip_cols else whole]
        padding = (0 if skip_rows else rate, 0 if skip_cols else rate)
        return F.conv2d(x, weight, None, 1, padding, self.dilation, self.groups)


class ConvBNReLU(nn.Sequential):
    """1×1 or 3×3 convolution (no bias: BN follows), BatchNorm, in-place ReLU; keeps the spatial size."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1) -> None:
        if kernel_size not in (1, 3):
            raise ValueError(f"kernel_size must be 1 or 3, got {kernel_size}")
        conv = (
            AtrousConv2d(in_channels, out_channels, dilation)
            if kernel_size == 3
            else nn.Conv2d(in_channels, out_channels, 1, bias=False)
        )
        super().__init__(
            conv,
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class SeparableConvBNReLU(nn.Sequential):
    """Depthwise 3×3 (dilated) conv, pointwise 1×1 conv, BatchNorm, in-place ReLU.

    As in segmentation_models_pytorch: no normalisation between the depthwise and the pointwise conv
    (the paper's Xception blocks add one), so the block costs one BN, like the dense conv it replaces.
    """

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1) -> None:
        super().__init__(
            AtrousConv2d(in_channels, in_channels, dilation, groups=in_channels),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


def conv3x3_bn_relu(in_channels: int, out_channels: int, dilation: int, separable: bool) -> nn.Sequential:
    """A 3×3 conv block, depthwise-separable when `separable` is set."""
    if separable:
        return SeparableConvBNReLU(in_channels, out_channels, dilation)
    return ConvBNReLU(in_channels, out_channels, 3, dilation)


class ImagePooling(nn.Module):
    """ASPP's image-level branch: global average pool → 1×1 conv (with bias) → ReLU → broadcast.

    No BatchNorm here, deliberately: BN over a 1×1 map sees a single value per channel and sample, so in
    train mode with batch size 1 its variance is zero and PyTorch raises (torchvision and smp fail there),
    and with small batches its statistics are pure noise. A biased conv keeps the branch trainable at any
    batch size; the projection that follows the concatenation is batch-normalised anyway.
    Bilinear upsampling of a 1×1 map is a constant, so the result is broadcast with `expand` rather than
    interpolated (same values, no interpolation kernel).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        pooled: Tensor = self.relu(self.conv(F.adaptive_avg_pool2d(x, 1)))
        return pooled.expand(-1, -1, x.shape[-2], x.shape[-1])


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: a 1×1 branch, three 3×3 atrous branches and image pooling.

    The five outputs are concatenated and projected by a 1×1 conv to `out_channels`, BN, ReLU, dropout.
    Input ``[N, in_channels, h, w]`` → output ``[N, out_channels, h, w]``.
    """

    def __init__(
        self,
        in_channels: int,
        rates: Sequence[int],
        *,
        out_channels: int = ASPP_CHANNELS,
        separable: bool = False,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        branches: list[nn.Module] = [ConvBNReLU(in_channels, out_channels, 1)]
        branches += [conv3x3_bn_relu(in_channels, out_channels, rate, separable) for rate in rates]
        branches.append(ImagePooling(in_channels, out_channels))
        self.branches = nn.ModuleList(branches)
        self.project = nn.Sequential(
            ConvBNReLU(len(branches) * out_channels, out_channels, 1),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        projected: Tensor = self.project(torch.cat([branch(x) for branch in self.branches], dim=1))
        return projected


class DeepLabV3PlusHead(nn.Module):
    """ASPP on the high-level features, then the decoder and the 1×1 classifier at stride 4.

    Decoder: low-level features → 1×1 conv to 48 channels (BN, ReLU); ASPP output bilinearly upsampled
    (align_corners=False) to the low-level size; concatenation; two 3×3 convs of 256 channels (BN, ReLU);
    classifier. Returns logits ``[N, num_classes, h4, w4]`` at the low-level resolution.
    """

    def __init__(
        self,
        *,
        low_level_channels: int,
        high_level_channels: int,
        num_classes: int,
        output_stride: int,
        separable: bool = False,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.aspp = ASPP(high_level_channels, atrous_rates(output_stride), separable=separable, dropout=dropout)
        self.low_level_projection = ConvBNReLU(low_level_channels, LOW_LEVEL_PROJECTION_CHANNELS, 1)
        self.decoder = nn.Sequential(
            conv3x3_bn_relu(ASPP_CHANNELS + LOW_LEVEL_PROJECTION_CHANNELS, DECODER_CHANNELS, 1, separable),
            conv3x3_bn_relu(DECODER_CHANNELS, DECODER_CHANNELS, 1, separable),
        )
        self.classifier = nn.Conv2d(DECODER_CHANNELS, num_classes, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        # fan_in is right for depthwise convs too (their weight is [C, 1, 3, 3]); a small classifier init
        # keeps the initial logits near zero, so the first loss is close to log(num_classes).
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.classifier.weight, std=0.01)

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        low_level = self.low_level_projection(features["low_level"])
        context = self.aspp(features["out"])
        if context.shape[-2:] != low_level.shape[-2:]:
            context = F.interpolate(context, size=low_level.shape[-2:], mode="bilinear", align_corners=False)
        logits: Tensor = self.classifier(self.decoder(torch.cat([context, low_level], dim=1)))
        return logits
