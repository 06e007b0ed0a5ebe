"""Reading YAML into typed configs, dotted-path overrides, and readable validation errors.

This is the only module that knows the YAML's shape is a nested mapping. Every failure becomes a
`ConfigError` whose message names the file, the dotted key path and the allowed values, with a
did-you-mean for near misses.
"""

from __future__ import annotations

import copy
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from trainer.config import TrainConfig
from trainer.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a YAML file that must hold a mapping; syntax errors report line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", "file not found; check the path", source=path) from None
    except OSError as error:
        raise ConfigError("", f"cannot read the file: {error.strerror}", source=path) from None
    try:
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError("", f"invalid YAML at {where}{error.problem}", source=path) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError("", f"the top level must be a mapping of keys, got {type(document).__name__}", source=path)
    return document


def validate(model: type[ModelT], data: Mapping[str, Any], *, prefix: str = "", source: str | Path | None = None) -> ModelT:
    """Build `model` from `data`, turning pydantic's errors into one `ConfigError`.

    `prefix` is prepended to key paths (a study's `train` section reports `train.optim.lr`).
    """
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        raise validation_error_to_config_error(error, model, prefix=prefix, source=source) from None


def validation_error_to_config_error(
    error: ValidationError, model: type[BaseModel], *, prefix: str = "", source: str | Path | None = None
) -> ConfigError:
    """Summarise a pydantic error: the first problem's key path names the error, all problems are listed."""
    details = _drop_mismatched_union_branches(error.errors())
    problems = [(_join_path(prefix, detail["loc"]), _describe(detail, model)) for detail in details]
    key, first = problems[0]
    message = first
    if len(problems) > 1:
        message += "".join(f"\n  {other_key}: {other}" for other_key, other in problems[1:])
    return ConfigError(key, message, source=source)


def config_from_dict(data: Mapping[str, Any], *, source: str | Path | None = None) -> TrainConfig:
    """Validate a nested mapping as a `TrainConfig`."""
    return validate(TrainConfig, data, source=source)


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> TrainConfig:
    """Read a training YAML file, apply `key=value` overrides (values parsed as YAML) and validate."""
    data = read_yaml(path)
    data = apply_overrides(data, dict(parse_assignment(item) for item in overrides), TrainConfig)
    return config_from_dict(data, source=path)


def parse_assignment(text: str) -> tuple[str, Any]:
    """Split `optim.lr=0.01` into its dotted path and YAML-parsed value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set", f"{text!r} is not of the form key=value, e.g. optim.lr=0.01")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """Return a deep copy of `data` with each dotted path set; unknown paths raise `ConfigError`."""
    result = copy.deepcopy(dict(data))
    for path, value in overrides.items():
        check_path(path, model)
        node = result
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[leaf] = value
    return result


def check_path(path: str, model: type[BaseModel], *, prefix: str = "") -> None:
    """Raise `ConfigError` unless `path` names a field of `model`, descending into nested sections."""
    current: type[BaseModel] | None = model
    walked: list[str] = []
    for part in path.split("."):
        if current is None:
            raise ConfigError(_join_path(prefix, walked), f"is a value, not a section; {path!r} cannot go deeper")
        fields = current.model_fields
        if part not in fields:
            raise ConfigError(_join_path(prefix, [*walked, part]), _unknown_key_message(part, fields))
        walked.append(part)
        current = _section_type(fields[part].annotation)


def field_paths(model: type[BaseModel] = TrainConfig, prefix: str = "") -> list[str]:
    """Every dotted leaf path of `model`, e.g. `optim.lr`."""
    paths: list[str] = []
    for name, field in model.model_fields.items():
        section = _section_type(field.annotation)
        dotted = f"{prefix}{name}"
        paths.extend(field_paths(section, f"{dotted}.") if section is not None else [dotted])
    return paths


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten a nested mapping into dotted keys: `{"optim": {"lr": 1}}` becomes `{"optim.lr": 1}`."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _section_type(annotation: Any) -> type[BaseModel] | None:
    """The nested config class behind a field annotation (`SynthConfig | None` gives SynthConfig)."""
    candidates = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union else (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _unknown_key_message(key: str, allowed: Iterable[str]) -> str:
    allowed = sorted(allowed)
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)  # 0.5 so `lrate` finds `lr`
    if close:
        message += f"; did you mean {close[0]!r}?"
    return f"{message} (allowed keys: {', '.join(allowed)})"


def _drop_mismatched_union_branches(details: list[Any]) -> list[Any]:
    """For a value that failed every branch of a union, keep only the branch that fits its type.

    `class_weights: 'stat'` should read as a bad choice, not also as "Input should be a valid list".
    """
    by_key: dict[str, list[Any]] = {}
    for detail in details:
        by_key.setdefault(_join_path("", detail["loc"]), []).append(detail)
    kept = []
    for detail in details:
        siblings = by_key[_join_path("", detail["loc"])] + [
            other for key, group in by_key.items() if key.startswith(_join_path("", detail["loc"]) + "[") for other in group
        ]
        is_container = isinstance(detail.get("input"), (list, dict))
        if len(siblings) > 1 and detail["type"] == "literal_error" and is_container:
            continue
        if len(siblings) > 1 and detail["type"] in {"list_type", "dict_type"}:
            continue
        kept.append(detail)
    return kept or details


def _describe(detail: Mapping[str, Any], model: type[BaseModel]) -> str:
    """One human sentence for one pydantic error, naming the allowed values where they are known."""
    kind = detail["type"]
    value = detail.get("input")
    if kind == "extra_forbidden":
        parent = _model_at(model, detail["loc"][:-1])
        allowed = parent.model_fields if parent is not None else ()
        return _unknown_key_message(str(detail["loc"][-1]), allowed)
    if kind == "literal_error":
        expected = detail.get("ctx", {}).get("expected", "")
        choices = sorted((c.strip().strip("'") for c in expected.replace(" or ", ", ").split(",")), key=_choice_order)
        message = f"{value!r} is not one of {', '.join(choices)}"
        close = difflib.get_close_matches(str(value), choices, n=1)
        return f"{message}; did you mean {close[0]!r}?" if close else message
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return str(detail["msg"]).removeprefix("Value error, ")
    return f"{detail['msg']} (got {value!r})"


def _choice_order(choice: str) -> tuple[bool, float, str]:
    """Numbers first and in numeric order, then words alphabetically."""
    try:
        return (False, float(choice), choice)
    except ValueError:
        return (True, 0.0, choice)


def _model_at(model: type[BaseModel], loc: Iterable[Any]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or not isinstance(part, str) or part not in current.model_fields:
            return None
        current = _section_type(current.model_fields[part].annotation)
    return current


def _join_path(prefix: str, loc: Iterable[Any]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in {"literal['none','stats']", "list[constrained-float]"} or "[" in str(part):
            continue  # pydantic's union-branch labels, not keys a user wrote
        else:
            path = f"{path}.{part}" if path else str(part)
    return path
