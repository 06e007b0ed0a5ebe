"""One retrain of a confirmation (`sweep confirm`): a completed trial trained again with a fresh seed.

A retrain is the original trial's params with only `seed` changed. Its seed is derived from the original
trial's seed and the retrain's index alone, so every process that plans a confirmation plans the same
retrains, and none of them trains with the original seed again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SEED_KEY = "seed"
"""The `TrainConfig` key a retrain changes: the seed of the weights' initialisation and the data order."""
SEED_LIMIT = 2**31 - 1
"""Retrain seeds lie in [0, SEED_LIMIT]: any seed torch, numpy and Python's `random` all take."""
SEED_STRIDE = 1_000_003
"""An odd prime: the seeds of one trial's retrains step by it (modulo SEED_LIMIT + 1), so they differ from the
original seed and from each other for any index below 2**31."""


def retrain_seed(original_seed: int, index: int) -> int:
    """The seed of retrain `index` (0, 1, ...) of a trial that trained with `original_seed`."""
    if index < 0:
        raise ValueError(f"a retrain index is 0 or more, got {index}")
    return (original_seed + SEED_STRIDE * (index + 1)) % (SEED_LIMIT + 1)


@dataclass(frozen=True)
class Retrain:
    """Retrain `index` of trial `trial` (whose recorded val mIoU is `original_value`): its `params` with
    `seed` set to `seed`."""

    trial: int
    index: int
    seed: int
    original_value: float
    params: Mapping[str, Any] = field(default_factory=dict)

    def trial_params(self) -> dict[str, Any]:
        """The parameters the retrain is queued with: the original trial's, with its own seed."""
        return {**self.params, SEED_KEY: self.seed}
