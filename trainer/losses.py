"""Per-pixel segmentation losses: (class-weighted) cross-entropy, softmax focal loss, and their weighted sum.

Every loss here shares one contract (see `PixelLoss`): `forward(logits [N, C, H, W], target [N, H, W])`
returns a float32 scalar, pixels labelled `ignore_index` contribute nothing to the value or the gradient,
and a batch in which every pixel is ignored gives exactly 0 while keeping a `grad_fn`, so `backward()`
still runs (with a zero gradient). The log-softmax is computed once per batch, in float32 even when the
logits are bf16 or fp16, and shared by all components of a `SegmentationLoss`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _class_vector(values: Sequence[float] | None, *, argument: str) -> Tensor | None:
    """Check per-class factors (finite, >= 0, not all 0) and turn them into a float32 tensor."""
    if values is None:
        return None
    floats = [float(v) for v in values]
    if not floats:
        raise ValueError(f"{argument} is empty; give one value per class or pass None")
    if any(not math.isfinite(v) or v < 0 for v in floats):
        raise ValueError(f"{argument} must be finite and >= 0, got {floats}")
    if not any(floats):
        raise ValueError(f"{argument} are all 0, which would switch the loss off for every class")
    return torch.tensor(floats, dtype=torch.float32)


def _safe_ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """numerator / denominator, or the (zero) numerator itself where the denominator is 0.

    Dividing by a substituted 1 instead of branching keeps the result on the graph without a host sync
    and without the 0/0 NaN that would otherwise leak into the gradient.
    """
    return numerator / torch.where(denominator > 0, denominator, torch.ones_like(denominator))


class PixelLoss(nn.Module):
    """Base class: a loss computed from the log-probability each pixel assigns to its target class.

    Subclasses implement `reduce`, which receives `target_log_prob` (float32 [N, H, W], 0 at ignored
    pixels), the target with ignored pixels replaced by class 0, and the boolean mask of counted pixels,
    and returns a scalar. `forward` does the shared part, so that `SegmentationLoss` can run it once.
    Targets other than `ignore_index` must lie in [0, C). `class_factors` is the optional per-class
    buffer (CE's class weights, focal's alpha); `per_class_argument` names it in errors.
    """

    per_class_argument = "class_factors"
    class_factors: Tensor | None

    def __init__(self, *, ignore_index: int = 255, class_factors: Sequence[float] | None = None) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.register_buffer("class_factors", _class_vector(class_factors, argument=self.per_class_argument))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        self.check_num_classes(logits.shape[1])
        target_log_prob, safe_target, valid = target_log_probs(logits, target, ignore_index=self.ignore_index)
        return self.reduce(target_log_prob, safe_target, valid)

    def reduce(self, target_log_prob: Tensor, safe_target: Tensor, valid: Tensor) -> Tensor:
        raise NotImplementedError

    def check_num_classes(self, num_classes: int) -> None:
        """Raise ValueError when `class_factors` does not have `num_classes` entries."""
        if self.class_factors is not None and self.class_factors.numel() != num_classes:
            count = self.class_factors.numel()
            raise ValueError(
                f"{self.per_class_argument} has {count} values but the model predicts {num_classes} classes"
            )

    def pixel_factors(self, safe_target: Tensor, valid: Tensor, dtype: torch.dtype) -> Tensor:
        """The class factor of every pixel's target, 0 at ignored pixels (1 everywhere without factors)."""
        if self.class_factors is None:
            return valid.to(dtype)
        return torch.where(valid, self.class_factors.to(dtype)[safe_target], 0.0)


def target_log_probs(logits: Tensor, target: Tensor, *, ignore_index: int) -> tuple[Tensor, Tensor, Tensor]:
    """log p(target) per pixel (0 where ignored), the target with ignored pixels set to 0, the valid mask."""
    if logits.dim() != 4 or target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(
            f"expected logits [N, C, H, W] and target [N, H, W], got {tuple(logits.shape)} and {tuple(target.shape)}"
        )
    if logits.dtype in _LOW_PRECISION:
        logits = logits.float()
    valid = target != ignore_index
    safe_target = torch.where(valid, target, 0).long()
    log_prob = logits.log_softmax(dim=1).gather(1, safe_target.unsqueeze(1)).squeeze(1)
    return torch.where(valid, log_prob, 0.0), safe_target, valid


class CrossEntropyLoss(PixelLoss):
    """Cross-entropy, optionally class-weighted, averaged over the non-ignored pixels.

    Unweighted: mean of -log p_y over non-ignored pixels. Weighted (torch's convention for
    `F.cross_entropy(weight=...)`): sum of w_y * -log p_y divided by the sum of w_y, both over non-ignored
    pixels; 0 when that sum is 0.
    """

    per_class_argument = "class_weights"

    def __init__(self, *, class_weights: Sequence[float] | None = None, ignore_index: int = 255) -> None:
        super().__init__(ignore_index=ignore_index, class_factors=class_weights)

    def reduce(self, target_log_prob: Tensor, safe_target: Tensor, valid: Tensor) -> Tensor:
        pixel_weight = self.pixel_factors(safe_target, valid, target_log_prob.dtype)
        return _safe_ratio((pixel_weight * -target_log_prob).sum(), pixel_weight.sum())


class FocalLoss(PixelLoss):
    """Softmax focal loss (Lin et al., 2017), averaged over the non-ignored pixels.

    Value: mean over non-ignored pixels of alpha_y * (1 - p_y)^gamma * -log p_y, with alpha_y = 1 when
    `alpha` is unset. The normaliser is the pixel count, not the sum of alpha_y, so with gamma = 0 it
    equals plain CE without alpha, and weighted CE times mean(alpha_y) with alpha.
    """

    per_class_argument = "alpha"

    def __init__(self, *, gamma: float = 2.0, alpha: Sequence[float] | None = None, ignore_index: int = 255) -> None:
        super().__init__(ignore_index=ignore_index, class_factors=alpha)
        if not math.isfinite(gamma) or gamma < 0:
            raise ValueError(f"gamma must be finite and >= 0, got {gamma}")
        self.gamma = float(gamma)

    def reduce(self, target_log_prob: Tensor, safe_target: Tensor, valid: Tensor) -> Tensor:
        # 1 - p via expm1 keeps precision for confident pixels; the clamp keeps the gradient of
        # (1 - p)^gamma finite at p == 1 when gamma < 1.
        one_minus_p = (-torch.expm1(target_log_prob)).clamp_min(torch.finfo(target_log_prob.dtype).tiny)
        pixel_loss = one_minus_p.pow(self.gamma) * -target_log_prob
        alpha = self.pixel_factors(safe_target, valid, pixel_loss.dtype)
        return _safe_ratio((alpha * pixel_loss).sum(), valid.sum().to(pixel_loss.dtype))


class SegmentationLoss(nn.Module):
    """Weighted sum of `PixelLoss` components that share one log-softmax: sum_k weight_k * loss_k.

    Components are registered as submodules under their names, so `.to(device)` moves their class
    weights. Build it with `build_loss`, which drops components whose weight is 0.
    """

    def __init__(self, components: dict[str, tuple[float, PixelLoss]], *, ignore_index: int = 255) -> None:
        super().__init__()
        if not components:
            raise ValueError("components must hold at least one loss; build it with build_loss")
        self.ignore_index = ignore_index
        self.weights = {name: float(weight) for name, (weight, _) in components.items()}
        self.components = nn.ModuleDict({name: loss for name, (_, loss) in components.items()})

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        for _, component in self.named_losses():
            component.check_num_classes(logits.shape[1])
        target_log_prob, safe_target, valid = target_log_probs(logits, target, ignore_index=self.ignore_index)
        terms = [
            self.weights[name] * component.reduce(target_log_prob, safe_target, valid)
            for name, component in self.named_losses()
        ]
        return torch.stack(terms).sum()

    def named_losses(self) -> Iterator[tuple[str, PixelLoss]]:
        """(name, component) pairs; `nn.ModuleDict` types its values as plain modules."""
        for name, component in self.components.items():
            yield name, cast(PixelLoss, component)


LOSSES: dict[str, type[PixelLoss]] = {"ce": CrossEntropyLoss, "focal": FocalLoss}


def build_loss(
    *,
    ce_weight: float = 1.0,
    focal_weight: float = 0.0,
    focal_gamma: float = 2.0,
    focal_alpha: Sequence[float] | None = None,
    class_weights: Sequence[float] | None = None,
    ignore_index: int = 255,
    num_classes: int | None = None,
) -> SegmentationLoss:
    """ce_weight * CE(class_weights) + focal_weight * focal(focal_gamma, focal_alpha).

    Every setting is validated, but a component whose weight is 0 is left out and costs nothing. With
    `num_classes`, per-class lists of the wrong length are rejected here rather than at the first forward
    pass. Raises ValueError naming the argument for negative or non-finite weights, both weights 0, a
    negative gamma, or malformed per-class lists (`alpha` in messages is `focal_alpha`).
    """
    weights = {"ce": ce_weight, "focal": focal_weight}
    for name, weight in weights.items():
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"{name}_weight must be finite and >= 0, got {weight}")
    if not any(weights.values()):
        raise ValueError("ce_weight and focal_weight are both 0; set at least one above 0")
    options: dict[str, dict[str, Any]] = {
        "ce": dict(class_weights=class_weights),
        "focal": dict(gamma=focal_gamma, alpha=focal_alpha),
    }
    built = {name: LOSSES[name](ignore_index=ignore_index, **options[name]) for name in LOSSES}
    components = {name: (weight, built[name]) for name, weight in weights.items() if weight > 0}
    if num_classes is not None:
        for _, component in components.values():
            component.check_num_classes(num_classes)
    return SegmentationLoss(components, ignore_index=ignore_index)
