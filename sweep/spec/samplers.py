"""Sampler and pruner settings of a study, and the factories that turn them into Optuna objects.

Each setting is a frozen pydantic model tagged by `type`; `build_sampler` and `build_pruner` look the
tag up in a name→factory dict, so adding a kind is one model plus one dict entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import optuna
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sweep.spec.distributions import AnyDistribution, CategoricalDistribution
from trainer.errors import ConfigError

NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0, lt=2**32)]  # what numpy's RandomState, behind Optuna's samplers, accepts


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TPESamplerSpec(_Spec):
    """Optuna's TPE: `n_startup_trials` random trials first, then a model of good vs. bad trials.

    `seed` makes the suggestions reproducible (None: a fresh seed per process). `multivariate` models the
    parameters jointly (lr with optimizer, say) instead of one at a time. `constant_liar` counts the trials
    still running as if they had the worst value, so that parallel workers, which ask while others train,
    do not all suggest the same promising region. Both defaults are Optuna 5.1's for a single-objective
    study (`multivariate=None` means True there), written out so a study file shows how it runs.
    """

    type: Literal["tpe"] = "tpe"
    seed: Seed | None = 0
    n_startup_trials: NonNegativeInt = 10
    multivariate: bool = True
    constant_liar: bool = True


class RandomSamplerSpec(_Spec):
    """Independent uniform (or log-uniform) draws; a baseline that needs no start-up phase."""

    type: Literal["random"] = "random"
    seed: Seed | None = 0


class GPSamplerSpec(_Spec):
    """Optuna's Gaussian-process Bayesian optimisation, for small budgets (tens of trials).

    `n_startup_trials` random trials first; then each suggestion fits a GP to every finished trial and
    maximises log expected improvement, which costs seconds per trial (nothing next to training one).
    `deterministic_objective` fits no observation noise: only for an objective that repeats exactly.
    """

    type: Literal["gp"] = "gp"
    seed: Seed | None = 0
    n_startup_trials: NonNegativeInt = 10
    deterministic_objective: bool = False


class CmaEsSamplerSpec(_Spec):
    """Optuna's CMA-ES, for float and integer parameters only (see `check_sampler_fits_search`).

    `n_startup_trials` random trials first. `popsize` (None: CMA-ES's 4 + 3 ln(dimensions)) is how many
    trials each generation samples before the distribution moves. `with_margin` keeps integer and stepped
    parameters from freezing on one value. `consider_pruned_trials` lets pruned trials count, with their
    last reported value; without it, a study that prunes most trials gives CMA-ES little to learn from.
    """

    type: Literal["cmaes"] = "cmaes"
    seed: Seed | None = 0
    n_startup_trials: NonNegativeInt = 1
    popsize: PositiveInt | None = None
    with_margin: bool = False
    consider_pruned_trials: bool = False


AnySamplerSpec = TPESamplerSpec | RandomSamplerSpec | GPSamplerSpec | CmaEsSamplerSpec
SamplerSpec = Annotated[AnySamplerSpec, Field(discriminator="type")]


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
    return optuna.samplers.TPESampler(
        seed=seed,
        n_startup_trials=spec.n_startup_trials,
        multivariate=spec.multivariate,
        constant_liar=spec.constant_liar,
    )


def _random(spec: RandomSamplerSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


def _gp(spec: GPSamplerSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.GPSampler(
        seed=seed, n_startup_trials=spec.n_startup_trials, deterministic_objective=spec.deterministic_objective
    )


def _cmaes(spec: CmaEsSamplerSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    return optuna.samplers.CmaEsSampler(
        seed=seed,
        n_startup_trials=spec.n_startup_trials,
        popsize=spec.popsize,
        with_margin=spec.with_margin,
        consider_pruned_trials=spec.consider_pruned_trials,
    )


_SAMPLERS: dict[str, Callable[[Any, int | None], optuna.samplers.BaseSampler]] = {
    "tpe": _tpe,
    "random": _random,
    "gp": _gp,
    "cmaes": _cmaes,
}

_PRUNERS: dict[str, Callable[[Any], optuna.pruners.BasePruner]] = {
    "median": lambda spec: optuna.pruners.MedianPruner(
        spec.n_startup_trials, spec.n_warmup_steps, spec.interval_steps, n_min_trials=spec.n_min_trials
    ),
    "none": lambda spec: optuna.pruners.NopPruner(),
    "hyperband": lambda spec: optuna.pruners.HyperbandPruner(
        min_resource=spec.min_resource, max_resource=spec.max_resource, reduction_factor=spec.reduction_factor
    ),
}


def build_sampler(spec: AnySamplerSpec, *, stream: int = 0) -> optuna.samplers.BaseSampler:
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


def check_sampler_fits_search(
    sampler: AnySamplerSpec, search: Mapping[str, AnyDistribution], *, source: str | Path | None
) -> None:
    """Refuse CMA-ES over a search with categorical parameters (of two or more choices).

    CMA-ES models a continuous space only; Optuna would draw every categorical at random, trial after
    trial, with a warning in the log, so the study would look tuned where it is not. TPE and GP model
    categoricals; a single-choice categorical is a constant and passes.
    """
    if sampler.type != "cmaes":
        return
    categorical = [
        path
        for path, distribution in search.items()
        if isinstance(distribution, CategoricalDistribution) and len(distribution.choices) > 1
    ]
    if categorical:
        raise ConfigError(
            "study.sampler.type",
            f"cmaes cannot model categorical parameters ({', '.join(f'search.{path}' for path in categorical)}): "
            "Optuna would draw them at random in every trial; use type tpe or gp, or search only float and int parameters",
            source=source,
        )


def build_pruner(spec: MedianPrunerSpec | NoPrunerSpec | HyperbandPrunerSpec) -> optuna.pruners.BasePruner:
    """The Optuna pruner that `spec` describes."""
    return _PRUNERS[spec.type](spec)
