"""Seeding a study with real `sweep run` processes: two workers run each enqueued set exactly once, and a warm
start copies what fits the search space, skips the rest and never copies twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from helpers import study_document
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from processes import sweep_env

from sweep.trials.record import ENQUEUED_ATTR, NETWORK_COST_ATTR, SURPLUS_ATTR, WARM_START_ATTR


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def e2e_study(root: Path, name: str, n_trials: int, lr: dict[str, Any], **sections: Any) -> dict[str, Any]:
    """`study_document`'s one-epoch random study, searching `lr` and the schedule, with extra sections."""
    search = {"optim.lr": lr, "optim.schedule": {"type": "categorical", "choices": ["poly", "cosine"]}}
    return study_document(name, root, n_trials, search=search, **sections)


def sweep(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "sweep.cli", *args],
        cwd=cwd,
        env=sweep_env(OMP_NUM_THREADS="1"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in output, output
    return output


def trials(cwd: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{cwd}/runs/{name}/optuna.db")
    return [trial for trial in study.trials if SURPLUS_ATTR not in trial.user_attrs]


@pytest.mark.slow
def test_two_workers_run_each_enqueued_set_exactly_once(synth_voc: Path, tmp_path: Path) -> None:
    sets = [{"optim.lr": 0.01, "optim.schedule": "poly"}, {"optim.lr": 0.04}]
    lr = {"type": "float", "low": 0.01, "high": 0.05}
    study_file = write(tmp_path / "study.yaml", e2e_study(synth_voc, "enq", 3, lr, enqueue=sets))
    output = sweep(tmp_path, "run", str(study_file), "--workers", "2", "--quiet")
    assert "queued enqueue[0] to run first" in output and "queued enqueue[1] to run first" in output
    assert "[w0] started" in output and "[w1] started" in output
    sweep(tmp_path, "run", str(study_file), "--quiet", "--n-trials", "4")  # a rerun queues nothing again
    ran = trials(tmp_path, "enq")
    assert len(ran) == 4 and all(t.state == TrialState.COMPLETE for t in ran)
    for params in sets:
        carriers = [t for t in ran if t.user_attrs.get(ENQUEUED_ATTR) == params]
        assert len(carriers) == 1, (params, [t.params for t in ran])
        assert all(carriers[0].params[key] == value for key, value in params.items())
    assert ran[1].params["optim.schedule"] in ("poly", "cosine"), "a key the set leaves out is sampled"
    assert [t.number for t in ran if ENQUEUED_ATTR in t.user_attrs] == [0, 1], "the sets run first"


@pytest.mark.slow
def test_warm_start_copies_what_fits_skips_an_out_of_space_trial_and_never_twice(
    synth_voc: Path, tmp_path: Path
) -> None:
    wide = {"type": "float", "low": 0.01, "high": 0.05}
    first = [{"optim.lr": 0.01, "optim.schedule": "poly"}, {"optim.lr": 0.05, "optim.schedule": "cosine"}]
    source_file = write(tmp_path / "a.yaml", e2e_study(synth_voc, "a", 2, wide, enqueue=first))
    sweep(tmp_path, "run", str(source_file), "--quiet")
    narrow = {"type": "float", "low": 0.005, "high": 0.02}
    target_file = write(tmp_path / "b.yaml", e2e_study(synth_voc, "b", 1, narrow))

    output = sweep(tmp_path, "run", str(target_file), "--quiet", "--warm-start-from", str(source_file))
    storage = f"sqlite:///{tmp_path}/runs/a/optuna.db"
    assert f"warm start from study 'a' ({storage}): copied 1 trials (#0), skipped 1" in output
    assert "trial 1: optim.lr: 0.05 is outside the float in [0.005, 0.02]" in output
    target = trials(tmp_path, "b")
    copied = [t for t in target if WARM_START_ATTR in t.user_attrs]
    own = [t for t in target if WARM_START_ATTR not in t.user_attrs]
    assert len(copied) == 1 and len(own) == 1, "the copy is not counted against n_trials: 1"
    original = trials(tmp_path, "a")[0]
    measured = {NETWORK_COST_ATTR: original.user_attrs[NETWORK_COST_ATTR]}
    assert measured[NETWORK_COST_ATTR]["params_m"] == pytest.approx(11.727397), "MobileNetV3 DeepLabV3+, 21 classes"
    origin = {"study": "a", "storage": storage, "trial": 0}
    assert copied[0].user_attrs == {WARM_START_ATTR: origin, **measured}, "its origin and its network's figures"
    assert copied[0].constraints == {}, "study b bounds nothing"
    assert copied[0].params == first[0] and copied[0].value == original.value

    rerun = sweep(tmp_path, "run", str(target_file), "--quiet", "--n-trials", "2", "--warm-start-from", "a.yaml")
    assert "copied 0 trials, 1 copied before, skipped 1" in rerun
    assert len([t for t in trials(tmp_path, "b") if WARM_START_ATTR in t.user_attrs]) == 1

    client = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db")
    experiment = client.get_experiment_by_name("b")
    assert experiment is not None
    children = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'")
    assert sorted(int(run.data.tags["optuna.trial_number"]) for run in children) == [1, 2], "copies run nothing"
    status = json.loads(sweep(tmp_path, "status", str(target_file), "--json"))
    assert [row["origin"] for row in status["trials"]] == ["copied from study 'a' trial 0", None, None]
    assert "copied" in sweep(tmp_path, "status", str(target_file)), "the table's notes (wrapped to the terminal)"
