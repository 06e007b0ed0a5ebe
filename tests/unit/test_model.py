"""Tests of trainer.model: geometry per backbone and output stride, ASPP/decoder structure, weights loading."""

from __future__ import annotations

import math
import urllib.error
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from trainer.errors import WeightsError
from trainer.model import BACKBONES, DeepLabV3Plus, build_model
from trainer.model.heads import AtrousConv2d, ImagePooling
from trainer.model.weights import imagenet_cache_path

# Every backbone × output stride, plus the separable variant for the two ResNet-50 strides.
GEOMETRY_CASES = [(name, stride, False) for name in BACKBONES for stride in (8, 16)] + [
    ("resnet50", 8, True),
    ("resnet50", 16, True),
]


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize(("backbone", "output_stride", "separable"), GEOMETRY_CASES)
def test_logits_match_input_size_and_backbone_stride(backbone: str, output_stride: int, separable: bool) -> None:
    model = build_model(backbone, num_classes=5, output_stride=output_stride, separable=separable).eval()
    with torch.no_grad():
        for height, width in [(97, 131), (64, 64)]:
            x = torch.randn(1, 3, height, width)
            assert model(x).shape == (1, 5, height, width)
            features = model.backbone(x)
            assert features["out"].shape[-2:] == (math.ceil(height / output_stride), math.ceil(width / output_stride))
            assert features["low_level"].shape[-2:] == (math.ceil(height / 4), math.ceil(width / 4))
            assert features["low_level"].shape[1] == BACKBONES[backbone].low_level_channels
            assert features["out"].shape[1] == BACKBONES[backbone].high_level_channels


@pytest.mark.parametrize(("output_stride", "rates"), [(16, (6, 12, 18)), (8, (12, 24, 36))])
@pytest.mark.parametrize("separable", [False, True])
def test_aspp_branches_rates_and_decoder_structure(output_stride: int, rates: tuple[int, ...], separable: bool) -> None:
    head = build_model("mobilenet_v3_large", output_stride=output_stride, separable=separable).head
    branches = head.aspp.branches
    assert len(branches) == 5
    assert branches[0][0].kernel_size == (1, 1)
    assert isinstance(branches[4], ImagePooling)
    atrous_convs = [branch[0] for branch in branches[1:4]]
    assert tuple(conv.dilation[0] for conv in atrous_convs) == rates
    assert all(conv.kernel_size == (3, 3) and conv.padding[0] == conv.dilation[0] for conv in atrous_convs)
    assert all((conv.groups == conv.in_channels) == separable for conv in atrous_convs)
    assert all((block[0].groups > 1) == separable for block in head.decoder)
    assert head.aspp.project[0][0].in_channels == 5 * 256 and head.aspp.project[0][0].out_channels == 256
    assert head.low_level_projection[0].out_channels == 48
    assert head.decoder[0][-3].out_channels == 256 and head.decoder[1][-3].out_channels == 256
    assert head.classifier.out_channels == 21


def _depthwise(block: nn.Module) -> nn.Conv2d:
    return block.block[1][0]


def test_mobilenet_output_stride_8_dilates_c3_and_c4_stages() -> None:
    os16 = build_model("mobilenet_v3_large", output_stride=16).backbone
    os8 = build_model("mobilenet_v3_large", output_stride=8).backbone
    # features[7] starts the stride-16 stage, features[13] the stride-32 stage.
    assert (_depthwise(os16["7"]).stride, _depthwise(os16["7"]).dilation) == ((2, 2), (1, 1))
    assert (_depthwise(os16["13"]).stride, _depthwise(os16["13"]).dilation) == ((1, 1), (2, 2))
    assert (_depthwise(os8["7"]).stride, _depthwise(os8["7"]).dilation) == ((1, 1), (2, 2))
    assert (_depthwise(os8["13"]).stride, _depthwise(os8["13"]).dilation) == ((1, 1), (4, 4))
    assert _depthwise(os8["13"]).padding == (8, 8)  # 5×5 kernel: 2 × dilation keeps the size


@pytest.mark.parametrize(
    ("backbone", "separable", "expected"),
    [
        # smp 0.6 DeepLabV3Plus with 21 classes: resnet50 separable 26,682,725 (ANCHORS: 26.68 M),
        # tu-mobilenetv3_large_100 separable 4,713,493. Ours has two decoder 3×3 convs where smp has one
        # after ASPP and one in the decoder (same shapes), and a biased image-pooling conv instead of
        # conv + BN: 256 parameters fewer.
        ("resnet50", True, 26_682_469),
        ("resnet50", False, 40_351_925),
        ("mobilenet_v3_large", True, 4_713_237),
        ("mobilenet_v3_large", False, 11_727_397),
    ],
)
def test_parameter_counts(backbone: str, separable: bool, expected: int) -> None:
    model = build_model(backbone, separable=separable)
    assert sum(p.numel() for p in model.parameters()) == expected
    if (backbone, separable) == ("resnet50", True):
        assert expected == pytest.approx(26.68e6, rel=0.01)


def test_backbone_and_head_partition_the_parameters() -> None:
    model = build_model("mobilenet_v3_large")
    backbone_ids = {id(p) for p in model.backbone.parameters()}
    head_ids = {id(p) for p in model.head.parameters()}
    assert not backbone_ids & head_ids
    assert backbone_ids | head_ids == {id(p) for p in model.parameters()}


@pytest.mark.parametrize(("backbone", "size"), [("mobilenet_v3_large", (65, 81)), ("resnet50", (64, 64))])
def test_train_step_with_batch_size_one(backbone: str, size: tuple[int, int]) -> None:
    model = build_model(backbone, num_classes=3, separable=True).train()
    x = torch.randn(1, 3, *size)
    target = torch.randint(0, 3, (1, *size))
    loss = F.cross_entropy(model(x), target)
    loss.backward()
    assert torch.isfinite(loss)
    assert model.head.aspp.branches[4].conv.weight.grad is not None
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_image_pooling_broadcast_equals_bilinear_upsampling() -> None:
    pooling = ImagePooling(4, 3)
    x = torch.randn(2, 4, 5, 7)
    pooled = torch.relu(pooling.conv(F.adaptive_avg_pool2d(x, 1)))
    reference = F.interpolate(pooled, size=(5, 7), mode="bilinear", align_corners=False)
    torch.testing.assert_close(pooling(x), reference)


@pytest.mark.parametrize("groups", [1, 6])
@pytest.mark.parametrize("size", [(5, 7), (7, 5), (4, 4), (9, 11)])
def test_atrous_conv_skipping_padding_taps_equals_full_conv(groups: int, size: tuple[int, int]) -> None:
    conv = AtrousConv2d(6, 6 if groups > 1 else 4, dilation=6, groups=groups)
    reference = nn.Conv2d(6, conv.out_channels, 3, padding=6, dilation=6, groups=groups, bias=False)
    reference.weight = nn.Parameter(conv.weight.detach().clone())
    x = torch.randn(2, 6, *size, dtype=torch.float64, requires_grad=True)
    conv, reference = conv.double(), reference.double()
    output, expected = conv(x), reference(x)
    torch.testing.assert_close(output, expected)
    grad = torch.randn_like(output)
    (got_x, got_w), (want_x, want_w) = (
        torch.autograd.grad(out, (x, m.weight), grad) for out, m in ((output, conv), (expected, reference))
    )
    torch.testing.assert_close(got_x, want_x)
    torch.testing.assert_close(got_w, want_w)


@pytest.mark.parametrize(
    ("kwargs", "argument", "allowed"),
    [
        ({"backbone": "vgg16"}, "backbone", "mobilenet_v3_large, resnet101, resnet50"),
        ({"backbone": "resnet50", "output_stride": 32}, "output_stride", "8, 16"),
        ({"backbone": "resnet50", "num_classes": 0}, "num_classes", "at least 1"),
        ({"backbone": "resnet50", "dropout": 1.0}, "dropout", r"\[0, 1\)"),
        ({"backbone": "resnet50", "pretrained": True, "weights_path": "x.pth"}, "weights_path", "not both"),
    ],
)
def test_invalid_arguments_raise_value_errors_naming_the_argument(kwargs: dict, argument: str, allowed: str) -> None:
    with pytest.raises(ValueError, match=allowed) as raised:
        build_model(**kwargs)
    assert argument in str(raised.value)


def test_pretrained_loads_cached_imagenet_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    reference = torchvision.models.resnet50().state_dict()
    cache = imagenet_cache_path(BACKBONES["resnet50"])
    assert cache == tmp_path / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    cache.parent.mkdir(parents=True)
    torch.save(reference, cache)
    model = build_model("resnet50", pretrained=True)
    torch.testing.assert_close(model.backbone.conv1.weight, reference["conv1.weight"], rtol=0, atol=0)
    torch.testing.assert_close(model.backbone.layer4[2].bn3.running_var, reference["layer4.2.bn3.running_var"])


def _no_network(url: str, *args: object, **kwargs: object) -> None:
    raise urllib.error.URLError("network is unreachable (test)")


@pytest.mark.parametrize("backbone", ["resnet50", "mobilenet_v3_large"])
def test_pretrained_without_cache_or_network_names_the_cache_path(
    backbone: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    spec = BACKBONES[backbone]
    expected_path = tmp_path / "hub" / "checkpoints" / Path(spec.imagenet_weights.url).name
    with pytest.raises(WeightsError) as raised:
        build_model(backbone, pretrained=True)
    assert str(expected_path) in str(raised.value)
    assert spec.imagenet_weights.url in str(raised.value)


def test_weights_path_classification_state_dict(tmp_path: Path) -> None:
    reference = torchvision.models.mobilenet_v3_large().state_dict()
    path = tmp_path / "mnv3.pth"
    torch.save(reference, path)
    model = build_model("mobilenet_v3_large", output_stride=8, weights_path=path)
    torch.testing.assert_close(model.backbone["0"][0].weight, reference["features.0.0.weight"], rtol=0, atol=0)
    torch.testing.assert_close(model.backbone["16"][1].running_mean, reference["features.16.1.running_mean"])


def test_weights_path_full_model_round_trip(tmp_path: Path) -> None:
    source = build_model("mobilenet_v3_large", num_classes=4).eval()
    path = tmp_path / "model.pth"
    torch.save(source.state_dict(), path)
    loaded = build_model("mobilenet_v3_large", num_classes=4, weights_path=path).eval()
    assert isinstance(loaded, DeepLabV3Plus)
    x = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), source(x), rtol=0, atol=0)


def test_weights_path_mismatch_and_missing_file_raise_weights_error(tmp_path: Path) -> None:
    path = tmp_path / "mnv3.pth"
    torch.save(torchvision.models.mobilenet_v3_large().state_dict(), path)
    with pytest.raises(WeightsError, match=r"does not match the resnet50 backbone.*missing keys: conv1\.weight"):
        build_model("resnet50", weights_path=path)
    full = tmp_path / "full.pth"
    torch.save(build_model("mobilenet_v3_large", num_classes=4).state_dict(), full)
    with pytest.raises(WeightsError, match=r"head\.classifier\.weight \(4, 256, 1, 1\) vs \(21, 256, 1, 1\)"):
        build_model("mobilenet_v3_large", num_classes=21, weights_path=full)
    with pytest.raises(WeightsError, match="does not exist"):
        build_model("mobilenet_v3_large", weights_path=tmp_path / "absent.pth")
