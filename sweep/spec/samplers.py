"""Sampler and pruner settings of a study, and the factories that turn them into Optuna objects.

Each setting is a frozen pydantic model tagged by `type`; `build_sampler` and `build_pruner` look the
tag up in a name→factory dict, so adding a kind is one model plus one dict entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
import optuna
from pydantic import BaseModel, ConfigDict, Field, model_validator

NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0, lt=2**32)]  # what numpy's RandomState, behind Optuna's samplers, accepts


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TPESamplerSpec(_Spec):
    """Optuna's TPE: `n_startup_trials` random trials first, then a model of good vs. bad trials.

    `seed` makes the suggestions reproducible (None: a fresh seed per process).
    """

    type: Literal["tpe"] = "tpe"
    seed: Seed | None = 0
    n_startup_trials: NonNegativeInt = 10


class RandomSamplerSpec(_Spec):
    """Independent uniform (or log-uniform) draws; a baseline that needs no start-up phase."""

    type: Literal["random"] = "random"
    seed: Seed | None = 0


SamplerSpec = Annotated[TPESamplerSpec | RandomSamplerSpec, Field(discriminator="type")]


class MedianPrunerSpec(_Spec):
    """Stop a trial whose best val mIoU so far is below the median of earlier trials at the same epoch.

    Steps are the trainer's 1-based epochs: with `n_warmup_steps: 1` a trial can be pruned from its first
    evaluated epoch on; no trial is pruned before `n_startup_trials` trials have finished.
    """

    type: Literal["median"] = "median"
    n_startup_trials: NonNegativeInt = 5
    n_warmup_steps: NonNegativeInt = 1
    interval_steps: PositiveInt = 1
    n_min_trials: PositiveInt = 1


class NoPrunerSpec(_Spec):
    """Never prune: every trial trains all its epochs."""

    type: Literal["none"] = "none"


class HyperbandPrunerSpec(_Spec):
    """Hyperband over epochs: brackets of successive halving between `min_resource` and `max_resource`.

    `max_resource: auto` takes the number of epochs of the first finished trial.
    """

    type: Literal["hyperband"] = "hyperband"
    min_resource: PositiveInt = 1
    max_resource: Literal["auto"] | PositiveInt = "auto"
    reduction_factor: Annotated[int, Field(ge=2)] = 3

    @model_validator(mode="after")
    def _resources_are_ordered(self) -> HyperbandPrunerSpec:
        if self.max_resource != "auto" and self.max_resource <= self.min_resource:
            raise ValueError(f"max_resource ({self.max_resource}) must exceed min_resource ({self.min_resource})")
        return self


PrunerSpec = Annotated[MedianPrunerSpec | NoPrunerSpec | HyperbandPrunerSpec, Field(discriminator="type")]


def _tpe(spec: TPESamplerSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.n_startup_trials)


def _random(spec: RandomSamplerSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


_SAMPLERS: dict[str, Callable[[Any, int | None], optuna.samplers.BaseSampler]] = {"tpe": _tpe, "random": _random}

_PRUNERS: dict[str, Callable[[Any], optuna.pruners.BasePruner]] = {
    "median": lambda spec: optuna.pruners.MedianPruner(
        spec.n_startup_trials, spec.n_warmup_steps, spec.interval_steps, n_min_trials=spec.n_min_trials
    ),
    "none": lambda spec: optuna.pruners.NopPruner(),
    "hyperband": lambda spec: optuna.pruners.HyperbandPruner(
        min_resource=spec.min_resource, max_resource=spec.max_resource, reduction_factor=spec.reduction_factor
    ),
}


def build_sampler(spec: TPESamplerSpec | RandomSamplerSpec, *, stream: int = 0) -> optuna.samplers.BaseSampler:
    """The Optuna sampler that `spec` describes.

    A seeded sampler repeats its random draws in every process that builds it, so parallel workers or a
    rerun of `sweep run` would suggest the trials already tried. Give each worker (or rerun) its own
    `stream`, e.g. its index or the number of trials already in the study: stream 0 keeps `spec.seed`
    as it is, any other stream derives a distinct, still reproducible seed from the pair.
    """
    seed = spec.seed
    if seed is not None and stream != 0:
        seed = int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])
    return _SAMPLERS[spec.type](spec, seed)


def build_pruner(spec: MedianPrunerSpec | NoPrunerSpec | HyperbandPrunerSpec) -> optuna.pruners.BasePruner:
    """The Optuna pruner that `spec` describes."""
    return _PRUNERS[spec.type](spec)
