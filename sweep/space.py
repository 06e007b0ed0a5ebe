"""The search space: distributions over dotted `TrainConfig` paths, and their Optuna counterparts.

A study's `search` maps paths such as `optim.lr` to a distribution tagged by `type` (float, int or
categorical). `check_search_path` and `check_against_train` prove, before any trial runs, that every value
a distribution can produce is one the training config accepts. `suggest` draws a trial's parameters
under the dotted paths as Optuna parameter names, so `trial.params` is directly a set of overrides.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import optuna
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, FiniteFloat, StrictInt, model_validator

from trainer.config import TrainConfig
from trainer.config_loading import apply_overrides, check_path, field_paths, validate
from trainer.errors import ConfigError

SWEEP_OWNED_SECTION = "checkpoint"
"""Each trial gets its own checkpoint folder under the study's artifacts and always resumes from it."""

_MAX_VALUES_PER_PATH = 64
_MAX_COMBINATIONS = 1024


def _reject_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"must be a number, got {value!r}")
    return value


def _must_be_scalar(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"must be null, a bool, a number or a string (Optuna's categorical choices), got a {type(value).__name__}")


Number = Annotated[FiniteFloat, BeforeValidator(_reject_bool)]
Scalar = Annotated[Any, AfterValidator(_must_be_scalar)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FloatDistribution(_Spec):
    """A float in [low, high]: uniform, log-uniform (`log`, needs low > 0) or on a grid of `step`."""

    type: Literal["float"] = "float"
    low: Number
    high: Number
    log: bool = False
    step: Annotated[Number, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _range_is_usable(self) -> FloatDistribution:
        _check_range(self.low, self.high, self.log, self.step is not None)
        if self.step is not None and (Decimal(str(self.high)) - Decimal(str(self.low))) % Decimal(str(self.step)):
            raise ValueError(f"high - low ({self.high} - {self.low}) is not a multiple of step ({self.step})")
        return self

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)


    def describe(self) -> str:
        return f"float in [{self.low!r}, {self.high!r}]" + (", log" if self.log else "") + (f", step {self.step!r}" if self.step is not None else "")

    def sample_points(self) -> list[float]:
        if self.step is None:
            return [self.low, self.high, self.low + (self.high - self.low) * 0.382]  # 0.382: not a round number
        count = round((self.high - self.low) / self.step) + 1
        return [self.low + k * self.step for k in _spread(count)]

    def corners(self) -> list[float]:
        return [self.low, self.high]


class IntDistribution(_Spec):
    """An integer in [low, high]: every `step`-th value, or log-uniform (`log`, needs low >= 1 and step 1)."""

    type: Literal["int"] = "int"
    low: StrictInt
    high: StrictInt
    log: bool = False
    step: Annotated[StrictInt, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _range_is_usable(self) -> IntDistribution:
        _check_range(self.low, self.high, self.log, self.step != 1)
        if (self.high - self.low) % self.step:
            raise ValueError(f"high - low ({self.high - self.low}) is not a multiple of step ({self.step})")
        return self

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)


    def describe(self) -> str:
        return f"int in [{self.low}, {self.high}]" + (", log" if self.log else "") + (f", step {self.step}" if self.step != 1 else "")

    def sample_points(self) -> list[int]:
        return [self.low + k * self.step for k in _spread((self.high - self.low) // self.step + 1)]

    def corners(self) -> list[int]:
        return [self.low, self.high]


class CategoricalDistribution(_Spec):
    """One of `choices`, each null, a bool, a number or a string."""

    type: Literal["categorical"] = "categorical"
    choices: Annotated[list[Scalar], Field(min_length=1)]

    @model_validator(mode="after")
    def _choices_are_distinct(self) -> CategoricalDistribution:
        for index, choice in enumerate(self.choices):
            if choice in self.choices[:index]:  # also 1 == 1.0 == True, which Optuna cannot tell apart
                raise ValueError(f"choices repeat {choice!r}")
        return self

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, self.choices)


    def describe(self) -> str:
        return "one of " + ", ".join("null" if choice is None else str(choice) for choice in self.choices)

    def sample_points(self) -> list[Any]:
        return list(self.choices)

    def corners(self) -> list[Any]:
        return list(self.choices)


AnyDistribution = FloatDistribution | IntDistribution | CategoricalDistribution
Distribution = Annotated[AnyDistribution, Field(discriminator="type")]
"""The `type`-tagged union a study's `search` values are validated as."""


def suggest(trial: optuna.Trial, search: Mapping[str, AnyDistribution]) -> dict[str, Any]:
    """Draw one value per path; the dotted paths are the Optuna parameter names."""
    return {path: distribution.suggest(trial, path) for path, distribution in search.items()}




def describe_space(search: Mapping[str, AnyDistribution]) -> list[str]:
    """One line per path, e.g. `optim.lr: float in [0.0001, 0.1], log`."""
    return [f"{path}: {distribution.describe()}" for path, distribution in search.items()]


def check_search_path(path: str, *, source: str | Path | None = None) -> None:
    """Raise `ConfigError` (key `search.<path>`) unless `path` names one settable value of `TrainConfig`."""
    try:
        check_path(path, TrainConfig, prefix="search")
    except ConfigError as error:
        raise ConfigError(error.key, error.message, source=source) from None
    if path.split(".")[0] == SWEEP_OWNED_SECTION:
        raise ConfigError(
            f"search.{path}",
            f"the sweep owns {SWEEP_OWNED_SECTION}.*: each trial writes its checkpoints under study.artifacts_dir and always resumes",
            source=source,
        )
    leaves = [leaf for leaf in field_paths(TrainConfig) if leaf.startswith(f"{path}.")]
    if leaves:
        raise ConfigError(f"search.{path}", f"names a section, not a value; search one of its keys: {', '.join(leaves)}", source=source)


def check_against_train(
    search: Mapping[str, AnyDistribution],
    train_data: Mapping[str, Any],
    *,
    source: str | Path | None = None,
) -> None:
    """Raise `ConfigError` unless every value the search can produce makes a valid `TrainConfig`.

    Each path's bounds, choices and sample points are applied alone to `train_data`; a value the field
    itself refuses is reported at `search.<path>.low`, `.high`, `.choices[i]` (or `search.<path>` for an
    inner point). Rules between fields (loss weights both 0, say) depend on the other searched values, so
    they are checked on the combinations of every path's bounds and choices instead (the first 1024).
    """
    for path, distribution in search.items():
        for suffix, value in _probes(distribution):
            error = _train_error(train_data, {path: value})
            if error is not None and (error.key == path or error.key.startswith(f"{path}[")):
                message = error.message if suffix else f"the range also samples {value!r}, and {error.message}"
                raise ConfigError(f"search.{path}{suffix}", message, source=source)
    paths = list(search)
    for values in itertools.islice(itertools.product(*(search[path].corners() for path in paths)), _MAX_COMBINATIONS):
        combination = dict(zip(paths, values))
        error = _train_error(train_data, combination)
        if error is None:
            continue
        involved = {path: value for path, value in combination.items() if path.startswith(f"{error.key}.")} or combination
        if len(involved) == 1:
            [(path, value)] = involved.items()
            suffix = next(suffix for suffix, probe in _probes(search[path]) if suffix and probe == value)
            raise ConfigError(f"search.{path}{suffix}", f"gives an invalid train config: {error}", source=source)
        shown = " and ".join(f"{path}={value!r}" for path, value in involved.items())
        raise ConfigError("search", f"{shown} together give an invalid train config: {error}", source=source)


def _probes(distribution: AnyDistribution) -> list[tuple[str, Any]]:
    """(key suffix, value) pairs: `.choices[i]` for choices, `.low`/`.high` for bounds, "" for inner points."""
    if isinstance(distribution, CategoricalDistribution):
        return [(f".choices[{index}]", choice) for index, choice in enumerate(distribution.choices)]
    bounds = (distribution.low, distribution.high)
    return [(".low", distribution.low), (".high", distribution.high)] + [
        ("", value) for value in distribution.sample_points() if value not in bounds
    ]


def _train_error(train_data: Mapping[str, Any], overrides: Mapping[str, Any]) -> ConfigError | None:
    try:
        validate(TrainConfig, apply_overrides(train_data, overrides, TrainConfig))
    except ConfigError as error:
        return error
    return None


def _check_range(low: float, high: float, log: bool, stepped: bool) -> None:
    if low >= high:
        raise ValueError(f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ValueError(f"log needs low > 0 (got low {low})")
    if log and stepped:
        raise ValueError("log and step cannot be combined; drop one of them")


def _spread(count: int) -> list[int]:
    """Grid indices to check: all of them when few, else both ends and the middle."""
    return list(range(count)) if count <= _MAX_VALUES_PER_PATH else [0, count // 2, count - 1]
