"""A study of two backbones read as an accuracy–cost front, and promoted under a size budget: `sweep best
--front --json` and `sweep promote --max-params-m` as real subprocesses, the registry read back with
MlflowClient. The front and the budget choice against hand-worked cases: `tests/unit/test_front.py`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import study_document, tiny_train
from mlflow.tracking import MlflowClient
from processes import sweep_in

from sweep.cli import cli as sweep_cli
from sweep.trials.record import NETWORK_COST_ATTR, RUN_ID_ATTR

MOBILENET_PARAMS_M = 11.727397
RESNET50_PARAMS_M = 40.351925
ENQUEUED = [("mobilenet_v3_large", 0.05), ("resnet50", 0.05), ("mobilenet_v3_large", 0.01)]
"""The three trials' backbone and learning rate, in order: two networks of one size, one of another."""
BACKBONES = [backbone for backbone, _ in ENQUEUED]


@pytest.fixture(scope="module")
def front_study(synth_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three one-epoch trials (MobileNetV3, ResNet-50, MobileNetV3 at another learning rate) run in this
    process. Keys: folder, study_file, trials (Optuna's, in order)."""
    folder = tmp_path_factory.mktemp("front")
    document = study_document(
        "front",
        n_trials=3,
        train=tiny_train(synth_voc, seed=0),
        search={
            "model.backbone": {"type": "categorical", "choices": ["mobilenet_v3_large", "resnet50"]},
            "optim.lr": {"type": "float", "low": 0.01, "high": 0.05},
        },
        enqueue=[{"model.backbone": backbone, "optim.lr": lr} for backbone, lr in ENQUEUED],
        tracking={"registered_model": "front-voc"},
    )
    study_file = folder / "front.yaml"
    study_file.write_text(yaml.safe_dump(document))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        ran = CliRunner().invoke(sweep_cli, ["run", str(study_file), "--quiet"], catch_exceptions=False)
    assert ran.exit_code == 0, ran.output
    study = optuna.load_study(study_name="front", storage=f"sqlite:///{folder}/runs/front/optuna.db")
    return {"folder": folder, "study_file": study_file, "trials": study.trials}


def sweep(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return sweep_in(folder, *args, timeout=300)


def dominance_front(points: list[tuple[int, float, float]]) -> list[int]:
    """The front by its definition, in O(n²): the numbers of the (number, value, cost) points no other point
    dominates, the lowest number of equal points, cheapest first."""
    kept = []
    for number, value, cost in points:
        beaten = any(
            (v >= value and c <= cost and (v, c) != (value, cost)) or ((v, c) == (value, cost) and n < number)
            for n, v, c in points
        )
        if not beaten:
            kept.append((cost, number))
    return [number for _, number in sorted(kept)]


def test_the_front_by_params_is_the_best_of_each_size_that_beats_the_cheaper_ones(
    front_study: dict[str, Any],
) -> None:
    trials = front_study["trials"]
    assert [trial.params["model.backbone"] for trial in trials] == BACKBONES
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in trials)
    shown = sweep(
        front_study["folder"], "best", str(front_study["study_file"]), "--front", "--by", "params_m", "--json"
    )
    assert shown.returncode == 0, shown.stderr
    front = json.loads(shown.stdout)

    points = [(trial.number, trial.value, trial.user_attrs[NETWORK_COST_ATTR]["params_m"]) for trial in trials]
    assert [entry["number"] for entry in front] == dominance_front(points)
    best_mobilenet = max((trials[0], trials[2]), key=lambda trial: (trial.value, -trial.number))
    assert front[0]["number"] == best_mobilenet.number, "of two networks of one size, the better one"
    assert front[0]["params_m"] == pytest.approx(MOBILENET_PARAMS_M)
    assert front[0]["value"] == best_mobilenet.value
    assert front[0]["params"] == best_mobilenet.params
    assert front[0]["mlflow_run_id"] == best_mobilenet.user_attrs[RUN_ID_ATTR]
    resnet = trials[1]
    assert (resnet.number in [entry["number"] for entry in front]) == (resnet.value > best_mobilenet.value)
    for entry in front:
        recorded = trials[entry["number"]].user_attrs[NETWORK_COST_ATTR]
        assert {key: entry[key] for key in ("params_m", "gflops", "latency_ms")} == {
            key: recorded[key] for key in ("params_m", "gflops", "latency_ms")
        }


def test_the_parent_run_carries_the_front_as_a_table_and_charts(front_study: dict[str, Any]) -> None:
    folder = front_study["folder"]
    study = optuna.load_study(study_name="front", storage=f"sqlite:///{folder}/runs/front/optuna.db")
    parent = study.user_attrs["mlflow_parent_run_id"]
    client = MlflowClient(f"sqlite:///{folder}/runs/mlflow.db")
    reliable = [trial for trial in study.trials if trial.user_attrs[NETWORK_COST_ATTR].get("latency_reliable", True)]
    charts = ["front_params_m.html", "front_gflops.html"] + (["front_latency_ms.html"] if reliable else [])
    names = sorted(artifact.path for artifact in client.list_artifacts(parent, "front"))
    assert names == sorted(f"front/{name}" for name in ["front.csv", *charts]), "a latency chart if it can rank"
    table = Path(client.download_artifacts(parent, "front/front.csv", str(folder)))
    shown = sweep(folder, "best", str(front_study["study_file"]), "--front", "--by", "params_m", "--json")
    params_front = [entry["number"] for entry in json.loads(shown.stdout)]
    rows = [line.split(",") for line in table.read_text().splitlines()[1:]]
    assert [int(row[2]) for row in rows if row[0] == "params_m"] == params_front, "the table is sweep best's front"


def test_the_latency_front_ranks_the_reliable_latencies_and_counts_the_rest(front_study: dict[str, Any]) -> None:
    trials = front_study["trials"]
    shown = sweep(front_study["folder"], "best", str(front_study["study_file"]), "--front", "--json")
    costs = {trial.number: trial.user_attrs[NETWORK_COST_ATTR] for trial in trials}
    reliable = [n for n, cost in costs.items() if cost.get("latency_reliable", True)]
    if not reliable:  # every latency measured under contention from other processes: nothing to rank
        assert shown.returncode == 1
        assert "no completed trial can be ranked by latency_ms: its latency_ms was recorded unreliable" in shown.stderr
        return
    assert shown.returncode == 0, shown.stderr
    points = [(trial.number, trial.value, costs[trial.number]["latency_ms"]) for trial in trials]
    expected = dominance_front([point for point in points if point[0] in reliable])
    assert [entry["number"] for entry in json.loads(shown.stdout)] == expected
    unreliable = len(trials) - len(reliable)
    assert ("left out" in shown.stderr) == (unreliable > 0)


def test_promote_within_a_size_budget_registers_the_best_small_network_and_tags_the_budget(
    front_study: dict[str, Any],
) -> None:
    trials, folder, study_file = front_study["trials"], front_study["folder"], front_study["study_file"]
    best_mobilenet = max((trials[0], trials[2]), key=lambda trial: (trial.value, -trial.number))
    promoted = sweep(folder, "promote", str(study_file), "--max-params-m", "20")
    assert promoted.returncode == 0, promoted.stderr
    lines = promoted.stdout.splitlines()
    assert lines[0].startswith(f"trial #{best_mobilenet.number} (val mIoU ")
    assert lines[0].endswith("recorded) registered front-voc version 1")
    assert lines[1].startswith("within --max-params-m 20: 11.73 M params, ")
    assert lines[-1] == "alias 'champion' -> models:/front-voc@champion (promoted)"

    client = MlflowClient(f"sqlite:///{folder}/runs/mlflow.db")
    version = client.get_model_version_by_alias("front-voc", "champion")
    assert str(version.version) == "1" and version.run_id == best_mobilenet.user_attrs[RUN_ID_ATTR]
    assert version.tags["sweep.budget.params_m"] == "20"
    assert version.tags["trial_number"] == str(best_mobilenet.number) and version.tags["study"] == "front"
    assert version.tags["gate.decision"] == "promoted"

    refused = sweep(folder, "promote", str(study_file), "--max-params-m", "5")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.splitlines() == [
        "error: study 'front' has no completed trial within --max-params-m 5: the cheapest params_m is 11.73 "
        "(trial #0); raise the budget or run networks that fit it"
    ]
    assert [str(v.version) for v in client.search_model_versions("name = 'front-voc'")] == ["1"], "nothing registered"


def test_promote_within_a_latency_budget_refuses_one_no_reliable_latency_keeps(front_study: dict[str, Any]) -> None:
    """A latency budget ranks only latencies recorded reliable (beside another test's training they are not):
    below every trial's, promote names the cheapest reliable one, or says there is none, and registers nothing."""
    trials, folder, study_file = front_study["trials"], front_study["folder"], front_study["study_file"]
    costs = {trial.number: trial.user_attrs[NETWORK_COST_ATTR] for trial in trials}
    reliable = sorted(
        (cost["latency_ms"], number) for number, cost in costs.items() if cost.get("latency_reliable", True)
    )
    budget = min(cost["latency_ms"] for cost in costs.values()) / 2
    refused = sweep(folder, "promote", str(study_file), "--max-latency-ms", f"{budget:g}")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    cheapest = (
        f"the cheapest reliable latency_ms is {reliable[0][0]:.4g} (trial #{reliable[0][1]})"
        if reliable
        else "no trial recorded a reliable latency_ms"
    )
    assert refused.stderr.splitlines() == [
        f"error: study 'front' has no completed trial within --max-latency-ms {budget:g}: {cheapest}; raise the "
        "budget or run networks that fit it"
    ]
    client = MlflowClient(f"sqlite:///{folder}/runs/mlflow.db")
    versions = [
        version.tags.get("sweep.budget.latency_ms") for version in client.search_model_versions("name = 'front-voc'")
    ]
    assert f"{budget:g}" not in versions, "nothing registered under the refused budget"
