"""Whole studies under a budget: an infeasible network stops before training and the feasible one is best, and
a latency bound that no network keeps leaves nothing to promote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import QUICK_LATENCY, study_document
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from sweep.cli import cli as sweep_cli
from sweep.trials.record import EPOCHS_ATTR, INFEASIBLE_ATTR, NETWORK_COST_ATTR

RESNET50_PARAMS_M = 40.351925
MOBILENET_PARAMS_M = 11.727397


def study_data(root: Path, **sections: Any) -> dict[str, Any]:
    return study_document("budget", root, 2, sampler=None, pruner=None, **sections)


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
@pytest.mark.alone  # a latency measured beside another test's training is not judged (trainer.latency_noise)
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
