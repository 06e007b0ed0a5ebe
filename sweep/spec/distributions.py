"""The distributions a study's `search` section maps dotted `TrainConfig` paths to, and their Optuna calls.

Each value of `search` is tagged by `type` (float, int or categorical) and validated as one of the models
below. `suggest` draws a trial's parameters under the dotted paths as Optuna parameter names, so
`trial.params` is directly a set of overrides; `sample_points` and `corners` are the values
`sweep.spec.space.check_against_train` tries before any trial runs. `rejects` says why a given value (an
enqueued set's, or a warm-start trial's) is not one the distribution can produce, and `to_optuna` is the
Optuna distribution a copied trial is recorded with.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

import optuna
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FiniteFloat,
    StrictInt,
    model_validator,
)

_MAX_VALUES_PER_PATH = 64


def _reject_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"must be a number, got {value!r}")
    return value


def _must_be_scalar(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(
        f"must be null, a bool, a number or a string (Optuna's categorical choices), got a {type(value).__name__}"
    )


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

    def rejects(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{value!r} is not a number ({self.describe()})"
        return _outside(value, self.low, self.high, self.step, self.describe())

    def to_optuna(self) -> optuna.distributions.FloatDistribution:
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def describe(self) -> str:
        return (
            f"float in [{self.low!r}, {self.high!r}]"
            + (", log" if self.log else "")
            + (f", step {self.step!r}" if self.step is not None else "")
        )

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

    def rejects(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            return f"{value!r} is not an integer ({self.describe()})"
        return _outside(value, self.low, self.high, self.step, self.describe())

    def to_optuna(self) -> optuna.distributions.IntDistribution:
        return optuna.distributions.IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def describe(self) -> str:
        return (
            f"int in [{self.low}, {self.high}]"
            + (", log" if self.log else "")
            + (f", step {self.step}" if self.step != 1 else "")
        )

    def sample_points(self) -> list[int]:
        return [self.low + k * self.step for k in _spread((self.high - self.low) // self.step + 1)]

    def corners(self) -> list[int]:
        return [self.low, self.high]


class CategoricalDistribution(_Spec):
    """One of `choices`, each null, a bool, a number or a string."""

    type: Literal["categorical"] = "categorical"
    choices: list[Scalar]

    @model_validator(mode="after")
    def _choices_are_distinct(self) -> CategoricalDistribution:
        if not self.choices:
            raise ValueError("choices is empty; list at least one value, e.g. choices: [sgd, adam]")
        for index, choice in enumerate(self.choices):
            if choice in self.choices[:index]:  # also 1 == 1.0 == True, which Optuna cannot tell apart
                raise ValueError(f"choices repeat {choice!r}")
        return self

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, self.choices)

    def rejects(self, value: Any) -> str | None:
        # `True == 1` in Python, but a YAML `true` is no choice `1`.
        if any(choice == value and isinstance(choice, bool) == isinstance(value, bool) for choice in self.choices):
            return None
        return f"{value!r} is not {self.describe()}"

    def to_optuna(self) -> optuna.distributions.CategoricalDistribution:
        return optuna.distributions.CategoricalDistribution(self.choices)

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


def _check_range(low: float, high: float, log: bool, stepped: bool) -> None:
    if low >= high:
        raise ValueError(f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ValueError(f"log needs low > 0 (got low {low})")
    if log and stepped:
        raise ValueError("log and step cannot be combined; drop one of them")


def _outside(value: float, low: float, high: float, step: float | None, described: str) -> str | None:
    """Why `value` lies off [low, high] or off the grid of `step` from `low`; None when it is on it."""
    if not low <= value <= high:
        return f"{value!r} is outside the {described}"
    steps = 0.0 if step is None else (value - low) / step
    if abs(steps - round(steps)) > 1e-8:  # Optuna's own tolerance for a value on the grid
        return f"{value!r} is not on the grid of the {described}"
    return None


def _spread(count: int) -> list[int]:
    """Grid indices to check: all of them when few, else both ends and the middle."""
    return list(range(count)) if count <= _MAX_VALUES_PER_PATH else [0, count // 2, count - 1]
