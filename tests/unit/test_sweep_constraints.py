"""Searching under a budget: each trial's network measured before it trains, `constraints` judged through
Optuna's constraint values, infeasible trials stopped untrained, and the best feasible trial chosen.

Whole studies under a budget are in `tests/e2e/test_sweep_constraints_study.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from helpers import QUICK_LATENCY, study_document
from optuna.distributions import FloatDistribution as OptunaFloat
from optuna.trial import TrialState, create_trial

from sweep.cli.output import print_table
from sweep.results.reports import status_rows
from sweep.run.warm_start import copy_trials
from sweep.spec.constraints import Constraints
from sweep.spec.distributions import FloatDistribution
from sweep.spec.study_file import study_spec_from_dict
from sweep.trials.compute import StudyCompute
from sweep.trials.feasibility import judge_trial
from sweep.trials.own_trials import no_best_reason, own_best_trial
from sweep.trials.record import (
    EPOCHS_ATTR,
    GPU_S_ATTR,
    INFEASIBLE_ATTR,
    NETWORK_COST_ATTR,
    PLANNED_EPOCHS_ATTR,
    WALL_S_ATTR,
)
from trainer.errors import ConfigError
from trainer.model_cost import ModelCost


def study_data(root: Path, **sections: Any) -> dict[str, Any]:
    return study_document("budget", root, 2, sampler=None, pruner=None, **sections)


# ---------------------------------------------------------------- the bounds


def test_excess_is_each_figure_minus_its_bound_and_judge_names_the_broken_ones() -> None:
    constraints = Constraints.model_validate({"latency_ms": {"max": 25}, "params_m": {"max": 30}})
    figures = {"latency_ms": 31.5, "params_m": 11.7, "gflops": 900.0}
    assert constraints.bounds() == {"latency_ms": 25.0, "params_m": 30.0}, "gflops is not bounded"
    assert constraints.excess(figures) == pytest.approx({"latency_ms": 6.5, "params_m": -18.3})
    infeasible = constraints.judge(figures)
    assert infeasible is not None and infeasible.text() == "latency_ms 31.5 > max 25"
    assert constraints.judge({"latency_ms": 25.0, "params_m": 30.0}) is None, "a figure at its bound keeps it"
    assert Constraints().judge(figures) is None and Constraints().excess(figures) == {}


@pytest.mark.parametrize(
    ("constraints", "key", "message"),
    [
        ({"latency": {"max": 25}}, "constraints.latency", "did you mean 'latency_ms'"),
        ({"latency_ms": {"max": 0}}, "constraints.latency_ms.max", "greater than 0"),
        ({"params_m": 30}, "constraints.params_m", "valid dictionary"),
        (
            {"gflops": {"min": 1}},
            "constraints.gflops.max",
            "is required\n  constraints.gflops.min: unknown key .min. \\(allowed keys: max\\)",
        ),
    ],
)
def test_bad_constraints_name_the_key(tmp_path: Path, constraints: Any, key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        study_spec_from_dict(study_data(tmp_path, constraints=constraints), source=tmp_path / "s.yaml")
    assert raised.value.key == key and "s.yaml" in str(raised.value)


def test_resolved_study_shows_the_bounds_and_the_latency_probe(tmp_path: Path) -> None:
    spec = study_spec_from_dict(study_data(tmp_path, constraints={"latency_ms": {"max": 25}}))
    resolved = spec.resolved()
    assert resolved["constraints"] == {"latency_ms": {"max": 25.0}}
    assert resolved["study"]["latency"] == QUICK_LATENCY
    only_a_name = study_document("d", tmp_path, latency=None, sampler=None, pruner=None)
    defaults = study_spec_from_dict(only_a_name).resolved()
    assert defaults["study"]["latency"] == {"image_size": 513, "warmup": 3, "repeats": 10}
    assert "constraints" not in defaults


def test_a_trial_stores_its_figures_in_one_user_attr_and_its_constraint_values() -> None:
    """One `set_user_attr` call: a worker killed while recording leaves all the figures or none (a soak
    test once killed one between two of them, and `sweep run`'s table then failed on the missing one)."""
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    cost = ModelCost(40.351925, 144.4, 461.3, 513, 513, "cpu", "float32")
    bounds = Constraints.model_validate({"params_m": {"max": 30}, "latency_ms": {"max": 500}})
    infeasible = judge_trial(trial, cost, bounds)
    assert infeasible is not None and infeasible.text() == "params_m 40.35 > max 30"
    stored = study.trials[0]
    assert stored.user_attrs == {
        NETWORK_COST_ATTR: {
            "params_m": 40.351925,
            "gflops": 144.4,
            "latency_ms": 461.3,
            "measured_on": "cpu float32 513px",
        },
        INFEASIBLE_ATTR: "params_m 40.35 > max 30",
    }
    assert stored.constraints == pytest.approx({"params_m": 10.351925, "latency_ms": -38.7})


def test_the_status_table_shows_a_dash_for_a_trial_never_measured(capsys: pytest.CaptureFixture[str]) -> None:
    study = optuna.create_study(direction="maximize")
    killed = study.ask()  # its worker died before the measurement
    study.tell(killed, state=TrialState.FAIL)
    measured = study.ask()
    judge_trial(measured, ModelCost(11.727397, 0.767, 210.84, 64, 513, "cpu", "float32"), Constraints())
    study.tell(measured, 0.3)
    print_table(status_rows(study), title="t")
    first_lines = [line.split("│") for line in capsys.readouterr().out.splitlines() if line[:3] in ("│ 0", "│ 1")]
    ms_column = 1 + ["#", "state", "best mIoU", "epochs", "params", "ms", "MLflow run", "notes"].index("ms")
    assert [cells[ms_column].strip() for cells in first_lines] == ["-", "210.8"]


# ---------------------------------------------------------------- choosing among trials


def finished(number: int, value: float, constraints: dict[str, float] | None = None) -> optuna.trial.FrozenTrial:
    trial = create_trial(
        state=TrialState.COMPLETE,
        value=value,
        params={"optim.lr": 0.02},
        distributions={"optim.lr": OptunaFloat(0.01, 0.05)},
    )
    for key, excess in (constraints or {}).items():
        trial.set_constraint(key, excess)
    return trial


def test_the_best_trial_is_the_best_feasible_one() -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trials(
        [
            finished(0, 0.90, {"latency_ms": 4.0}),
            finished(1, 0.60, {"latency_ms": -1.0}),
            finished(2, 0.70, {"latency_ms": 0.0}),
        ]
    )
    best = own_best_trial(study)
    assert best is not None and best.number == 2, "0.90 breaks its bound; 0.70 sits on it"
    assert study.best_trial.number == 2, "Optuna's own best_trial agrees"


def test_no_best_says_whether_nothing_completed_or_nothing_keeps_the_bounds() -> None:
    study = optuna.create_study(direction="maximize")
    assert no_best_reason(study, "sweep run s.yaml") == (
        "has no completed trial yet (copies from a warm start have no model here); run `sweep run s.yaml` until one "
        "completes"
    )
    stopped = create_trial(state=TrialState.PRUNED, user_attrs={INFEASIBLE_ATTR: "params_m 40.35 > max 30"})
    study.add_trial(stopped)
    assert no_best_reason(study, "sweep run s.yaml") == (
        "has no completed trial: its networks broke the study's constraints before training (trials #0; `sweep "
        "status` says by how much); loosen the constraints or search networks that keep them"
    )
    study.add_trials([finished(1, 0.9, {"params_m": 10.4}), finished(2, 0.8, {"params_m": 0.5})])
    assert own_best_trial(study) is None
    assert (
        no_best_reason(study, "-") == "has 2 completed trials but none keeps its constraints (trials #1, #2 break them)"
    )


def attempt(state: TrialState, epochs: int, planned: int, **attrs: Any) -> optuna.trial.FrozenTrial:
    user_attrs = {EPOCHS_ATTR: epochs, WALL_S_ATTR: 10.0 * epochs + 1, GPU_S_ATTR: 0.0, PLANNED_EPOCHS_ATTR: planned}
    return create_trial(
        state=state,
        value=0.5 if state == TrialState.COMPLETE else None,
        params={"optim.lr": 0.02},
        distributions={"optim.lr": OptunaFloat(0.01, 0.05)},
        user_attrs={**user_attrs, **attrs},
    )


def test_an_infeasible_trial_is_no_saving_of_pruning() -> None:
    trials = [
        attempt(TrialState.COMPLETE, 4, 4),
        attempt(TrialState.PRUNED, 1, 4),  # pruning saved 3 epochs here
        attempt(TrialState.PRUNED, 0, 4, **{INFEASIBLE_ATTR: "params_m 40.35 > max 30"}),
    ]
    for number, trial in enumerate(trials):
        trial.number = number
    compute = StudyCompute.of(trials)
    assert (compute.epochs, compute.no_pruning_epochs) == (5, 8), "the infeasible trial would never train either"
    assert compute.epochs_saved == pytest.approx(3 / 8)


def test_a_warm_start_judges_copies_by_this_studys_bounds_and_skips_the_unmeasured() -> None:
    source = optuna.create_study(direction="maximize", study_name="a")
    lr = OptunaFloat(0.01, 0.05)
    measured = {
        NETWORK_COST_ATTR: {
            "params_m": 40.35,
            "gflops": 2.0,
            "latency_ms": 12.0,
            "measured_on": "cuda:0 bfloat16 513px",
        }
    }
    source.add_trials(
        [
            create_trial(state=TrialState.COMPLETE, value=0.7, params={"optim.lr": 0.02}, distributions={"optim.lr": lr}, user_attrs=measured),
            create_trial(state=TrialState.COMPLETE, value=0.6, params={"optim.lr": 0.03}, distributions={"optim.lr": lr}),
        ]
    )  # fmt: skip
    study = optuna.create_study(direction="maximize", study_name="b")
    search = {"optim.lr": FloatDistribution(low=0.01, high=0.05)}
    bounds = Constraints.model_validate({"params_m": {"max": 30}})
    report = copy_trials(study, source, storage="s", search=search, train={}, source_train={}, constraints=bounds)
    assert report.copied == [0]
    assert report.skipped == {1: "its study measured no params_m, which this study's constraints bound"}
    (copy,) = study.get_trials()
    assert copy.constraints == pytest.approx({"params_m": 10.35})
    assert copy.user_attrs[INFEASIBLE_ATTR] == "params_m 40.35 > max 30"
    assert copy.user_attrs[NETWORK_COST_ATTR] == measured[NETWORK_COST_ATTR], "the figures as measured"
