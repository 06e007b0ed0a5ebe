"""Optimizer factory: parameter groups, learning rates, weight-decay exemptions and validation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainer.optim import build_optimizer


class TinySegmenter(nn.Module):
    """backbone: conv (weight, bias) + BN; head: bias-free conv + GroupNorm + linear (weight, bias)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
        self.head = nn.Sequential(nn.Conv2d(8, 8, 1, bias=False), nn.GroupNorm(2, 8), nn.Linear(8, 4))


def group_summary(optimizer: torch.optim.Optimizer) -> dict[str, tuple[int, float, float]]:
    """group name -> (number of parameters, lr, weight_decay)."""
    return {
        group["name"]: (len(group["params"]), group["lr"], group["weight_decay"]) for group in optimizer.param_groups
    }


def test_groups_split_backbone_head_and_decay() -> None:
    model = TinySegmenter()
    optimizer = build_optimizer(model, name="sgd", lr=0.01, weight_decay=1e-4, backbone_lr_mult=0.1)
    assert group_summary(optimizer) == {
        "backbone/decay": (1, pytest.approx(0.001), 1e-4),  # conv weight
        "backbone/no_decay": (3, pytest.approx(0.001), 0.0),  # conv bias, BN weight and bias
        "head/decay": (2, 0.01, 1e-4),  # conv weight, linear weight
        "head/no_decay": (3, 0.01, 0.0),  # GroupNorm weight and bias, linear bias
    }
    backbone_bn = model.backbone[1]
    no_decay = next(group for group in optimizer.param_groups if group["name"] == "backbone/no_decay")
    assert {id(p) for p in no_decay["params"]} == {
        id(model.backbone[0].bias),
        id(backbone_bn.weight),
        id(backbone_bn.bias),
    }
    assert sum(len(group["params"]) for group in optimizer.param_groups) == len(list(model.parameters()))


def test_without_exemption_everything_decays() -> None:
    optimizer = build_optimizer(TinySegmenter(), name="sgd", lr=0.01, weight_decay=1e-4, no_decay_bn_bias=False)
    assert group_summary(optimizer) == {"backbone/decay": (4, 0.01, 1e-4), "head/decay": (5, 0.01, 1e-4)}


def test_model_without_backbone_is_all_head() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    optimizer = build_optimizer(model, name="adamw", lr=1e-3, weight_decay=0.05, backbone_lr_mult=0.1)
    assert group_summary(optimizer) == {"head/decay": (1, 1e-3, 0.05), "head/no_decay": (3, 1e-3, 0.0)}


def test_multidimensional_norm_weights_are_exempt() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.LayerNorm((2, 3)))
    optimizer = build_optimizer(model, name="adam", lr=1e-3, weight_decay=0.1)
    assert group_summary(optimizer) == {"head/decay": (1, 1e-3, 0.1), "head/no_decay": (3, 1e-3, 0.0)}


def test_frozen_parameters_are_skipped_and_empty_groups_dropped() -> None:
    model = TinySegmenter()
    model.backbone[0].weight.requires_grad_(False)
    optimizer = build_optimizer(model, name="sgd", lr=0.01, weight_decay=1e-4)
    assert [group["name"] for group in optimizer.param_groups] == [
        "backbone/no_decay",
        "head/decay",
        "head/no_decay",
    ]
    for param in model.parameters():
        param.requires_grad_(False)
    with pytest.raises(ValueError, match="TinySegmenter has no trainable parameters"):
        build_optimizer(model, name="sgd", lr=0.01)


def test_shared_parameter_is_optimized_once() -> None:
    model = TinySegmenter()
    shared = model.backbone[1].bias
    model.head[1].bias = shared  # the head's GroupNorm shift is now the backbone's BN shift
    optimizer = build_optimizer(model, name="sgd", lr=0.01)
    all_ids = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert len(all_ids) == len(set(all_ids))
    backbone_ids = {
        id(p) for group in optimizer.param_groups if group["name"].startswith("backbone/") for p in group["params"]
    }
    assert id(shared) in backbone_ids


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_settings_are_passed(nesterov: bool) -> None:
    optimizer = build_optimizer(TinySegmenter(), name="sgd", lr=0.01, momentum=0.8, nesterov=nesterov)
    assert isinstance(optimizer, torch.optim.SGD)
    assert all(group["nesterov"] is nesterov and group["momentum"] == 0.8 for group in optimizer.param_groups)


@pytest.mark.parametrize(("name", "cls"), [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_adam_family_gets_betas(name: str, cls: type) -> None:
    optimizer = build_optimizer(TinySegmenter(), name=name, lr=1e-3, betas=(0.8, 0.99))
    assert type(optimizer) is cls
    assert all(group["betas"] == (0.8, 0.99) for group in optimizer.param_groups)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(name="rmsprop"), r"^name must be one of adam, adamw, sgd, got 'rmsprop'$"),
        (dict(name="sgd", lr=0.0), r"^lr must be a finite number above 0"),
        (dict(name="sgd", lr=float("inf")), r"^lr "),
        (dict(name="sgd", weight_decay=-1e-4), r"^weight_decay must be finite and >= 0"),
        (dict(name="sgd", backbone_lr_mult=-0.1), r"^backbone_lr_mult "),
        (dict(name="sgd", momentum=1.0), r"^momentum must lie in \[0, 1\)"),
        (
            dict(name="sgd", momentum=0.0, nesterov=True),
            r"^nesterov needs name 'sgd' and a momentum above 0",
        ),
        (dict(name="adam", nesterov=True), r"^nesterov "),
        (dict(name="adamw", betas=(0.9, 1.0)), r"^betas must be two numbers in \[0, 1\)"),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_argument(kwargs: dict, match: str) -> None:
    kwargs.setdefault("lr", 0.01)
    with pytest.raises(ValueError, match=match):
        build_optimizer(TinySegmenter(), **kwargs)
