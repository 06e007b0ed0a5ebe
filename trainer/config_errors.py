"""Turning pydantic validation errors into one `ConfigError` a user can act on.

Each problem is named by its dotted key path (`optim.lr`, `loss.class_weights[1]`) with the allowed
values and a did-you-mean for near misses; union-branch noise from pydantic is dropped.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from trainer.errors import ConfigError


class RuleViolation(ValueError):
    """A rule between fields is broken; raise it from a model validator.

    `key` is the field the message is about, relative to the model whose validator raises it ("" for the
    model itself), so the `ConfigError` names `optim.nesterov` rather than `optim`. `involves` lists every
    field the rule reads (relative to that model), so a caller that varies some of them, such as the sweep's
    search-space check, can say which combination broke it.
    """

    def __init__(self, message: str, *, key: str = "", involves: tuple[str, ...]) -> None:
        super().__init__(message)
        self.key = key
        self.involves = involves


def validation_error_to_config_error(
    error: ValidationError, model: type[BaseModel], *, prefix: str = "", source: str | Path | None = None
) -> ConfigError:
    """Summarise a pydantic error: the first problem's key path names the error, all problems are listed."""
    details = _drop_mismatched_union_branches(error.errors())
    problems = [(join_path(prefix, _blamed_loc(detail)), _describe(detail, model)) for detail in details]
    key, first = problems[0]
    message = first
    if len(problems) > 1:
        message += "".join(f"\n  {other_key}: {other}" for other_key, other in problems[1:])
    return ConfigError(key, message, source=source)


def rule_keys(error: ValidationError, *, prefix: str = "") -> tuple[str, ...]:
    """The dotted keys read by the `RuleViolation` behind `error`'s first problem; () for any other problem."""
    detail = _drop_mismatched_union_branches(error.errors())[0]
    rule = detail.get("ctx", {}).get("error")
    if not isinstance(rule, RuleViolation):
        return ()
    return tuple(join_path(prefix, [*detail["loc"], *key.split(".")]) for key in rule.involves)


def _blamed_loc(detail: Mapping[str, Any]) -> tuple[Any, ...]:
    """pydantic's location of the problem, extended by the field a `RuleViolation` blames."""
    rule = detail.get("ctx", {}).get("error")
    if isinstance(rule, RuleViolation) and rule.key:
        return (*detail["loc"], *rule.key.split("."))
    return tuple(detail["loc"])


def _drop_mismatched_union_branches(details: list[Any]) -> list[Any]:
    """For a value that failed every branch of a union, keep only the branch that fits its type.

    `class_weights: 'stat'` should read as a bad choice, not also as "Input should be a valid list".
    """
    by_key: dict[str, list[Any]] = {}
    for detail in details:
        by_key.setdefault(join_path("", detail["loc"]), []).append(detail)
    kept = []
    for detail in details:
        siblings = by_key[join_path("", detail["loc"])] + [
            other
            for key, group in by_key.items()
            if key.startswith(join_path("", detail["loc"]) + "[")
            for other in group
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
        return unknown_key_message(str(detail["loc"][-1]), allowed)
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
        current = section_type(current.model_fields[part].annotation)
    return current


def join_path(prefix: str, loc: Iterable[Any]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in {"literal['none','stats']", "list[constrained-float]"} or "[" in str(part):
            continue  # pydantic's union-branch labels, not keys a user wrote
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def unknown_key_message(key: str, allowed: Iterable[str]) -> str:
    allowed = sorted(allowed)
    message = f"unknown key {key!r}"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.5)  # 0.5 so `lrate` finds `lr`
    if close:
        message += f"; did you mean {close[0]!r}?"
    return f"{message} (allowed keys: {', '.join(allowed)})"


def section_type(annotation: Any) -> type[BaseModel] | None:
    """The nested config class behind a field annotation (`SynthConfig | None` gives SynthConfig)."""
    candidates = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None
