"""Per-iteration learning-rate schedules, optionally after a linear warmup, built from torch's schedulers.

Only torch's own scheduler classes are used (no lambdas), so `state_dict()` / `load_state_dict()` restore
a schedule exactly on resume. Every schedule scales each parameter group's own base lr, so the ratio
between groups (the backbone multiplier) is kept, except where a cosine `min_lr` floor is reached.

Iteration k counts calls of `scheduler.step()`, made once per optimizer step. With warmup_iters = W and
total_iters = T, the lr of a group with base lr `base` is:

- warmup, 0 <= k < W: base * (warmup_factor + (1 - warmup_factor) * k / W);
- after warmup, with j = k - W and M = T - W iterations left:
  - "poly": base * (1 - j / M) ** power, reaching 0 at k = T;
  - "cosine": min_lr + (base - min_lr) * (1 + cos(pi * j / M)) / 2, reaching min_lr at k = T;
  - "step": base * gamma ** (j // step_size), i.e. step_size counts iterations after the warmup;
  - "constant": base.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch.optim import Optimizer
from torch.optim.lr_scheduler import (
    ConstantLR,
    CosineAnnealingLR,
    LinearLR,
    LRScheduler,
    PolynomialLR,
    SequentialLR,
    StepLR,
)


@dataclass(frozen=True)
class _MainSchedule:
    """What the post-warmup schedule factories read; `iters` is the number of post-warmup iterations."""

    iters: int
    step_size: int | None
    gamma: float
    min_lr: float
    power: float


def _step(optimizer: Optimizer, settings: _MainSchedule) -> LRScheduler:
    if settings.step_size is None or settings.step_size < 1:
        raise ValueError(f"step_size must be at least 1 iteration for the step schedule, got {settings.step_size}")
    if not 0 < settings.gamma <= 1:
        raise ValueError(f"gamma must lie in (0, 1], got {settings.gamma}")
    return StepLR(optimizer, step_size=settings.step_size, gamma=settings.gamma)


def _cosine(optimizer: Optimizer, settings: _MainSchedule) -> LRScheduler:
    return CosineAnnealingLR(optimizer, T_max=settings.iters, eta_min=settings.min_lr)


def _poly(optimizer: Optimizer, settings: _MainSchedule) -> LRScheduler:
    if not (math.isfinite(settings.power) and settings.power > 0):
        raise ValueError(f"power must be a finite number above 0, got {settings.power}")
    return PolynomialLR(optimizer, total_iters=settings.iters, power=settings.power)


def _constant(optimizer: Optimizer, settings: _MainSchedule) -> LRScheduler:
    return ConstantLR(optimizer, factor=1.0, total_iters=0)


SCHEDULES: dict[str, Callable[[Optimizer, _MainSchedule], LRScheduler]] = {
    "poly": _poly,
    "cosine": _cosine,
    "step": _step,
    "constant": _constant,
}
# Schedules that decay towards min_lr; the others would silently ignore it.
_USES_MIN_LR = {"cosine"}


def build_scheduler(
    optimizer: Optimizer,
    *,
    name: str,
    total_iters: int,
    warmup_iters: int = 0,
    warmup_factor: float = 0.001,
    step_size: int | None = None,
    gamma: float = 0.1,
    min_lr: float = 0.0,
    power: float = 0.9,
) -> LRScheduler:
    """The schedule `name` ("poly", "cosine", "step" or "constant") over `total_iters` optimizer steps.

    See the module docstring for the formulas. Build it before the first `optimizer.step()` and call
    `step()` once after every optimizer step. `warmup_iters` must lie in [0, `total_iters`); `step_size`
    (in iterations) is required by "step"; `min_lr` above 0 is accepted only by "cosine" and must lie below
    every group's base lr. Raises ValueError naming the argument for an unknown name or an unusable value.
    """
    if name not in SCHEDULES:
        raise ValueError(f"name must be one of {', '.join(sorted(SCHEDULES))}, got {name!r}")
    if total_iters < 1:
        raise ValueError(f"total_iters must be at least 1, got {total_iters}")
    if not 0 <= warmup_iters < total_iters:
        raise ValueError(
            f"warmup_iters must lie in [0, total_iters) so that warmup ends before training does, "
            f"got warmup_iters={warmup_iters}, total_iters={total_iters}"
        )
    if not 0 < warmup_factor <= 1:
        raise ValueError(f"warmup_factor must lie in (0, 1], got {warmup_factor}")
    if not (math.isfinite(min_lr) and min_lr >= 0):
        raise ValueError(f"min_lr must be finite and >= 0, got {min_lr}")
    if min_lr > 0 and name not in _USES_MIN_LR:
        raise ValueError(
            f"min_lr is only used by the {', '.join(sorted(_USES_MIN_LR))} schedule, got {min_lr} for {name!r}"
        )
    smallest_lr = min(group.get("initial_lr", group["lr"]) for group in optimizer.param_groups)
    if min_lr > 0 and min_lr >= smallest_lr:
        raise ValueError(f"min_lr ({min_lr}) must be below every group's lr (smallest: {smallest_lr})")

    settings = _MainSchedule(
        iters=total_iters - warmup_iters, step_size=step_size, gamma=gamma, min_lr=min_lr, power=power
    )
    main = SCHEDULES[name](optimizer, settings)
    if warmup_iters == 0:
        return main
    warmup = LinearLR(optimizer, start_factor=warmup_factor, end_factor=1.0, total_iters=warmup_iters)
    return SequentialLR(optimizer, schedulers=[warmup, main], milestones=[warmup_iters])
