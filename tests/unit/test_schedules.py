"""Learning-rate schedules against hand-computed values, group ratios, exact resume and validation."""

from __future__ import annotations

import math

import pytest
import torch

from trainer.schedules import build_scheduler

BASE_LR = 0.02
BACKBONE_MULT = 0.1


def make_optimizer() -> torch.optim.SGD:
    """SGD with a head group at BASE_LR and a backbone group at BASE_LR * BACKBONE_MULT."""
    generator = torch.Generator().manual_seed(0)
    head = torch.nn.Parameter(torch.randn(3, generator=generator))
    backbone = torch.nn.Parameter(torch.randn(3, generator=generator))
    return torch.optim.SGD(
        [{"params": [head], "lr": BASE_LR}, {"params": [backbone], "lr": BASE_LR * BACKBONE_MULT}],
        lr=BASE_LR,
        momentum=0.9,
    )


def train_step(optimizer: torch.optim.Optimizer) -> None:
    """One optimizer step on a toy quadratic, so momentum buffers hold state worth resuming."""
    optimizer.zero_grad()
    loss = sum((param**2).sum() for group in optimizer.param_groups for param in group["params"])
    loss.backward()
    optimizer.step()


def lr_trajectory(iterations: int, **kwargs) -> list[float]:
    """Head-group lr at iterations 0..iterations (the lr used by step k is entry k)."""
    optimizer = make_optimizer()
    scheduler = build_scheduler(optimizer, **kwargs)
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(iterations):
        train_step(optimizer)
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs


def test_poly_matches_closed_form() -> None:
    total = 20
    lrs = lr_trajectory(total, name="poly", total_iters=total)
    for k in (0, 1, 5, 10, 17, 19):
        assert lrs[k] == pytest.approx(BASE_LR * (1 - k / total) ** 0.9, rel=1e-9)
    assert lrs[total] == pytest.approx(0.0, abs=1e-15)


def test_poly_power_is_used() -> None:
    lrs = lr_trajectory(10, name="poly", total_iters=10, power=2.0)
    assert lrs[3] == pytest.approx(BASE_LR * 0.7**2, rel=1e-9)


@pytest.mark.parametrize("min_lr", [0.0, 0.0005])
def test_cosine_is_halfway_at_half_time_and_ends_at_min_lr(min_lr: float) -> None:
    total = 16
    lrs = lr_trajectory(total, name="cosine", total_iters=total, min_lr=min_lr)
    assert lrs[total // 2] == pytest.approx((BASE_LR + min_lr) / 2, rel=1e-9)
    assert lrs[4] == pytest.approx(min_lr + (BASE_LR - min_lr) * (1 + math.cos(math.pi / 4)) / 2, rel=1e-9)
    assert lrs[total] == pytest.approx(min_lr, abs=1e-15)


def test_step_drops_at_boundaries() -> None:
    lrs = lr_trajectory(12, name="step", total_iters=12, step_size=4, gamma=0.5)
    expected = [BASE_LR * 0.5 ** (k // 4) for k in range(13)]
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert lrs[3] == pytest.approx(BASE_LR) and lrs[4] == pytest.approx(BASE_LR / 2)


def test_constant_keeps_base_lr() -> None:
    assert lr_trajectory(5, name="constant", total_iters=5) == pytest.approx([BASE_LR] * 6, rel=1e-12)


@pytest.mark.parametrize("name", ["poly", "cosine", "step", "constant"])
def test_warmup_ramps_linearly_then_hands_over(name: str) -> None:
    warmup, total, factor = 5, 25, 0.01
    lrs = lr_trajectory(total, name=name, total_iters=total, warmup_iters=warmup, warmup_factor=factor, step_size=7)
    assert lrs[0] == pytest.approx(BASE_LR * factor, rel=1e-9)
    for k in range(warmup):
        assert lrs[k] == pytest.approx(BASE_LR * (factor + (1 - factor) * k / warmup), rel=1e-9)
    assert lrs[warmup] == pytest.approx(BASE_LR, rel=1e-9)


def test_poly_after_warmup_counts_the_remaining_iterations() -> None:
    warmup, total = 4, 14
    lrs = lr_trajectory(total, name="poly", total_iters=total, warmup_iters=warmup)
    for k in (4, 6, 9, 13):
        assert lrs[k] == pytest.approx(BASE_LR * (1 - (k - warmup) / (total - warmup)) ** 0.9, rel=1e-9)
    assert lrs[total] == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("name", ["poly", "cosine", "step", "constant"])
def test_group_ratio_is_preserved(name: str) -> None:
    optimizer = make_optimizer()
    scheduler = build_scheduler(optimizer, name=name, total_iters=12, warmup_iters=3, step_size=2)
    for _ in range(11):
        head_lr, backbone_lr = (group["lr"] for group in optimizer.param_groups)
        assert backbone_lr == pytest.approx(head_lr * BACKBONE_MULT, rel=1e-9)
        train_step(optimizer)
        scheduler.step()


@pytest.mark.parametrize("warmup_iters", [0, 3])
@pytest.mark.parametrize("name", ["poly", "cosine", "step", "constant"])
def test_state_dict_round_trip_resumes_exactly(name: str, warmup_iters: int) -> None:
    settings = dict(name=name, total_iters=12, warmup_iters=warmup_iters, step_size=4)

    optimizer = make_optimizer()
    scheduler = build_scheduler(optimizer, **settings)
    uninterrupted = []
    for _ in range(12):
        train_step(optimizer)
        scheduler.step()
        uninterrupted.append([group["lr"] for group in optimizer.param_groups])

    optimizer = make_optimizer()
    scheduler = build_scheduler(optimizer, **settings)
    for _ in range(7):
        train_step(optimizer)
        scheduler.step()
    saved_optimizer, saved_scheduler = optimizer.state_dict(), scheduler.state_dict()
    params_at_save = [param.detach().clone() for group in optimizer.param_groups for param in group["params"]]

    resumed_optimizer = make_optimizer()
    with torch.no_grad():
        for param, value in zip(
            (p for g in resumed_optimizer.param_groups for p in g["params"]), params_at_save, strict=True
        ):
            param.copy_(value)
    resumed_scheduler = build_scheduler(resumed_optimizer, **settings)
    resumed_optimizer.load_state_dict(saved_optimizer)
    resumed_scheduler.load_state_dict(saved_scheduler)
    resumed = []
    for _ in range(5):
        train_step(resumed_optimizer)
        resumed_scheduler.step()
        resumed.append([group["lr"] for group in resumed_optimizer.param_groups])
    assert resumed == uninterrupted[7:]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            dict(name="exponential"),
            r"^name must be one of constant, cosine, poly, step, got 'exponential'$",
        ),
        (dict(total_iters=0), r"^total_iters must be at least 1, got 0"),
        (
            dict(warmup_iters=10),
            r"^warmup_iters must lie in \[0, total_iters\) so that warmup ends before training does",
        ),
        (dict(warmup_iters=-1), r"^warmup_iters "),
        (dict(warmup_iters=2, warmup_factor=0.0), r"^warmup_factor must lie in \(0, 1\]"),
        (
            dict(name="step"),
            r"^step_size must be at least 1 iteration for the step schedule, got None",
        ),
        (dict(name="step", step_size=0), r"^step_size "),
        (dict(name="step", step_size=2, gamma=0.0), r"^gamma must lie in \(0, 1\]"),
        (dict(power=0.0), r"^power must be a finite number above 0"),
        (dict(min_lr=1e-5), r"^min_lr is only used by the cosine schedule, got 1e-05 for 'poly'"),
        (dict(name="cosine", min_lr=-1.0), r"^min_lr must be finite and >= 0"),
        (
            dict(name="cosine", min_lr=BASE_LR * BACKBONE_MULT),
            r"^min_lr \(0\.002\) must be below every group's lr",
        ),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_argument(kwargs: dict, match: str) -> None:
    settings = dict(name="poly", total_iters=10) | kwargs
    with pytest.raises(ValueError, match=match):
        build_scheduler(make_optimizer(), **settings)
