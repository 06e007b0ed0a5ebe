"""Reading YAML into typed configs, dotted-path overrides, and readable validation errors.

This is the only module that knows the YAML's shape is a nested mapping. Every failure becomes a
`ConfigError` whose message names the file, the dotted key path and the allowed values, with a
did-you-mean for near misses.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from trainer.config import TrainConfig
from trainer.config_errors import join_path, section_type, unknown_key_message, validation_error_to_config_error
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
        document = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError("", f"invalid YAML at {where}{error.problem}", source=path) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError("", f"the top level must be a mapping of keys, got {type(document).__name__}", source=path)
    return document


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.safe_load`, except that a key written twice in one mapping is an error, not a silent overwrite."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` may be overridden key by key
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, typing.Hashable) and key in first_lines:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {first_lines[key] + 1}); keep one of them",
                    key_node.start_mark,
                )
            if isinstance(key, typing.Hashable):
                first_lines[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def validate(
    model: type[ModelT], data: Mapping[str, Any], *, prefix: str = "", source: str | Path | None = None
) -> ModelT:
    """Build `model` from `data`, turning pydantic's errors into one `ConfigError`.

    `prefix` is prepended to key paths (a study's `train` section reports `train.optim.lr`).
    """
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        raise validation_error_to_config_error(error, model, prefix=prefix, source=source) from None


def config_from_dict(data: Mapping[str, Any], *, source: str | Path | None = None) -> TrainConfig:
    """Validate a nested mapping as a `TrainConfig`."""
    return validate(TrainConfig, data, source=source)


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> TrainConfig:
    """Read a training YAML file, apply `key=value` overrides (values parsed as YAML) and validate.

    An error names `--set` as its source when the key it blames was set there, and the file otherwise."""
    data = read_yaml(path)
    try:
        assignments = dict(parse_assignment(item) for item in overrides)
        data = apply_overrides(data, assignments, TrainConfig)
    except ConfigError as error:
        raise ConfigError(error.key, error.message, source="--set") from None
    try:
        return config_from_dict(data, source=path)
    except ConfigError as error:
        if error.key not in assignments:
            raise
        raise ConfigError(error.key, error.message, source="--set") from None


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
            raise ConfigError(join_path(prefix, walked), f"is a value, not a section; {path!r} cannot go deeper")
        fields = current.model_fields
        if part not in fields:
            raise ConfigError(join_path(prefix, [*walked, part]), unknown_key_message(part, fields))
        walked.append(part)
        current = section_type(fields[part].annotation)


def field_paths(model: type[BaseModel] = TrainConfig, prefix: str = "") -> list[str]:
    """Every dotted leaf path of `model`, e.g. `optim.lr`."""
    paths: list[str] = []
    for name, field in model.model_fields.items():
        section = section_type(field.annotation)
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


def validate_tagged_fields(
    model: type[BaseModel], data: Mapping[str, Any], *, prefix: str, source: str | Path | None
) -> Any:
    """`validate`, with each `type`-tagged field checked first against the class its tag names.

    Pydantic reports a bad tag or a key of the tagged class less helpfully than `validate` reports a
    plain model, so the tag is checked as a literal (did-you-mean included) and then its class as a whole.
    """
    data = dict(data)
    for name, field in model.model_fields.items():
        if field.discriminator == "type" and name in data:
            data[name] = validate_tagged(field.annotation, data[name], key=f"{prefix}.{name}", source=source)
    return validate(model, data, prefix=prefix, source=source)


def validate_tagged(union: Any, data: Any, *, key: str, source: str | Path | None) -> BaseModel:
    """`data` validated as the member of the `type`-tagged `union` that its tag names, errors keyed at `key`."""
    if typing.get_origin(union) is Annotated:
        union = typing.get_args(union)[0]
    classes: dict[str, type[BaseModel]] = {
        typing.get_args(member.model_fields["type"].annotation)[0]: member for member in typing.get_args(union)
    }
    if not isinstance(data, Mapping):
        raise ConfigError(
            key, f"must be a mapping with a type ({', '.join(sorted(classes))}), got {data!r}", source=source
        )
    tags: Any = Literal[tuple(classes)]  # built at run time from the union's members
    tag_model = create_model("Tag", __config__=ConfigDict(extra="ignore"), type=(tags, ...))
    tag = validate(tag_model, data, prefix=key, source=source).model_dump()["type"]
    return validate(classes[tag], data, prefix=key, source=source)
