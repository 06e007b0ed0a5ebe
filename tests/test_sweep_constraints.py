"""Searching under a budget: each trial's network measured before it trains, `constraints` judged through
Optuna's constraint values, infeasible trials stopped untrained, and the best feasible trial chosen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import QUICK_LATENCY, tiny_train
from mlflow.tracking import MlflowClient
from optuna.distributions import FloatDistribution as OptunaFloat
from optuna.trial import TrialState, create_trial

from sweep.cli import cli as sweep_cli
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

RESNET50_PARAMS_M = 40.351925
MOBILENET_PARAMS_M = 11.727397


def study_data(root: Path, **sections: Any) -> dict[str, Any]:
    return {
        "study": {"latency": QUICK_LATENCY, "name": "budget", "n_trials": 2},
        "train": tiny_train(root),
        "search": {"optim.lr": {"type": "float", "low": 0.01, "high": 0.05}},
        **sections,
    }


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
    defaults = study_spec_from_dict({**study_data(tmp_path), "study": {"name": "d"}}).resolved()
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


# ---------------------------------------------------------------- end to end


def run_in(folder: Path, document: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[CliRunner, Path, str]:
    """`sweep run` the study `document` in `folder` (the working directory from now on); asserts exit 0."""
    study_file = folder / "budget.yaml"
    study_file.write_text(yaml.safe_dump(document))
    monkeypatch.chdir(folder)
    runner = CliRunner()
    ran = runner.invoke(sweep_cli, ["run", str(study_file), "--quiet"], catch_exceptions=False)
    assert ran.exit_code == 0, ran.output
    return runner, study_file, ran.output


@pytest.mark.slow
def test_an_infeasible_network_stops_before_training_and_the_feasible_one_is_best(
    synth_voc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ResNet-50 (40.35 M parameters) breaks `params_m <= 30`, MobileNetV3 (11.73 M) keeps it; the study
    enqueues one of each so the order is known."""
    document = study_data(
        synth_voc,
        constraints={"params_m": {"max": 30}},
        enqueue=[{"model.backbone": "resnet50"}, {"model.backbone": "mobilenet_v3_large"}],
    )
    document["search"]["model.backbone"] = {"type": "categorical", "choices": ["resnet50", "mobilenet_v3_large"]}
    document["study"]["pruner"] = {"type": "none"}
    document["train"]["epochs"] = 2
    runner, study_file, output = run_in(tmp_path, document, monkeypatch)
    assert "1 complete, 0 pruned, 1 infeasible" in output

    study = optuna.load_study(study_name="budget", storage=f"sqlite:///{tmp_path}/runs/budget/optuna.db")
    infeasible, feasible = study.trials
    assert infeasible.state == TrialState.PRUNED and infeasible.intermediate_values == {}, "nothing trained"
    assert infeasible.user_attrs[INFEASIBLE_ATTR] == "params_m 40.35 > max 30"
    assert infeasible.user_attrs[NETWORK_COST_ATTR]["params_m"] == pytest.approx(RESNET50_PARAMS_M)
    assert infeasible.constraints == pytest.approx({"params_m": RESNET50_PARAMS_M - 30})
    assert infeasible.user_attrs[EPOCHS_ATTR] == 0
    assert feasible.state == TrialState.COMPLETE and len(feasible.intermediate_values) == 2
    assert feasible.constraints == pytest.approx({"params_m": MOBILENET_PARAMS_M - 30})
    network = feasible.user_attrs[NETWORK_COST_ATTR]
    assert network["latency_ms"] > 0 and network["measured_on"] == "cpu float32 64px"
    namespace = study.user_attrs["checkpoint_namespace"]
    assert not (tmp_path / "runs" / "budget" / "trials" / namespace / "trial-0").exists(), "no checkpoint written"

    client = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db")
    infeasible_run = client.get_run(infeasible.user_attrs["mlflow_run_id"])
    assert infeasible_run.info.status == "KILLED"
    assert infeasible_run.data.tags["infeasible"] == "params_m 40.35 > max 30"
    assert infeasible_run.data.tags["optuna.state"] == "PRUNED"
    assert infeasible_run.data.metrics["model/params_m"] == pytest.approx(RESNET50_PARAMS_M)
    assert "val/miou" not in infeasible_run.data.metrics
    feasible_run = client.get_run(feasible.user_attrs["mlflow_run_id"])
    assert feasible_run.data.metrics["model/params_m"] == pytest.approx(MOBILENET_PARAMS_M)
    assert feasible_run.data.metrics["model/latency_ms"] == pytest.approx(network["latency_ms"])
    assert feasible_run.data.metrics["model/gflops"] == pytest.approx(network["gflops"])

    status = json.loads(runner.invoke(sweep_cli, ["status", str(study_file), "--json"]).output)
    rows = {row["number"]: row for row in status["trials"]}
    assert rows[0]["state"] == "INFEASIBLE" and rows[0]["infeasible"] == "params_m 40.35 > max 30"
    assert rows[1]["state"] == "COMPLETE" and rows[1]["cost"]["params_m"] == pytest.approx(MOBILENET_PARAMS_M)
    assert status["compute"]["no_pruning_epochs"] == 2, "the infeasible trial saved no epochs of pruning's"

    (parent,) = client.search_runs([infeasible_run.info.experiment_id], "tags.`sweep.role` = 'study'")
    recorded = yaml.safe_load(
        Path(client.download_artifacts(parent.info.run_id, "study.yaml", str(tmp_path))).read_text()
    )
    assert recorded["constraints"] == {"params_m": {"max": 30.0}} and recorded["study"]["latency"] == QUICK_LATENCY

    best = json.loads(runner.invoke(sweep_cli, ["best", str(study_file), "--json"]).output)
    assert best["number"] == 1 and best["cost"]["params_m"] == pytest.approx(MOBILENET_PARAMS_M)


@pytest.mark.slow
def test_a_latency_bound_no_network_keeps_leaves_nothing_to_promote(
    synth_voc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = study_data(synth_voc, constraints={"latency_ms": {"max": 0.001}})
    document["study"]["n_trials"] = 1
    runner, study_file, output = run_in(tmp_path, document, monkeypatch)
    assert "best val mIoU - (no feasible completed trial)" in output
    (trial,) = optuna.load_study(study_name="budget", storage=f"sqlite:///{tmp_path}/runs/budget/optuna.db").trials
    assert trial.state == TrialState.PRUNED and trial.constraints["latency_ms"] > 0
    assert trial.user_attrs[INFEASIBLE_ATTR].startswith("latency_ms ")
    assert trial.user_attrs[INFEASIBLE_ATTR].endswith(" > max 0.001")

    promoted = runner.invoke(sweep_cli, ["promote", str(study_file)])
    assert promoted.exit_code == 1 and "its networks broke the study's constraints before training" in promoted.output
