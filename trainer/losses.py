"""Per-pixel segmentation losses: (class-weighted) cross-entropy, softmax focal loss, and their weighted sum.

Every loss here shares one contract (see `PixelLoss`): `forward(logits [N, C, H, W], target [N, H, W])`
returns a float32 scalar, pixels labelled `ignore_index` contribute nothing to the value or the gradient,
and a batch in which every pixel is ignored gives exactly 0 while keeping a `grad_fn`, so `backward()`
still runs (with a zero gradient). The log-softmax is computed once per batch, in float32 even when the
logits are bf16 or fp16, and shared by all components of a `SegmentationLoss`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from trainer.errors import ConfigError

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _class_vector(values: Sequence[float] | None, *, key: str) -> torch.Tensor | None:
    """Check per-class factors (finite, >= 0, not all 0) and turn them into a float32 tensor."""
    if values is None:
        return None
    floats = [float(v) for v in values]
    if not floats:
        raise ConfigError(key, "is empty; give one value per class or leave it unset")
    if any(not math.isfinite(v) or v < 0 for v in floats):
        raise ConfigError(key, f"must be finite and >= 0, got {floats}")
    if not any(floats):
        raise ConfigError(key, "are all 0, which would switch the loss off for every class")
    return torch.tensor(floats, dtype=torch.float32)


def _safe_ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
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
    Targets other than `ignore_index` must lie in [0, C).
    """

    def __init__(self, *, ignore_index: int = 255) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.check_num_classes(logits.shape[1])
        target_log_prob, safe_target, valid = target_log_probs(logits, target, ignore_index=self.ignore_index)
        return self.reduce(target_log_prob, safe_target, valid)

    def reduce(self, target_log_prob: torch.Tensor, safe_target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def check_num_classes(self, num_classes: int) -> None:
        """Raise `ConfigError` when a per-class parameter does not have `num_classes` entries."""


def target_log_probs(
    logits: torch.Tensor, target: torch.Tensor, *, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log p(target) per pixel (0 where ignored), the target with ignored pixels set to 0, and the valid mask."""
    if logits.dim() != 4 or target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"expected logits [N, C, H, W] and target [N, H, W], got {tuple(logits.shape)} "
                         f"and {tuple(target.shape)}")
    if logits.dtype in _LOW_PRECISION:
        logits = logits.float()
    valid = target != ignore_index
    safe_target = torch.where(valid, target, torch.zeros_like(target)).long()
    log_prob = logits.log_softmax(dim=1).gather(1, safe_target.unsqueeze(1)).squeeze(1)
    return torch.where(valid, log_prob, torch.zeros_like(log_prob)), safe_target, valid


class CrossEntropyLoss(PixelLoss):
    """Cross-entropy, optionally class-weighted, averaged over the non-ignored pixels.

    Unweighted: mean of -log p_y over non-ignored pixels. Weighted (torch's convention for
    `F.cross_entropy(weight=...)`): sum of w_y * -log p_y divided by the sum of w_y, both over non-ignored
    pixels; 0 when that sum is 0.
    """

    def __init__(self, *, class_weights: Sequence[float] | None = None, ignore_index: int = 255) -> None:
        super().__init__(ignore_index=ignore_index)
        self.register_buffer("class_weights", _class_vector(class_weights, key="loss.class_weights"))

    def check_num_classes(self, num_classes: int) -> None:
        if self.class_weights is not None and self.class_weights.numel() != num_classes:
            raise ConfigError("loss.class_weights",
                              f"has {self.class_weights.numel()} values but the model predicts {num_classes} classes")

    def reduce(self, target_log_prob: torch.Tensor, safe_target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        nll = -target_log_prob
        if self.class_weights is None:
            return _safe_ratio(nll.sum(), valid.sum().to(nll.dtype))
        pixel_weight = torch.where(valid, self.class_weights.to(nll.dtype)[safe_target], torch.zeros_like(nll))
        return _safe_ratio((pixel_weight * nll).sum(), pixel_weight.sum())


class FocalLoss(PixelLoss):
    """Softmax focal loss (Lin et al., 2017), averaged over the non-ignored pixels.

    Value: mean over non-ignored pixels of alpha_y * (1 - p_y)^gamma * -log p_y, with alpha_y = 1 when
    `alpha` is unset. The normaliser is the pixel count, not the sum of alpha_y, so with gamma = 0 it
    equals plain CE without alpha, and weighted CE times mean(alpha_y) with alpha.
    """

    def __init__(self, *, gamma: float = 2.0, alpha: Sequence[float] | None = None, ignore_index: int = 255) -> None:
        super().__init__(ignore_index=ignore_index)
        if not math.isfinite(gamma) or gamma < 0:
            raise ConfigError("loss.focal_gamma", f"must be finite and >= 0, got {gamma}")
        self.gamma = float(gamma)
        self.register_buffer("alpha", _class_vector(alpha, key="loss.focal_alpha"))

    def check_num_classes(self, num_classes: int) -> None:
        if self.alpha is not None and self.alpha.numel() != num_classes:
            raise ConfigError("loss.focal_alpha",
                              f"has {self.alpha.numel()} values but the model predicts {num_classes} classes")

    def reduce(self, target_log_prob: torch.Tensor, safe_target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        # 1 - p via expm1 keeps precision for confident pixels; the clamp keeps the gradient of
        # (1 - p)^gamma finite at p == 1 when gamma < 1.
        one_minus_p = (-torch.expm1(target_log_prob)).clamp_min(torch.finfo(target_log_prob.dtype).tiny)
        pixel_loss = one_minus_p.pow(self.gamma) * -target_log_prob
        if self.alpha is not None:
            pixel_loss = pixel_loss * self.alpha.to(pixel_loss.dtype)[safe_target]
        pixel_loss = torch.where(valid, pixel_loss, torch.zeros_like(pixel_loss))
        return _safe_ratio(pixel_loss.sum(), valid.sum().to(pixel_loss.dtype))


class SegmentationLoss(nn.Module):
    """Weighted sum of `PixelLoss` components that share one log-softmax: sum_k weight_k * loss_k.

    Components are registered as submodules under their names, so `.to(device)` moves their class
    weights. Build it with `build_loss`, which drops components whose weight is 0.
    """

    def __init__(self, components: dict[str, tuple[float, PixelLoss]], *, ignore_index: int = 255) -> None:
        super().__init__()
        if not components:
            raise ConfigError("loss", "has no component with a weight above 0")
        self.ignore_index = ignore_index
        self.weights = {name: float(weight) for name, (weight, _) in components.items()}
        self.components = nn.ModuleDict({name: loss for name, (_, loss) in components.items()})

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        for component in self.components.values():
            component.check_num_classes(logits.shape[1])
        target_log_prob, safe_target, valid = target_log_probs(logits, target, ignore_index=self.ignore_index)
        terms = [self.weights[name] * component.reduce(target_log_prob, safe_target, valid)
                 for name, component in self.components.items()]
        return torch.stack(terms).sum()


# The keyword arguments of build_loss that configure each component, by component name.
LOSSES: dict[str, Callable[..., PixelLoss]] = {
    "ce": lambda *, class_weights, ignore_index, **_: CrossEntropyLoss(
        class_weights=class_weights, ignore_index=ignore_index),
    "focal": lambda *, focal_gamma, focal_alpha, ignore_index, **_: FocalLoss(
        gamma=focal_gamma, alpha=focal_alpha, ignore_index=ignore_index),
}


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
    """ce_weight * CE(class_weights) + focal_weight * focal(focal_gamma, focal_alpha), ignoring `ignore_index`.

    Every setting is validated, but a component whose weight is 0 is left out and costs nothing. With `num_classes`, per-class lists of the
    wrong length are rejected here rather than at the first forward pass. Raises `ConfigError` for
    negative or non-finite weights, both weights 0, a negative gamma, or malformed per-class lists.
    """
    weights = {"ce": ce_weight, "focal": focal_weight}
    for name, weight in weights.items():
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"loss.{name}_weight", f"must be finite and >= 0, got {weight}")
    if not any(weights.values()):
        raise ConfigError("loss", "ce_weight and focal_weight are both 0; set at least one above 0")
    settings = dict(focal_gamma=focal_gamma, focal_alpha=focal_alpha, class_weights=class_weights,
                    ignore_index=ignore_index)
    built = {name: (weight, LOSSES[name](**settings)) for name, weight in weights.items()}
    components = {name: pair for name, pair in built.items() if pair[0] > 0}
    if num_classes is not None:
        for _, component in components.values():
            component.check_num_classes(num_classes)
    return SegmentationLoss(components, ignore_index=ignore_index)
