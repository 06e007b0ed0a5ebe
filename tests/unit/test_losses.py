"""Segmentation losses against hand-computed values, ignore handling and config validation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainer.losses import CrossEntropyLoss, FocalLoss, SegmentationLoss, build_loss

IGNORE = 255


def tiny_example() -> tuple[torch.Tensor, torch.Tensor]:
    """One image, 2 classes, 1×3 pixels: class 0, class 1, and an ignored pixel with extreme logits."""
    logits = torch.tensor([[[[2.0, 0.5, 100.0]], [[0.0, -0.5, -100.0]]]], dtype=torch.float64)
    target = torch.tensor([[[0, 1, IGNORE]]])
    return logits, target


# -log p_y of the two counted pixels of tiny_example, worked out by hand.
NLL_A = math.log(1 + math.exp(-2.0))  # logits (2, 0), target 0
NLL_B = math.log(1 + math.exp(1.0))  # logits (0.5, -0.5), target 1


def random_batch(seed: int = 0, num_classes: int = 4, ignore_fraction: float = 0.3):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, num_classes, 5, 6, generator=generator, dtype=torch.float64) * 3
    target = torch.randint(0, num_classes, (2, 5, 6), generator=generator)
    ignored = torch.rand(2, 5, 6, generator=generator) < ignore_fraction
    return logits, target.masked_fill(ignored, IGNORE)


def test_cross_entropy_by_hand() -> None:
    logits, target = tiny_example()
    loss = CrossEntropyLoss()(logits, target)
    assert loss.item() == pytest.approx((NLL_A + NLL_B) / 2, abs=1e-12)


def test_weighted_cross_entropy_by_hand_uses_torch_normalisation() -> None:
    logits, target = tiny_example()
    loss = CrossEntropyLoss(class_weights=[0.25, 2.0])(logits, target)
    assert loss.item() == pytest.approx((0.25 * NLL_A + 2.0 * NLL_B) / (0.25 + 2.0), abs=1e-12)
    reference = F.cross_entropy(
        logits, target, weight=torch.tensor([0.25, 2.0], dtype=torch.float64), ignore_index=IGNORE
    )
    assert loss.item() == pytest.approx(reference.item(), abs=1e-12)


def test_focal_gamma_two_by_hand() -> None:
    logits, target = tiny_example()
    focal_a = (1 - math.exp(-NLL_A)) ** 2 * NLL_A
    focal_b = (1 - math.exp(-NLL_B)) ** 2 * NLL_B
    assert FocalLoss(gamma=2.0)(logits, target).item() == pytest.approx((focal_a + focal_b) / 2, abs=1e-12)
    with_alpha = FocalLoss(gamma=2.0, alpha=[0.25, 0.75])(logits, target)
    assert with_alpha.item() == pytest.approx((0.25 * focal_a + 0.75 * focal_b) / 2, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_focal_with_gamma_zero_is_cross_entropy(seed: int) -> None:
    logits, target = random_batch(seed)
    focal = FocalLoss(gamma=0.0)(logits, target)
    assert focal.item() == pytest.approx(CrossEntropyLoss()(logits, target).item(), abs=1e-6)
    assert focal.item() == pytest.approx(F.cross_entropy(logits, target, ignore_index=IGNORE).item(), abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_focal_with_gamma_zero_and_alpha_is_weighted_ce_times_mean_alpha(seed: int) -> None:
    logits, target = random_batch(seed)
    alpha = [0.5, 1.0, 2.0, 0.25]
    valid = target != IGNORE
    mean_alpha = torch.tensor(alpha, dtype=torch.float64)[target[valid]].mean().item()
    focal = FocalLoss(gamma=0.0, alpha=alpha)(logits, target).item()
    weighted_ce = CrossEntropyLoss(class_weights=alpha)(logits, target).item()
    assert focal == pytest.approx(weighted_ce * mean_alpha, abs=1e-6)


LOSS_FACTORIES = {
    "ce": lambda: CrossEntropyLoss(),
    "weighted_ce": lambda: CrossEntropyLoss(class_weights=[1.0, 3.0, 0.5, 2.0]),
    "focal": lambda: FocalLoss(gamma=2.0),
    "focal_alpha": lambda: FocalLoss(gamma=1.5, alpha=[1.0, 3.0, 0.5, 2.0]),
    "composite": lambda: build_loss(ce_weight=0.7, focal_weight=0.3, class_weights=[1.0, 3.0, 0.5, 2.0]),
}


@pytest.mark.parametrize("name", sorted(LOSS_FACTORIES))
def test_ignored_pixels_change_neither_loss_nor_other_gradients(name: str) -> None:
    loss_fn = LOSS_FACTORIES[name]()
    logits, target = random_batch()
    ignored = (target == IGNORE).unsqueeze(1).expand_as(logits)
    changed = torch.where(ignored, logits * -7 + 40, logits)

    values, grads = [], []
    for candidate in (logits, changed):
        candidate = candidate.clone().requires_grad_(True)
        loss = loss_fn(candidate, target)
        loss.backward()
        values.append(loss.detach())
        grads.append(candidate.grad)
    assert torch.equal(values[0], values[1])
    assert torch.equal(grads[0], grads[1])
    assert torch.all(grads[0][ignored] == 0)


@pytest.mark.parametrize("name", sorted(LOSS_FACTORIES))
def test_mean_is_over_non_ignored_pixels(name: str) -> None:
    """Adding ignored pixels (a wider image) must not dilute the loss."""
    loss_fn = LOSS_FACTORIES[name]()
    logits, target = random_batch(ignore_fraction=0.0)
    padded_logits = torch.cat([logits, torch.randn_like(logits)], dim=3)
    padded_target = torch.cat([target, torch.full_like(target, IGNORE)], dim=2)
    assert loss_fn(padded_logits, padded_target).item() == pytest.approx(loss_fn(logits, target).item(), abs=1e-12)


@pytest.mark.parametrize("name", sorted(LOSS_FACTORIES))
def test_all_ignored_batch_is_zero_and_backpropagates(name: str) -> None:
    logits = torch.randn(2, 4, 3, 3, requires_grad=True)
    target = torch.full((2, 3, 3), IGNORE)
    loss = LOSS_FACTORIES[name]()(logits, target)
    assert loss.item() == 0.0
    assert loss.grad_fn is not None
    loss.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_composite_is_weighted_sum_of_components() -> None:
    logits, target = random_batch()
    weights = [1.0, 3.0, 0.5, 2.0]
    loss = build_loss(ce_weight=0.4, focal_weight=1.5, focal_gamma=2.0, focal_alpha=weights, class_weights=weights)
    expected = 0.4 * CrossEntropyLoss(class_weights=weights)(logits, target) + 1.5 * FocalLoss(
        gamma=2.0, alpha=weights
    )(logits, target)
    assert loss(logits, target).item() == pytest.approx(expected.item(), abs=1e-12)


@pytest.mark.parametrize(
    ("ce_weight", "focal_weight", "present"),
    [(1.0, 0.0, {"ce"}), (0.0, 2.0, {"focal"}), (1.0, 1.0, {"ce", "focal"})],
)
def test_zero_weight_components_are_not_built(ce_weight: float, focal_weight: float, present: set[str]) -> None:
    loss = build_loss(ce_weight=ce_weight, focal_weight=focal_weight)
    assert isinstance(loss, SegmentationLoss)
    assert set(loss.components) == present


def test_low_precision_logits_are_computed_in_float32() -> None:
    logits, target = random_batch()
    loss_fn = build_loss(ce_weight=1.0, focal_weight=1.0)
    low = loss_fn(logits.to(torch.bfloat16), target)
    assert low.dtype == torch.float32
    reference = loss_fn(logits.to(torch.bfloat16).float(), target)
    assert low.item() == reference.item()


def test_confident_pixels_give_finite_gradients_for_small_gamma() -> None:
    logits = torch.tensor([[[[60.0, 0.0]], [[-60.0, 0.0]]]], requires_grad=True)
    target = torch.tensor([[[0, 1]]])
    loss = FocalLoss(gamma=0.5)(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        (dict(ce_weight=0.0, focal_weight=0.0), r"^ce_weight and focal_weight are both 0"),
        (dict(ce_weight=-1.0), r"^ce_weight must be finite and >= 0"),
        (dict(focal_weight=float("nan")), r"^focal_weight must be finite"),
        (dict(focal_weight=1.0, focal_gamma=-0.5), r"^gamma must be finite and >= 0, got -0\.5"),
        (dict(class_weights=[1.0, -2.0]), r"^class_weights must be finite and >= 0"),
        (dict(class_weights=[]), r"^class_weights is empty"),
        (dict(focal_weight=1.0, focal_alpha=[0.0, 0.0]), r"^alpha are all 0"),
        (
            dict(class_weights=[1.0] * 3, num_classes=4),
            r"^class_weights has 3 values but .* 4 classes",
        ),
        (
            dict(focal_weight=1.0, focal_alpha=[1.0] * 5, num_classes=4),
            r"^alpha has 5 values .* 4 classes",
        ),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_argument(kwargs: dict, key: str) -> None:
    with pytest.raises(ValueError, match=key):
        build_loss(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        (
            dict(class_weights=[1.0] * 21),
            r"^class_weights has 21 values but the model predicts 4 classes",
        ),
        (dict(ce_weight=0.0, focal_weight=1.0, focal_alpha=[1.0] * 3), r"^alpha has 3 values"),
    ],
)
def test_per_class_length_is_checked_against_logits(kwargs: dict, key: str) -> None:
    logits, target = random_batch()
    with pytest.raises(ValueError, match=key):
        build_loss(**kwargs)(logits, target)


def test_shape_mismatch_is_value_error() -> None:
    logits, target = random_batch()
    with pytest.raises(ValueError, match=r"expected logits \[N, C, H, W\] and target \[N, H, W\]"):
        build_loss()(logits, target[:, :4])
