"""The sampler factories (TPE's parallel settings, GP, CMA-ES) and the check that CMA-ES fits the search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from helpers import study_document

from sweep.spec.samplers import CmaEsSamplerSpec, GPSamplerSpec, TPESamplerSpec, build_sampler
from sweep.spec.study_file import load_study_spec
from trainer.errors import ConfigError

pytestmark = pytest.mark.unit

LR = {"type": "float", "low": 1.0e-4, "high": 1.0e-1, "log": True}
BATCH = {"type": "int", "low": 2, "high": 8, "step": 2}
SCHEDULE = {"type": "categorical", "choices": ["step", "cosine"]}


def _load(tmp_path: Path, sampler: dict[str, Any], search: dict[str, Any]) -> Any:
    document = study_document("tiny", train={"epochs": 2}, search=search, latency=None, sampler=sampler, pruner=None)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_study_spec(path)


def _draws(sampler: optuna.samplers.BaseSampler, n_trials: int) -> list[float]:
    """`n_trials` values of x from `sampler` on (x - 0.3)^2, minimised."""
    study = optuna.create_study(sampler=sampler)
    for _ in range(n_trials):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        study.tell(trial, (x - 0.3) ** 2)
    return [trial.params["x"] for trial in study.trials]


def test_tpe_runs_multivariate_with_constant_liar_by_default_as_optuna_does() -> None:
    tpe = build_sampler(TPESamplerSpec())
    assert isinstance(tpe, optuna.samplers.TPESampler)
    assert (tpe._multivariate, tpe._constant_liar) == (True, True)
    # Optuna 5.1's own defaults, for a single-objective study: the spec only writes them out.
    optuna_default = optuna.samplers.TPESampler()
    assert optuna_default._is_multivariate(optuna.create_study()) is True and optuna_default._constant_liar is True


def test_tpe_parallel_settings_can_be_turned_off() -> None:
    tpe = build_sampler(TPESamplerSpec(multivariate=False, constant_liar=False))
    assert isinstance(tpe, optuna.samplers.TPESampler)
    assert (tpe._multivariate, tpe._constant_liar) == (False, False)


def test_gp_sampler_takes_its_settings_and_repeats_its_seed() -> None:
    spec = GPSamplerSpec(seed=3, n_startup_trials=4, deterministic_objective=True)
    gp = build_sampler(spec)
    assert isinstance(gp, optuna.samplers.GPSampler)
    assert (gp._n_startup_trials, gp._deterministic) == (4, True)
    assert GPSamplerSpec() == GPSamplerSpec(seed=0, n_startup_trials=10, deterministic_objective=False)
    # 4 random start-up trials, then 2 from the GP: the same seed repeats all six, another seed does not.
    first = _draws(build_sampler(spec), 6)
    assert first == _draws(build_sampler(spec), 6)
    assert first[:4] == _draws(optuna.samplers.RandomSampler(seed=3), 4)
    assert first != _draws(build_sampler(spec, stream=1), 6)


def test_cmaes_sampler_takes_its_settings() -> None:
    spec = CmaEsSamplerSpec(seed=1, n_startup_trials=3, popsize=6, with_margin=True, consider_pruned_trials=True)
    cmaes = build_sampler(spec)
    assert isinstance(cmaes, optuna.samplers.CmaEsSampler)
    assert (cmaes._n_startup_trials, cmaes._popsize, cmaes._with_margin, cmaes._consider_pruned_trials) == (
        3,
        6,
        True,
        True,
    )
    assert CmaEsSamplerSpec() == CmaEsSamplerSpec(seed=0, n_startup_trials=1, popsize=None, with_margin=False)


def test_cmaes_samples_a_float_space_reproducibly_after_its_startup_trials() -> None:
    spec = CmaEsSamplerSpec(seed=2, n_startup_trials=2, popsize=4)
    draws = _draws(build_sampler(spec), 8)
    assert draws == _draws(build_sampler(spec), 8)
    assert draws[:2] == _draws(optuna.samplers.RandomSampler(seed=2), 2)
    assert all(0.0 <= x <= 1.0 for x in draws)


def test_study_file_refuses_cmaes_over_categorical_parameters(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, {"type": "cmaes"}, {"optim.lr": LR, "optim.schedule": SCHEDULE})
    assert raised.value.key == "study.sampler.type"
    assert str(raised.value) == (
        f"{tmp_path / 'study.yaml'}: study.sampler.type: cmaes cannot model categorical parameters "
        "(search.optim.schedule): Optuna would draw them at random in every trial; use type tpe or gp, "
        "or search only float and int parameters"
    )


@pytest.mark.parametrize(
    ("sampler", "search"),
    [
        ({"type": "cmaes", "with_margin": True}, {"optim.lr": LR, "data.batch_size": BATCH}),
        ({"type": "cmaes"}, {"optim.lr": LR, "optim.schedule": {"type": "categorical", "choices": ["step"]}}),
        ({"type": "gp", "n_startup_trials": 5}, {"optim.lr": LR, "optim.schedule": SCHEDULE}),
        ({"type": "tpe", "multivariate": False, "constant_liar": False}, {"optim.lr": LR, "optim.schedule": SCHEDULE}),
    ],
    ids=["cmaes-float-and-int", "cmaes-single-choice", "gp-categorical", "tpe-independent"],
)
def test_study_file_accepts_the_samplers_on_spaces_they_model(
    tmp_path: Path, sampler: dict[str, Any], search: dict[str, Any]
) -> None:
    loaded = _load(tmp_path, sampler, search)
    assert loaded.study.sampler.model_dump(include=set(sampler)) == sampler


def test_study_file_rejects_a_setting_of_another_sampler(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"study\.sampler\.popsize: unknown key"):
        _load(tmp_path, {"type": "gp", "popsize": 4}, {"optim.lr": LR})
