"""Checking a search space against the training config before any trial runs.

`check_search_path` proves that a `search` key names one settable `TrainConfig` value, and
`check_against_train` that every value the distributions can produce, alone and in combination, makes a
valid `TrainConfig` with the study's `train` section. Each failure is a `ConfigError` keyed into the
study (`search.optim.name.choices[1]`, or `search` for several paths together) whose message shows the
offending combination, the train keys involved and the fix.

The distributions themselves live in `sweep.spec.distributions`; `suggest` and `describe_space` are
re-exported here, where the sweep's other modules have always imported them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sweep.spec.distributions import AnyDistribution, CategoricalDistribution, Distribution, describe_space, suggest
from trainer.config import TrainConfig
from trainer.config_errors import rule_keys, validation_error_to_config_error
from trainer.config_loading import apply_overrides, check_path, field_paths, flatten
from trainer.errors import ConfigError

__all__ = [
    "SWEEP_OWNED_SECTION",
    "AnyDistribution",
    "Distribution",
    "check_against_train",
    "check_search_path",
    "describe_space",
    "suggest",
]

SWEEP_OWNED_SECTION = "checkpoint"
"""Each trial gets its own checkpoint folder under the study's artifacts and always resumes from it."""

_MAX_COMBINATIONS = 1024


@dataclass(frozen=True)
class _Problem:
    """Why a set of overrides makes an invalid `TrainConfig`."""

    error: ConfigError
    involves: tuple[str, ...]
    """The dotted keys read by the broken rule between fields; () for a problem with one field."""


def check_search_path(path: str, *, source: str | Path | None = None) -> None:
    """Raise `ConfigError` (key `search.<path>`) unless `path` names one settable value of `TrainConfig`."""
    try:
        check_path(path, TrainConfig, prefix="search")
    except ConfigError as error:
        written_with_prefix = _relative_path_error(path, source=source)
        raise written_with_prefix or ConfigError(error.key, error.message, source=source) from None
    if path.split(".")[0] == SWEEP_OWNED_SECTION:
        raise ConfigError(
            f"search.{path}",
            f"the sweep owns {SWEEP_OWNED_SECTION}.*: each trial writes its checkpoints under study.artifacts_dir and always resumes",
            source=source,
        )
    leaves = [leaf for leaf in field_paths(TrainConfig) if leaf.startswith(f"{path}.")]
    if leaves:
        raise ConfigError(
            f"search.{path}",
            f"names a section, not a value; search one of its keys: {', '.join(leaves)}",
            source=source,
        )


def _relative_path_error(path: str, *, source: str | Path | None) -> ConfigError | None:
    """For `train.optim.lr`, an error that says to drop the section prefix; None for any other path."""
    section, _, rest = path.partition(".")
    if section != "train" or not rest:
        return None
    try:
        check_path(rest, TrainConfig)
    except ConfigError:
        return None
    return ConfigError(
        f"search.{path}",
        f"search paths are relative to the train section; write {rest!r}, not {path!r}",
        source=source,
    )


def check_against_train(
    search: Mapping[str, AnyDistribution],
    train_data: Mapping[str, Any],
    *,
    source: str | Path | None = None,
) -> None:
    """Raise `ConfigError` unless every value the search can produce makes a valid `TrainConfig`.

    First each path's bounds, choices and sample points are applied alone to `train_data`: a value the
    field itself refuses is reported at `search.<path>.low`, `.high`, `.choices[i]` (or `search.<path>`
    for an inner point), and so is a value that breaks a rule with the `train` section alone (Adam with
    `train.optim.nesterov: true`). Rules between several searched paths (loss weights both 0, say) are
    then checked on the combinations of every path's bounds and choices (the first 1024).
    """
    for path, distribution in search.items():
        for suffix, value in _probes(distribution):
            problem = _train_problem(train_data, {path: value})
            if problem is None or any(other in problem.involves for other in search if other != path):
                continue
            key = problem.error.key
            if problem.involves:
                raise _combination_error(search, train_data, {path: value}, problem, source=source)
            if key == path or key.startswith(f"{path}["):
                message = (
                    problem.error.message
                    if suffix
                    else f"the range also samples {value!r}, and {problem.error.message}"
                )
                raise ConfigError(f"search.{path}{suffix}", message, source=source)
    paths = list(search)
    corners = itertools.product(*(search[path].corners() for path in paths))
    for values in itertools.islice(corners, _MAX_COMBINATIONS):
        combination = dict(zip(paths, values, strict=True))
        problem = _train_problem(train_data, combination)
        if problem is not None:
            raise _combination_error(search, train_data, combination, problem, source=source)


def _combination_error(
    search: Mapping[str, AnyDistribution],
    train_data: Mapping[str, Any],
    combination: Mapping[str, Any],
    problem: _Problem,
    *,
    source: str | Path | None,
) -> ConfigError:
    """Name the searched values and the written train keys that break a rule together, and the fix."""
    key = problem.error.key
    if problem.involves:
        searched = {path: value for path, value in combination.items() if path in problem.involves}
    else:
        searched = {
            path: value for path, value in combination.items() if path == key or path.startswith((f"{key}.", f"{key}["))
        }
    if problem.involves and not searched:
        # A rule of the train section alone, hidden by the base value of a searched key until now.
        setting = " and ".join(f"{path}={_yaml(value)}" for path, value in combination.items())
        return ConfigError(f"train.{key}", f"{problem.error.message} (when the search sets {setting})", source=source)
    searched = searched or dict(combination)
    written = flatten(train_data)
    fixed = {path: written[path] for path in problem.involves if path not in combination and path in written}

    shown = " and ".join(f"{path}={_yaml(value)}" for path, value in searched.items())
    if fixed:
        shown += " with " + " and ".join(f"train.{path}={_yaml(value)}" for path, value in fixed.items())
    change_train = f" or change {' and '.join(f'train.{path}' for path in fixed)}" if fixed else ""
    if len(searched) > 1:
        fix = f"narrow the search so that these values never meet{change_train}"
        return ConfigError(
            "search", f"{shown} together give an invalid train config: {problem.error}; to fix it, {fix}", source=source
        )
    [(path, value)] = searched.items()
    suffix = _suffix(search[path], value)
    if isinstance(search[path], CategoricalDistribution):
        fix = f"remove {_yaml(value)} from the choices{change_train}"
    else:
        fix = f"narrow the range{change_train}"
    sampled = "" if suffix else f"the range also samples {value!r}: "
    return ConfigError(
        f"search.{path}{suffix}",
        f"{sampled}{shown} gives an invalid train config: {problem.error}; to fix it, {fix}",
        source=source,
    )


def _probes(distribution: AnyDistribution) -> list[tuple[str, Any]]:
    """(key suffix, value) pairs: `.choices[i]` for choices, `.low`/`.high` for bounds, "" for inner points."""
    if isinstance(distribution, CategoricalDistribution):
        return [(f".choices[{index}]", choice) for index, choice in enumerate(distribution.choices)]
    bounds = (distribution.low, distribution.high)
    return [(".low", distribution.low), (".high", distribution.high)] + [
        ("", value) for value in distribution.sample_points() if value not in bounds
    ]


def _suffix(distribution: AnyDistribution, value: Any) -> str:
    return next((suffix for suffix, probe in _probes(distribution) if suffix and probe == value), "")


def _train_problem(train_data: Mapping[str, Any], overrides: Mapping[str, Any]) -> _Problem | None:
    data = apply_overrides(train_data, overrides, TrainConfig)
    try:
        TrainConfig.model_validate(data)
    except ValidationError as error:
        return _Problem(validation_error_to_config_error(error, TrainConfig), rule_keys(error))
    return None


def _yaml(value: Any) -> str:
    """A value as the study file spells it: true, false, null, 0.001, 'adam'."""
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else repr(value)
