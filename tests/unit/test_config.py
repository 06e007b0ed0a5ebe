"""TrainConfig validation, YAML reading, overrides and error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.config import TrainConfig
from trainer.config_loading import (
    apply_overrides,
    check_path,
    config_from_dict,
    field_paths,
    flatten,
    load_config,
    parse_assignment,
)
from trainer.errors import ConfigError


def test_defaults_are_the_published_recipe() -> None:
    config = TrainConfig()
    assert (config.optim.name, config.optim.lr, config.optim.schedule, config.optim.poly_power) == (
        "sgd",
        0.01,
        "poly",
        0.9,
    )
    assert config.data.crop_size == 513 and config.model.output_stride == 16


def test_config_is_frozen() -> None:
    config = TrainConfig()
    with pytest.raises(Exception, match="frozen"):
        config.epochs = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "key", "pattern"),
    [
        ({"optim": {"name": "sgdd"}}, "optim.name", r"'sgdd' is not one of adam, adamw, sgd; did you mean 'sgd'\?"),
        ({"optim": {"lrr": 0.1}}, "optim.lrr", r"unknown key 'lrr'; did you mean 'lr'\?"),
        ({"modle": {}}, "modle", r"did you mean 'model'\?"),
        ({"model": {"output_stride": 4}}, "model.output_stride", "4 is not one of 8, 16"),
        ({"loss": {"class_weights": "stat"}}, "loss.class_weights", "'stat' is not one of none, stats"),
        ({"loss": {"class_weights": [1.0, -1.0]}}, "loss.class_weights[1]", "greater than or equal to 0"),
        ({"loss": {"class_weights": [1.0, 2.0]}}, "loss", r"class_weights has 2 values; give one per VOC class \(21\)"),
        ({"loss": {"focal_alpha": [0.5] * 20}}, "loss", "focal_alpha has 20 values"),
        ({"loss": {"ce_weight": 0}}, "loss", "both 0"),
        ({"data": {"scale_min": 3.0}}, "data", "must not exceed scale_max"),
        ({"epochs": 0}, "epochs", "greater than or equal to 1"),
        ({"optim": {"lr": -1}}, "optim.lr", r"greater than 0 \(got -1\)"),
        (
            {"optim": {"name": "adam", "nesterov": True}},
            "optim.nesterov",
            r"needs name 'sgd' .*got name 'adam'.*set nesterov to false",
        ),
        (
            {"optim": {"momentum": 0.0, "nesterov": True}},
            "optim.nesterov",
            r"a momentum above 0 \(got name 'sgd', momentum 0.0\)",
        ),
        (
            {"optim": {"min_lr": 1e-4}},
            "optim.min_lr",
            r"only used by the cosine schedule, not 'poly'; set min_lr to 0, or schedule to cosine",
        ),
        (
            {"optim": {"schedule": "cosine", "min_lr": 1e-3}},
            "optim.min_lr",
            r"below the smallest group lr, lr \* min\(1, backbone_lr_mult\) = 0.001",
        ),
        (
            {"optim": {"schedule": "cosine", "min_lr": 0.01, "backbone_lr_mult": 2.0}},
            "optim.min_lr",
            "= 0.01; lower min_lr",
        ),
        (
            {"model": {"pretrained": True, "weights_path": "some.pt"}},
            "model.weights_path",
            "cannot be combined with pretrained: true",
        ),
        (
            {"epochs": 2, "optim": {"warmup_epochs": 2}},
            "optim.warmup_epochs",
            r"warmup must end before training does.*2.0 of 2 epochs",
        ),
        ({"loss": {"focal_gamma": float("inf")}}, "loss.focal_gamma", "finite number"),
        ({"optim": {"lr": float("nan")}}, "optim.lr", "finite number"),
        ({"loss": {"class_weights": [0.0] * 21}}, "loss", "class_weights are all 0"),
        ({"loss": {"focal_alpha": []}}, "loss", "focal_alpha has 0 values"),
        ({"device": "gpu"}, "device", r"'gpu' is not a device; use auto, cpu, cuda or cuda:N"),
        ({"device": "cuda:x"}, "device", "is not a device"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(data: dict, key: str, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as caught:
        config_from_dict(data)
    assert caught.value.key == key
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    "data",
    [
        {"optim": {"nesterov": True, "momentum": 0.9}},
        {"optim": {"schedule": "cosine", "min_lr": 1e-4}},
        {"optim": {"schedule": "cosine", "min_lr": 5e-3, "backbone_lr_mult": 1.0}},
        {"model": {"weights_path": "some.pt"}},
        {"epochs": 2, "optim": {"warmup_epochs": 1.5}},
        {"device": "cuda:1"},
        {"device": "cpu"},
    ],
)
def test_rules_accept_the_combinations_that_train(data: dict) -> None:
    config_from_dict(data)


@pytest.mark.parametrize(
    "module",
    ["trainer.optim", "trainer.schedules", "trainer.losses", "trainer.model.backbones", "trainer.model.deeplabv3plus"],
)
def test_factories_know_no_config(module: str) -> None:
    """Factories check their own arguments; config keys and `ConfigError` belong to `trainer.config`."""
    import ast
    import importlib

    tree = ast.parse(Path(importlib.import_module(module).__file__ or "").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"trainer.config", "trainer.config_errors", "trainer.config_loading"}
    assert "ConfigError" not in ast.dump(tree)


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("epochs: 3\noptim:\n  lr: [0.1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: invalid YAML at line 4, column 1"):
        load_config(path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.yaml: file not found"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_are_parsed_as_yaml_and_applied(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 3\noptim: {lr: 0.1}\n")
    config = load_config(path, ["optim.lr=1e-3", "model.separable=true", "data.synthesize.train=5"])
    assert config.optim.lr == 0.001 and config.model.separable is True
    assert config.data.synthesize is not None and config.data.synthesize.train == 5
    assert config.epochs == 3


def test_override_of_unknown_path_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"optim.lrate: unknown key 'lrate'"):
        apply_overrides({}, {"optim.lrate": 1}, TrainConfig)
    with pytest.raises(ConfigError, match="is a value, not a section"):
        check_path("optim.lr.x", TrainConfig)
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignment("optim.lr")


def test_override_does_not_mutate_its_input() -> None:
    original = {"optim": {"lr": 0.1}}
    apply_overrides(original, {"optim.lr": 0.5}, TrainConfig)
    assert original == {"optim": {"lr": 0.1}}


def test_field_paths_and_flatten_agree() -> None:
    paths = field_paths()
    assert {"optim.lr", "model.backbone", "data.synthesize.train", "loss.focal_gamma"} <= set(paths)
    flat = flatten(TrainConfig().to_dict())
    assert flat["optim.lr"] == 0.01 and flat["data.root"] == "data/voc-synth"
    assert flat["data.synthesize"] is None


def test_num_classes_matches_the_data_layer() -> None:
    from trainer.constants import NUM_CLASSES
    from trainer.data import NUM_CLASSES as DATA_NUM_CLASSES
    from trainer.data import VOC_CLASSES

    assert NUM_CLASSES == DATA_NUM_CLASSES == len(VOC_CLASSES)
