"""Study files: loading, defaults, trial configs, every class of bad input, the search space and factories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from helpers import set_in, study_document

from sweep.database_urls import parse_storage_url, parse_tracking_uri
from sweep.spec.distributions import FloatDistribution, describe_space, suggest
from sweep.spec.samplers import (
    HyperbandPrunerSpec,
    MedianPrunerSpec,
    NoPrunerSpec,
    RandomSamplerSpec,
    TPESamplerSpec,
    build_pruner,
    build_sampler,
)
from sweep.spec.study_file import StudySpec, load_study_spec
from trainer.config import TrainConfig
from trainer.errors import ConfigError

STUDIES = Path(__file__).resolve().parents[2] / "studies"
LR = {"type": "float", "low": 1.0e-4, "high": 1.0e-1, "log": True}


def minimal_study() -> dict[str, Any]:
    """Only a name in the study section: every other study setting takes its default."""
    search = {
        "optim.lr": LR,
        "optim.schedule": {"type": "categorical", "choices": ["step", "cosine"]},
        "data.batch_size": {"type": "int", "low": 2, "high": 8, "step": 2},
    }
    train = {"epochs": 2, "optim": {"name": "sgd"}}
    return study_document("tiny", train=train, search=search, latency=None, sampler=None, pruner=None)


def write(tmp_path: Path, document: dict[str, Any] | str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def spec(tmp_path: Path) -> StudySpec:
    return load_study_spec(write(tmp_path, minimal_study()))


@pytest.mark.parametrize("name", ["smoke.yaml", "voc_focal.yaml"])
def test_shipped_studies_load(name: str) -> None:
    loaded = load_study_spec(STUDIES / name)
    assert loaded.study.name == name.removesuffix(".yaml").replace("_", "-")
    assert "optim.lr" in loaded.search and loaded.search["optim.lr"].log


def test_smoke_study_generates_its_data_and_can_prune() -> None:
    smoke = load_study_spec(STUDIES / "smoke.yaml")
    assert smoke.train.data.synthesize is not None and smoke.train.model.backbone == "mobilenet_v3_large"
    assert smoke.study.pruner == MedianPrunerSpec(n_startup_trials=2, n_warmup_steps=1)
    assert smoke.study.n_trials > smoke.study.pruner.n_startup_trials


def test_defaults_are_resolved(spec: StudySpec) -> None:
    # relative SQLite paths resolve against the working folder (MLflow caches stores per URL string)
    assert spec.storage_url == f"sqlite:///{Path.cwd()}/runs/tiny/optuna.db"
    assert spec.tracking_uri == f"sqlite:///{Path.cwd()}/runs/mlflow.db"
    assert spec.experiment_name == spec.registered_model_name == "tiny"
    assert spec.artifacts_dir == Path("runs/tiny/trials")
    assert spec.study.direction == "maximize"
    assert spec.study.sampler == TPESamplerSpec() and spec.study.pruner == MedianPrunerSpec()


def test_resolved_is_plain_yaml_with_defaults(spec: StudySpec) -> None:
    resolved = spec.resolved()
    assert yaml.safe_load(yaml.safe_dump(resolved)) == resolved
    assert resolved["study"]["storage"] == f"sqlite:///{Path.cwd()}/runs/tiny/optuna.db"
    assert resolved["study"]["artifacts_dir"] == "runs/tiny/trials"
    assert resolved["tracking"] == {
        "uri": f"sqlite:///{Path.cwd()}/runs/mlflow.db",
        "experiment": "tiny",
        "registered_model": "tiny",
        "system_metrics": True,
    }
    assert resolved["train"]["epochs"] == 2 and resolved["train"]["optim"]["momentum"] == 0.9
    assert "checkpoint" not in resolved["train"]
    assert resolved["search"]["data.batch_size"] == {"type": "int", "low": 2, "high": 8, "log": False, "step": 2}


def test_explicit_settings_override_defaults(tmp_path: Path) -> None:
    document = minimal_study()
    document["study"].update(storage="postgresql+psycopg2://u@db/optuna", artifacts_dir="/data/trials")
    document["tracking"] = {"uri": "http://mlflow:5000", "experiment": "exp", "registered_model": "voc"}
    loaded = load_study_spec(write(tmp_path, document))
    assert (loaded.storage_url, loaded.tracking_uri) == ("postgresql+psycopg2://u@db/optuna", "http://mlflow:5000")
    assert (loaded.experiment_name, loaded.registered_model_name, loaded.artifacts_dir) == (
        "exp",
        "voc",
        Path("/data/trials"),
    )


def test_trial_config_applies_params_and_checkpoint(spec: StudySpec, tmp_path: Path) -> None:
    config = spec.trial_config({"optim.lr": 0.05, "data.batch_size": 4}, checkpoint_dir=tmp_path / "trial-3")
    assert isinstance(config, TrainConfig)
    assert (config.optim.lr, config.data.batch_size, config.epochs) == (0.05, 4, 2)
    assert config.checkpoint.dir == tmp_path / "trial-3" and config.checkpoint.resume is True


def test_trial_config_rejects_bad_params(spec: StudySpec, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"optim.lr: Input should be greater than 0"):
        spec.trial_config({"optim.lr": -1.0}, checkpoint_dir=tmp_path)


def test_train_data_is_a_copy(spec: StudySpec) -> None:
    spec.train_data["epochs"] = 99
    assert spec.train_data == {"epochs": 2, "optim": {"name": "sgd"}}


def test_with_overrides_validates_the_new_values(spec: StudySpec) -> None:
    changed = spec.with_overrides(
        n_trials=3, timeout=60, storage="sqlite:///other.db", tracking_uri="https://mlflow.example"
    )
    assert (changed.study.n_trials, changed.study.timeout, changed.storage_url) == (
        3,
        60,
        f"sqlite:///{Path.cwd()}/other.db",
    )
    assert changed.tracking_uri == "https://mlflow.example" and changed.search == spec.search
    assert spec.with_overrides().study == spec.study and spec.study.n_trials == 20
    with pytest.raises(ConfigError, match=r"command line: study.n_trials: Input should be greater than or equal to 1"):
        spec.with_overrides(n_trials=0)
    with pytest.raises(ConfigError, match=r"tracking.uri: .*file store"):
        spec.with_overrides(tracking_uri="mlruns")
    with pytest.raises(ConfigError, match=r"study.storage: .*also tracking.uri"):
        spec.with_overrides(storage="sqlite:///runs/./mlflow.db")


def _set(path: str, value: Any) -> dict[str, Any]:
    """The minimal study with the dotted `path` set to `value` (top-level sections included)."""
    return set_in(minimal_study(), path.split(".", 1) if path.startswith("search.") else path.split("."), value)


BAD_STUDIES = [
    # (document, key, message pattern)
    ({**minimal_study(), "serach": {}}, "serach", r"unknown key 'serach'; did you mean 'search'\?"),
    ({k: v for k, v in minimal_study().items() if k != "study"}, "study", "is required"),
    (_set("study.name", "voc focal"), "study.name", "only letters, digits"),
    (_set("study.name", ".."), "study.name", "parent folder"),
    (
        _set("study.direction", "maximise"),
        "study.direction",
        r"'maximise' is not one of maximize; did you mean 'maximize'\?",
    ),
    (_set("study.n_trials", 0), "study.n_trials", "greater than or equal to 1"),
    (
        _set("study.pruner", {"type": "medain"}),
        "study.pruner.type",
        r"'medain' is not one of hyperband, median, none; did you mean 'median'\?",
    ),
    (
        _set("study.pruner", {"type": "median", "warmup": 1}),
        "study.pruner.warmup",
        r"unknown key 'warmup'.*allowed keys: interval_steps",
    ),
    (_set("study.pruner", {"n_warmup_steps": 1}), "study.pruner.type", "is required"),
    (_set("study.pruner", "median"), "study.pruner", "must be a mapping with a type"),
    (
        _set("study.pruner", {"type": "hyperband", "max_resource": "max"}),
        "study.pruner.max_resource",
        "'max' is not one of auto",
    ),
    (
        _set("study.pruner", {"type": "hyperband", "min_resource": 3, "max_resource": 2}),
        "study.pruner",
        "must exceed min_resource",
    ),
    (_set("study.sampler", {"type": "random", "n_startup_trials": 3}), "study.sampler.n_startup_trials", "unknown key"),
    (_set("study.sampler", {"type": "tpe", "seed": -1}), "study.sampler.seed", "greater than or equal to 0"),
    (_set("study.sampler", {"type": "grid"}), "study.sampler.type", "'grid' is not one of cmaes, gp, random, tpe"),
    (_set("study.storage", "redis://cache"), "study.storage", r"accepted: sqlite:///PATH, postgresql://.*mysql://"),
    (_set("study.storage", "sqlite://optuna.db"), "study.storage", "three slashes"),
    (_set("study.storage", "sqlite:///runs/mlflow.db"), "study.storage", r"also tracking.uri.*optuna#2866"),
    (_set("tracking.uri", "runs/mlruns"), "tracking.uri", r"file store.*deprecated.*3.13"),
    (_set("tracking.uri", "file:///tmp/mlruns"), "tracking.uri", "file store"),
    (_set("tracking.uri", "s3://bucket"), "tracking.uri", r"unsupported scheme 's3'"),
    (_set("tracking.experment", "x"), "tracking.experment", r"did you mean 'experiment'\?"),
    (_set("train.optim", {"lrr": 0.1}), "train.optim.lrr", r"unknown key 'lrr'; did you mean 'lr'\?"),
    (_set("train.loss", {"ce_weight": 0}), "train.loss", "both 0"),
    (_set("train.checkpoint", {"dir": "x"}), "train.checkpoint", "the sweep sets each trial's checkpoint folder"),
    ({**minimal_study(), "search": {}}, "search", "is empty"),
    (_set("search.optim.lrate", LR), "search.optim.lrate", r"unknown key 'lrate'; did you mean 'lr'\?"),
    (
        _set("search.optim", LR),
        "search.optim",
        "names a section, not a value; search one of its keys: optim.name, optim.lr",
    ),
    (
        _set("search.checkpoint.dir", {"type": "categorical", "choices": ["a"]}),
        "search.checkpoint.dir",
        r"the sweep owns checkpoint\.\*",
    ),
    (
        _set("search.optim.lr", {"type": "floot", "low": 0.1, "high": 1}),
        "search.optim.lr.type",
        r"did you mean 'float'\?",
    ),
    (_set("search.optim.lr", "0.1"), "search.optim.lr", "must be a mapping with a type"),
    (_set("search.optim.lr", {"type": "float", "low": 0.1}), "search.optim.lr.high", "is required"),
    (
        _set("search.optim.lr", {"type": "float", "low": -1, "high": 0.1}),
        "search.optim.lr.low",
        r"greater than 0 \(got -1.0\)",
    ),
    (
        _set("search.optim.momentum", {"type": "float", "low": 0.5, "high": 1.0}),
        "search.optim.momentum.high",
        "less than 1",
    ),
    (
        _set("search.optim.lr", {"type": "float", "low": 0.1, "high": 0.01}),
        "search.optim.lr",
        r"low \(0.1\) must be below high \(0.01\)",
    ),
    (
        _set("search.optim.lr", {"type": "float", "low": 0.0, "high": 0.1, "log": True}),
        "search.optim.lr",
        "log needs low > 0",
    ),
    (
        _set("search.optim.lr", {"type": "float", "low": 0.1, "high": 0.5, "log": True, "step": 0.1}),
        "search.optim.lr",
        "log and step cannot be combined",
    ),
    (
        _set("search.optim.lr", {"type": "float", "low": 0.1, "high": 0.5, "step": 0.3}),
        "search.optim.lr",
        "not a multiple of step",
    ),
    (_set("search.optim.lr", {"type": "float", "low": True, "high": 0.5}), "search.optim.lr.low", "must be a number"),
    (
        _set("search.optim.lr", {"type": "float", "low": 0.1, "high": float("inf")}),
        "search.optim.lr.high",
        "finite number",
    ),
    (
        _set("search.data.batch_size", {"type": "int", "low": 2.5, "high": 8}),
        "search.data.batch_size.low",
        "valid integer",
    ),
    (
        _set("search.data.batch_size", {"type": "int", "low": 0, "high": 8}),
        "search.data.batch_size.low",
        "greater than or equal to 1",
    ),
    (
        _set("search.data.batch_size", {"type": "int", "low": 2, "high": 8, "step": 4, "log": True}),
        "search.data.batch_size",
        "log and step",
    ),
    (
        _set("search.data.batch_size", {"type": "int", "low": 2, "high": 7, "step": 2}),
        "search.data.batch_size",
        "not a multiple of step",
    ),
    (
        _set("search.epochs", {"type": "float", "low": 1, "high": 5}),
        "search.epochs",
        "also samples 2.528.*valid integer",
    ),
    (
        _set("search.model.output_stride", {"type": "int", "low": 8, "high": 16}),
        "search.model.output_stride",
        "also samples 9.*not one of 8, 16",
    ),
    (
        _set("search.optim.name", {"type": "categorical", "choices": ["sgd", "sgdd"]}),
        "search.optim.name.choices[1]",
        r"'sgdd' is not one of adam, adamw, sgd",
    ),
    (_set("search.optim.name", {"type": "categorical", "choices": []}), "search.optim.name", "choices is empty"),
    (
        _set("search.optim.name", {"type": "categorical", "choices": ["sgd", ["adam"]]}),
        "search.optim.name.choices[1]",
        "must be null, a bool, a number or a string",
    ),
    (
        _set("search.optim.name", {"type": "categorical", "choices": ["sgd", "sgd"]}),
        "search.optim.name",
        "choices repeat 'sgd'",
    ),
    (_set("search.loss.ce_weight", {"type": "float", "low": 0.0, "high": 1.0}), "search.loss.ce_weight.low", "both 0"),
    (
        {
            **minimal_study(),
            "search": {
                "loss.ce_weight": {"type": "float", "low": 0.0, "high": 1.0},
                "loss.focal_weight": {"type": "float", "low": 0.0, "high": 1.0},
            },
        },
        "search",
        r"loss.ce_weight=0.0 and loss.focal_weight=0.0 together give an invalid train config: loss: .*both 0",
    ),
]


@pytest.mark.parametrize(("document", "key", "pattern"), BAD_STUDIES, ids=[key for _, key, _ in BAD_STUDIES])
def test_bad_study_names_the_key(tmp_path: Path, document: dict[str, Any], key: str, pattern: str) -> None:
    path = write(tmp_path, document)
    with pytest.raises(ConfigError, match=pattern) as caught:
        load_study_spec(path)
    assert caught.value.key == key
    assert caught.value.source == str(path) and caught.value.exit_code == 2


def test_interacting_ranges_are_checked_together_not_against_the_base(tmp_path: Path) -> None:
    document = minimal_study()
    document["search"] = {
        "loss.ce_weight": {"type": "float", "low": 0.0, "high": 1.0},
        "loss.focal_weight": {"type": "float", "low": 0.1, "high": 1.0},
    }
    assert set(load_study_spec(write(tmp_path, document)).search) == {"loss.ce_weight", "loss.focal_weight"}


def _with_search(train: dict[str, Any], search: dict[str, Any]) -> dict[str, Any]:
    return {**minimal_study(), "train": train, "search": search}


def choice_of(*choices: Any) -> dict[str, Any]:
    return {"type": "categorical", "choices": list(choices)}


RULE_COMBINATIONS = [
    # (train, search, key, message pattern): rules between fields, met through the search
    (
        {"optim": {"name": "adam"}},
        {"optim.nesterov": choice_of(False, True)},
        "search.optim.nesterov.choices[1]",
        r"optim.nesterov=true with train.optim.name='adam' gives an invalid train config: optim.nesterov: needs name 'sgd'",
    ),
    (
        {"optim": {"nesterov": True}},
        {"optim.momentum": {"type": "float", "low": 0.0, "high": 0.9}},
        "search.optim.momentum.low",
        r"optim.momentum=0.0 with train.optim.nesterov=true .*; to fix it, narrow the range or change train.optim.nesterov",
    ),
    (
        {"epochs": 2},
        {
            "optim.warmup_epochs": {"type": "float", "low": 0.0, "high": 3.0},
            "epochs": {"type": "int", "low": 1, "high": 4},
        },
        "search",
        r"optim.warmup_epochs=3.0 and epochs=1 together give an invalid train config: optim.warmup_epochs: warmup must end",
    ),
    (
        {"optim": {"schedule": "cosine", "min_lr": 1e-4}},
        {"optim.lr": dict(LR)},
        "search.optim.lr.low",
        r"optim.lr=0.0001 with train.optim.min_lr=0.0001 .*below the smallest group lr, .* = 1e-05; .*change train.optim.min_lr",
    ),
    (
        {"model": {"weights_path": "some.pt"}},
        {"model.pretrained": choice_of(False, True)},
        "search.model.pretrained.choices[1]",
        r"model.pretrained=true with train.model.weights_path='some.pt' .*cannot be combined",
    ),
]


@pytest.mark.parametrize(
    ("train", "search", "key", "pattern"), RULE_COMBINATIONS, ids=[key for _, _, key, _ in RULE_COMBINATIONS]
)
def test_rule_broken_by_a_combination_names_it_and_the_fix(
    tmp_path: Path, train: dict, search: dict, key: str, pattern: str
) -> None:
    with pytest.raises(ConfigError, match=pattern) as caught:
        load_study_spec(write(tmp_path, _with_search(train, search)))
    assert caught.value.key == key


def test_base_value_that_every_trial_replaces_is_not_judged(tmp_path: Path) -> None:
    """min_lr breaks the default schedule's rule, but every trial sets optim.schedule to cosine."""
    document = _with_search({"optim": {"min_lr": 1e-4}}, {"optim.schedule": choice_of("cosine")})
    spec = load_study_spec(write(tmp_path, document))
    assert spec.train.optim.schedule == "cosine" and spec.train.optim.min_lr == 1e-4
    assert spec.train_data == {"optim": {"min_lr": 1e-4}}


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "study:\n  name: x\nsearch:\n  optim.lr: {type: float, low: 0.1\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line 5, column 1"):
        load_study_spec(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_study_spec(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    "uri",
    [
        "sqlite:///runs/m.db",
        "postgresql://u@h/db",
        "mysql://u@h/db",
        "http://localhost:5000",
        "https://mlflow.example",
        "databricks",
    ],
)
def test_accepted_tracking_uris(tmp_path: Path, uri: str) -> None:
    assert (
        load_study_spec(write(tmp_path, _set("tracking.uri", uri))).tracking_uri == parse_tracking_uri(uri).absolute()
    )


@pytest.mark.parametrize(
    "url", ["sqlite:///optuna.db", "postgresql://u@h/db", "postgresql+psycopg2://u@h/db", "mysql://u@h/db"]
)
def test_accepted_storage_urls(tmp_path: Path, url: str) -> None:
    assert load_study_spec(write(tmp_path, _set("study.storage", url))).storage_url == parse_storage_url(url).absolute()


def test_suggest_draws_in_range_with_the_right_types(spec: StudySpec) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        params = suggest(trial, spec.search)
        assert trial.params == params and set(params) == {"optim.lr", "optim.schedule", "data.batch_size"}
        assert isinstance(params["optim.lr"], float) and 1e-4 <= params["optim.lr"] <= 0.1
        assert params["optim.schedule"] in {"step", "cosine"}
        assert isinstance(params["data.batch_size"], int) and params["data.batch_size"] in {2, 4, 6, 8}
        study.tell(trial, 0.0)


def test_suggest_on_a_fixed_trial_feeds_trial_config(spec: StudySpec, tmp_path: Path) -> None:
    fixed = {"optim.lr": 0.02, "optim.schedule": "step", "data.batch_size": 6}
    params = suggest(optuna.trial.FixedTrial(fixed), spec.search)
    assert params == fixed
    assert spec.trial_config(params, checkpoint_dir=tmp_path).optim.schedule == "step"


def test_describe_space(spec: StudySpec) -> None:
    assert describe_space(spec.search) == [
        "optim.lr: float in [0.0001, 0.1], log",
        "optim.schedule: one of step, cosine",
        "data.batch_size: int in [2, 8], step 2",
    ]
    assert describe_space({"loss.focal_gamma": FloatDistribution(low=0, high=5, step=0.5)}) == [
        "loss.focal_gamma: float in [0.0, 5.0], step 0.5"
    ]


def test_build_sampler() -> None:
    tpe = build_sampler(TPESamplerSpec(seed=3, n_startup_trials=7))
    assert isinstance(tpe, optuna.samplers.TPESampler) and tpe._n_startup_trials == 7
    assert type(build_sampler(RandomSamplerSpec(seed=1))) is optuna.samplers.RandomSampler


def _first_draws(sampler: optuna.samplers.BaseSampler) -> list[float]:
    study = optuna.create_study(sampler=sampler)
    return [study.ask().suggest_float("x", 0.0, 1.0) for _ in range(3)]


def test_sampler_streams_are_reproducible_and_distinct() -> None:
    spec = RandomSamplerSpec(seed=0)
    assert _first_draws(build_sampler(spec)) == _first_draws(optuna.samplers.RandomSampler(seed=0))
    assert _first_draws(build_sampler(spec, stream=1)) == _first_draws(build_sampler(spec, stream=1))
    assert _first_draws(build_sampler(spec, stream=1)) != _first_draws(build_sampler(spec))


def test_build_pruner() -> None:
    median = build_pruner(MedianPrunerSpec(n_startup_trials=2, n_warmup_steps=3, interval_steps=2, n_min_trials=4))
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert (median._n_startup_trials, median._n_warmup_steps, median._interval_steps, median._n_min_trials) == (
        2,
        3,
        2,
        4,
    )
    assert isinstance(build_pruner(NoPrunerSpec()), optuna.pruners.NopPruner)
    hyperband = build_pruner(HyperbandPrunerSpec(min_resource=2, max_resource=30, reduction_factor=4))
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert (hyperband._min_resource, hyperband._max_resource, hyperband._reduction_factor) == (2, 30, 4)


def test_specs_are_frozen(spec: StudySpec) -> None:
    with pytest.raises(Exception, match="frozen"):
        spec.study.n_trials = 5  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        spec.study = spec.study  # type: ignore[misc]


def test_directly_built_spec_applies_params_to_its_train_config(spec: StudySpec, tmp_path: Path) -> None:
    direct = StudySpec(study=spec.study, train=TrainConfig(epochs=3), search=spec.search)
    config = direct.trial_config({"optim.lr": 0.03}, checkpoint_dir=tmp_path)
    assert (config.epochs, config.optim.lr, config.checkpoint.dir) == (3, 0.03, tmp_path)
