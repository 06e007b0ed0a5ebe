"""Seeding a study: `enqueue` sets checked at load and queued once each, and warm starts from another study.

Real `sweep run` processes that run the sets and copy the trials are in `tests/e2e/test_sweep_seeding_runs.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from helpers import study_document, tiny_train
from optuna.distributions import CategoricalDistribution as OptunaCategorical
from optuna.distributions import FloatDistribution as OptunaFloat
from optuna.trial import TrialState, create_trial

from sweep.results.reports import status_rows
from sweep.run.enqueue import enqueue_missing
from sweep.run.warm_start import copy_trials
from sweep.spec.distributions import CategoricalDistribution, FloatDistribution
from sweep.spec.study_file import load_study_spec, study_spec_from_dict
from sweep.trials.budget import tally
from sweep.trials.record import ENQUEUED_ATTR, SURPLUS_ATTR, WARM_START_ATTR
from trainer.errors import ConfigError

SEARCH = {
    "optim.lr": {"type": "float", "low": 0.01, "high": 0.05, "step": 0.01},
    "optim.name": {"type": "categorical", "choices": ["sgd", "adam"]},
    "loss.focal_weight": {"type": "float", "low": 0.0, "high": 1.0},
}


def study_data(root: Path, **sections: Any) -> dict[str, Any]:
    train = tiny_train(root, optim={"nesterov": False})
    return study_document("seeded", n_trials=3, train=train, search=SEARCH, sampler=None, pruner=None, **sections)


# ---------------------------------------------------------------- the study file


def test_enqueued_sets_are_kept_as_written(tmp_path: Path) -> None:
    sets = [{"optim.name": "sgd", "optim.lr": 0.01, "loss.focal_weight": 0.0}, {"optim.lr": 0.03}]
    spec = study_spec_from_dict(study_data(tmp_path, enqueue=sets))
    assert spec.enqueue == sets
    assert spec.resolved()["enqueue"] == sets


@pytest.mark.parametrize(
    ("enqueue", "key", "message"),
    [
        ({"optim.lr": 0.01}, "enqueue", "must be a list of parameter sets"),
        ([{}], "enqueue[0]", "must be a non-empty mapping"),
        (
            [{"optim.momentum": 0.9}],
            "enqueue[0].optim.momentum",
            r"is not searched; .*\(optim.lr, optim.name, loss.focal_weight\)",
        ),
        ([{"optim.lr": 0.5}], "enqueue[0].optim.lr", r"0.5 is outside the float in \[0.01, 0.05\], step 0.01"),
        ([{"optim.lr": 0.015}], "enqueue[0].optim.lr", "0.015 is not on the grid"),
        ([{"optim.lr": "fast"}], "enqueue[0].optim.lr", "'fast' is not a number"),
        ([{"optim.lr": 0.01}, {"optim.name": "adamw"}], "enqueue[1].optim.name", "'adamw' is not one of sgd, adam"),
        ([{"optim.lr": 0.01}, {"optim.lr": 0.01}], "enqueue[1]", r"repeats enqueue\[0\]"),
        ([{"optim.lr": 0.01}] * 2 + [{"optim.lr": 0.02}, {"optim.lr": 0.03}], "enqueue", "lists 4 sets but"),
    ],
)
def test_bad_enqueued_sets_name_the_key(tmp_path: Path, enqueue: Any, key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        study_spec_from_dict(study_data(tmp_path, enqueue=enqueue), source=tmp_path / "s.yaml")
    assert raised.value.key == key and "s.yaml" in str(raised.value)


def test_fewer_trials_than_enqueued_sets_on_the_command_line(tmp_path: Path) -> None:
    spec = study_spec_from_dict(study_data(tmp_path, enqueue=[{"optim.lr": 0.01}, {"optim.lr": 0.02}]))
    with pytest.raises(ConfigError, match="1 is fewer than the 2 sets") as raised:
        spec.with_overrides(n_trials=1)
    assert raised.value.key == "study.n_trials"


def test_warm_start_from_is_relative_to_the_study_file(tmp_path: Path) -> None:
    (tmp_path / "studies").mkdir()
    (tmp_path / "studies" / "a.yaml").write_text("study: {name: a}\n")
    study_file = tmp_path / "studies" / "b.yaml"
    study_file.write_text(yaml.safe_dump(study_data(tmp_path, warm_start={"from": "a.yaml"})))
    spec = load_study_spec(study_file)
    assert spec.warm_start is not None and spec.warm_start.study_file == tmp_path / "studies" / "a.yaml"
    assert spec.with_overrides(warm_start_from=study_file).warm_start.study_file == study_file  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("warm_start", "message"),
    [
        ({"from": "missing.yaml"}, "no study file at .*missing.yaml"),
        ({"from": "b.yaml"}, "names this study file"),
        ({"study": "a.yaml"}, "study"),
    ],
)
def test_bad_warm_start_sections(tmp_path: Path, warm_start: dict[str, str], message: str) -> None:
    study_file = tmp_path / "b.yaml"
    study_file.write_text(yaml.safe_dump(study_data(tmp_path, warm_start=warm_start)))
    with pytest.raises(ConfigError, match=message) as raised:
        load_study_spec(study_file)
    assert raised.value.key.startswith("warm_start")


# ---------------------------------------------------------------- queueing and copying


def test_enqueue_missing_queues_each_set_once_and_a_surplus_one_again() -> None:
    study = optuna.create_study(direction="maximize")
    sets = [{"x": 1.0}, {"x": 2.0}]
    assert enqueue_missing(study, sets) == [0, 1]
    assert enqueue_missing(study, sets) == [], "a rerun queues nothing twice"
    assert [t.user_attrs[ENQUEUED_ATTR] for t in study.trials] == sets
    assert [t.system_attrs["fixed_params"] for t in study.trials] == sets
    trial = study.ask()  # the first WAITING trial: its value is fixed, and a key it leaves out is sampled
    assert trial.suggest_float("x", 0.0, 5.0) == 1.0 and 0.0 <= trial.suggest_float("y", 0.0, 1.0) <= 1.0
    surplus = study.ask()
    surplus.set_user_attr(SURPLUS_ATTR, "budget taken")
    study.tell(surplus, state=TrialState.FAIL)
    assert enqueue_missing(study, sets) == [1], "the surplus trial never ran its set"


def source_study() -> optuna.Study:
    study = optuna.create_study(direction="maximize", study_name="a")
    lr, name = OptunaFloat(0.001, 0.1, log=True), OptunaCategorical(["sgd", "adam", "adamw"])
    trials = [
        (TrialState.COMPLETE, 0.5, {"optim.lr": 0.02, "optim.name": "sgd"}),
        (TrialState.PRUNED, None, {"optim.lr": 0.03, "optim.name": "adam"}),
        (TrialState.COMPLETE, 0.6, {"optim.lr": 0.04, "optim.name": "adamw"}),
        (TrialState.FAIL, None, {"optim.lr": 0.01, "optim.name": "sgd"}),
        (TrialState.COMPLETE, 0.7, {"optim.lr": 0.002, "optim.name": "sgd"}),
    ]
    for state, value, params in trials:
        study.add_trial(
            create_trial(
                state=state,
                value=value,
                params=params,
                distributions={"optim.lr": lr, "optim.name": name},
                user_attrs={"mlflow_run_id": "abc", "checkpoint_dir": "/elsewhere"},
                intermediate_values={1: 0.1, 2: 0.2},
            )
        )
    return study


def test_copy_trials_copies_what_fits_skips_the_rest_and_never_twice() -> None:
    search = {
        "optim.lr": FloatDistribution(low=0.01, high=0.05),
        "optim.name": CategoricalDistribution(choices=["sgd", "adam"]),
        "model.backbone": CategoricalDistribution(choices=["mobilenet_v3_large", "resnet50"]),
    }
    source_train = {"model.backbone": "mobilenet_v3_large"}
    study = optuna.create_study(direction="maximize")
    report = copy_trials(
        study, source_study(), storage="sqlite:///a.db", search=search, train={}, source_train=source_train
    )
    assert report.copied == [0, 1], "COMPLETE and PRUNED; FAIL never"
    assert report.skipped == {
        2: "optim.name: 'adamw' is not one of sgd, adam",
        4: "optim.lr: 0.002 is outside the float in [0.01, 0.05]",
    }
    copies = study.trials
    assert [t.state for t in copies] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert copies[0].params == {"optim.lr": 0.02, "optim.name": "sgd", "model.backbone": "mobilenet_v3_large"}
    assert copies[1].intermediate_values == {1: 0.1, 2: 0.2}, "what the median pruner compares against"
    assert copies[0].user_attrs == {WARM_START_ATTR: {"study": "a", "storage": "sqlite:///a.db", "trial": 0}}
    assert tally(copies, max_retries=2).held == 0, "copied trials take no place of n_trials"
    assert [row.origin for row in status_rows(study)] == [
        "copied from study 'a' trial 0",
        "copied from study 'a' trial 1",
    ]
    again = copy_trials(
        study, source_study(), storage="sqlite:///a.db", search=search, train={}, source_train=source_train
    )
    assert again.copied == [] and again.already == [0, 1] and len(study.trials) == 2
    assert again.lines()[0] == "warm start from study 'a' (sqlite:///a.db): copied 0 trials, 2 copied before, skipped 2"


def test_a_key_only_the_other_study_searched_must_have_this_studys_value() -> None:
    search = {"optim.name": CategoricalDistribution(choices=["sgd", "adam", "adamw"])}
    study = optuna.create_study(direction="maximize")
    report = copy_trials(study, source_study(), storage="s", search=search, train={"optim.lr": 0.02}, source_train={})
    assert report.copied == [0]
    assert report.skipped[1] == "optim.lr=0.03, which this study does not search and sets to 0.02"


def test_a_copied_trial_is_never_the_best_of_the_study_it_was_copied_into() -> None:
    from sweep.trials.own_trials import own_best_trial
    from sweep.trials.record import WARM_START_ATTR

    study = optuna.create_study(direction="maximize")
    assert own_best_trial(study) is None
    distributions = {"lr": optuna.distributions.FloatDistribution(1e-3, 1e-1)}
    copied = optuna.trial.create_trial(
        params={"lr": 0.05}, distributions=distributions, value=0.9, user_attrs={WARM_START_ATTR: {"trial": 3}}
    )
    study.add_trials([copied])
    assert own_best_trial(study) is None  # the copy alone has no run or checkpoint here
    for value in (0.4, 0.6, 0.6):
        trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-3, 1e-1)})
        study.tell(trial, value)
    best = own_best_trial(study)
    assert best is not None and (best.number, best.value) == (2, 0.6)  # the first of the equal 0.6s
    assert study.best_trial.number == 0  # Optuna's own pick is the copy
