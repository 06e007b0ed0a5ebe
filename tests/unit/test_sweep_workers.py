"""Parallel sweeps: worker plans, the shared budget, sampler streams, one parent run, and the worker board.

Real workers, killed and interrupted ones included, are in `tests/e2e/test_sweep_workers_runs.py`.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
from rich.console import Console

from sweep.parallel.board import WorkerBoard, WorkerState
from sweep.parallel.events import EventProgress, decode
from sweep.parallel.workers import StudyLaunch, WorkerPlan, parse_gpus, plan_workers, worker_command, worker_environment
from sweep.run.streams import WorkerSampler
from sweep.spec import load_study_spec
from sweep.spec.samplers import RandomSamplerSpec, build_sampler
from sweep.storage.rdb import build_storage
from sweep.tracking import PARENT_PENDING_ATTR, PARENT_RUN_ATTR, StudyTracker, mark_parent_pending
from sweep.trials.budget import SurplusTrial, TrialBudget, tally
from sweep.trials.record import SURPLUS_ATTR
from sweep.trials.retries import is_surplus
from trainer.model_cost import ModelCost

ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------- plans: GPUs, environment, command line


@pytest.mark.parametrize(
    ("text", "gpus"),
    [("0", ["0"]), ("0,1,2,3", ["0", "1", "2", "3"]), (" 3, 1 ", ["3", "1"]), ("GPU-8f2a-11", ["GPU-8f2a-11"])],
)
def test_parse_gpus(text: str, gpus: list[str]) -> None:
    assert parse_gpus(text) == gpus


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "'' is not a GPU index"),
        ("0,,1", "'' is not a GPU index"),
        ("cuda:0", "'cuda:0' is not"),
        ("-1", "'-1'"),
        ("0,1,0", "lists 0 twice"),
    ],
)
def test_parse_gpus_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_gpus(text)


def test_one_worker_per_gpu_times_workers_per_gpu_round_robin() -> None:
    assert plan_workers(gpus=["0", "1", "2", "3"]) == [WorkerPlan(i, str(i)) for i in range(4)]
    packed = plan_workers(gpus=["2", "5"], workers_per_gpu=3)
    assert [plan.gpu for plan in packed] == ["2", "5", "2", "5", "2", "5"]
    assert [plan.index for plan in packed] == list(range(6))
    assert plan_workers(workers=4, gpus=["0", "1"], workers_per_gpu=2) == plan_workers(
        gpus=["0", "1"], workers_per_gpu=2
    )


def test_workers_without_gpus_inherit_the_devices() -> None:
    assert plan_workers() == [WorkerPlan(0)]
    assert plan_workers(workers=3) == [WorkerPlan(0), WorkerPlan(1), WorkerPlan(2)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"workers_per_gpu": 2}, "--workers-per-gpu needs --gpus"),
        ({"workers": 3, "gpus": ["0", "1"]}, "--workers 3 contradicts --gpus with 2 GPUs x 1 per GPU = 2 workers"),
    ],
)
def test_contradictory_plans_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        plan_workers(**options)


def test_worker_environment_pins_the_gpu_and_carries_the_urls() -> None:
    base = {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    urls = {"storage_url": "postgresql://u:s3cret@db/optuna", "tracking_uri": "http://mlflow:5000"}
    environment = worker_environment(WorkerPlan(1, "2"), base, workers=4, **urls)
    assert environment["CUDA_VISIBLE_DEVICES"] == "2" and environment["PATH"] == "/bin"
    assert environment["SWEEP_STORAGE"] == urls["storage_url"]
    assert environment["MLFLOW_TRACKING_URI"] == urls["tracking_uri"]
    assert environment["TRAINER_CPU_WORKERS"] == "4", "each worker's trainer takes a quarter of the CPUs"
    assert "OMP_NUM_THREADS" not in environment, "which would read as the user's choice"
    inherited = worker_environment(WorkerPlan(0), {**base, "OMP_NUM_THREADS": "7"}, workers=2, **urls)
    assert inherited["CUDA_VISIBLE_DEVICES"] == "0,1,2,3" and inherited["OMP_NUM_THREADS"] == "7"


def test_worker_command_line_holds_no_url() -> None:
    launch = StudyLaunch("study.yaml", load_study_spec(ROOT / "studies" / "smoke.yaml"), n_trials=7)
    command = worker_command(launch, WorkerPlan(3, "1"), 9)
    assert command[1:] == [
        "-m",
        "sweep.cli",
        "run",
        "study.yaml",
        "--worker-index",
        "3",
        "--events-fd",
        "9",
        "--quiet",
        "--n-trials",
        "7",
    ]
    assert not any("://" in part for part in command)


# ---------------------------------------------------------------- the budget shared through the storage


def objective_that_claims(budget: TrialBudget) -> Any:
    def objective(trial: optuna.Trial) -> float:
        budget.claim(trial)
        return trial.suggest_float("x", 0.0, 1.0)

    return objective


def test_budget_has_no_overshoot_when_workers_ask_at_the_same_moment() -> None:
    study = optuna.create_study(direction="maximize")
    others = [study.ask() for _ in range(4)]  # four workers asked at once: trials 0-3 RUNNING elsewhere
    budget = TrialBudget(5)
    study.optimize(objective_that_claims(budget), catch=(SurplusTrial,), callbacks=[budget.after_trial])
    assert budget.ran == 1 and len(study.trials) == 5, "one slot was left: trial 4 ran, then the loop stopped"

    late = TrialBudget(5)  # a worker that saw a free slot a moment ago, and asks after all were taken
    study.optimize(objective_that_claims(late), catch=(SurplusTrial,), callbacks=[late.after_trial])
    assert late.ran == 0
    surplus = [trial for trial in study.trials if is_surplus(trial)]
    assert [trial.number for trial in surplus] == [5] and surplus[0].state == TrialState.FAIL
    assert surplus[0].params == {}, "discarded before anything was sampled"
    assert "budget were taken" in surplus[0].user_attrs[SURPLUS_ATTR]
    for trial in others:
        study.tell(trial, 0.5)
    assert tally(study.trials, max_retries=2).done == 5
    assert not TrialBudget(5).work_left(study)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_retry_continues_its_originals_slot() -> None:
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=1)
    dead = study.ask()
    dead.suggest_float("x", 0.0, 1.0)
    study.tell(dead, state=TrialState.FAIL)  # what the heartbeat does to a killed worker's trial...
    RetryHeartbeatStaleTrialCallback()(study, study.trials[dead.number])  # ...and then it queues a copy
    budget = TrialBudget(2)
    assert budget.work_left(study), "both slots are taken, but a retry waits"
    study.optimize(objective_that_claims(budget), catch=(SurplusTrial,), callbacks=[budget.after_trial])
    assert budget.ran == 1 and [t.state for t in study.trials] == [
        TrialState.COMPLETE,
        TrialState.FAIL,
        TrialState.COMPLETE,
    ]
    assert tally(study.trials, max_retries=2).done == 2, "the failed original is not counted twice"


# ---------------------------------------------------------------- sampler streams


def test_each_worker_samples_from_the_number_of_its_first_trial() -> None:
    spec = RandomSamplerSpec(seed=0)
    study = optuna.create_study()
    first, second = (WorkerSampler(lambda stream: build_sampler(spec, stream=stream)) for _ in range(2))
    draws: dict[int, list[float]] = defaultdict(list)
    for sampler, worker in ((first, 0), (second, 1), (first, 0), (second, 1)):
        study.sampler = sampler
        trial = study.ask()
        draws[worker].append(trial.suggest_float("x", 0.0, 1.0))
        study.tell(trial, 0.0)
    assert (first.stream, second.stream) == (0, 1)
    alone = optuna.create_study(sampler=build_sampler(spec))
    alone.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=2)
    assert draws[0] == [trial.params["x"] for trial in alone.trials], "stream 0 is the spec's seed itself"
    assert not set(draws[0]) & set(draws[1])


# ---------------------------------------------------------------- storage, parent run, board


def test_sqlite_storage_uses_wal(tmp_path: Path) -> None:
    storage = build_storage(f"sqlite:///{tmp_path}/optuna.db")
    with storage.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_worker_waits_for_the_parent_run_of_the_studys_creator(tmp_path: Path) -> None:
    tracking = f"sqlite:///{tmp_path}/mlflow.db"
    creator = StudyTracker(tracking, "waits", study_name="s", storage_url="sqlite:///x.db")
    latecomer = StudyTracker(tracking, "waits", study_name="s", storage_url="sqlite:///x.db")
    study = optuna.create_study()
    mark_parent_pending(study)  # the creator made the study and is making its parent run
    recorded = threading.Timer(1.0, lambda: creator.open_parent(study))
    recorded.start()
    started = time.monotonic()
    assert latecomer.open_parent(study, wait_s=60.0) == study.user_attrs[PARENT_RUN_ATTR]
    assert 0.9 < time.monotonic() - started < 10
    recorded.join()
    assert len(MlflowClient(tracking).search_runs([creator.experiment_id])) == 1
    assert study.user_attrs[PARENT_PENDING_ATTR] is None, "the mark is cleared once the parent run is recorded"


def test_the_pending_mark_is_cleared_only_after_the_parent_run_is_recorded(tmp_path: Path) -> None:
    tracker = StudyTracker(f"sqlite:///{tmp_path}/mlflow.db", "mark", study_name="s", storage_url="sqlite:///x.db")
    study = optuna.create_study()
    mark_parent_pending(study)
    writes: list[tuple[str, Any]] = []
    set_user_attr = study.set_user_attr

    def recorded(key: str, value: Any) -> None:
        writes.append((key, value))
        set_user_attr(key, value)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(study, "set_user_attr", recorded)
        run_id = tracker.open_parent(study)
        assert writes == [(PARENT_RUN_ATTR, run_id), (PARENT_PENDING_ATTR, None)]
        writes.clear()
        assert tracker.open_parent(study) == run_id
        assert writes == [], "a rerun writes neither again"
    assert study.user_attrs == {PARENT_RUN_ATTR: run_id, PARENT_PENDING_ATTR: None}


def test_a_dead_creators_mark_is_not_waited_for(tmp_path: Path) -> None:
    tracker = StudyTracker(f"sqlite:///{tmp_path}/mlflow.db", "dead", study_name="s", storage_url="sqlite:///x.db")
    study = optuna.create_study()
    study.set_user_attr(PARENT_PENDING_ATTR, time.time() - 3600)
    started = time.monotonic()
    assert tracker.open_parent(study, wait_s=300.0) == study.user_attrs[PARENT_RUN_ATTR]
    assert time.monotonic() - started < 5


def test_racing_parents_converge_on_the_oldest(tmp_path: Path) -> None:
    tracker = StudyTracker(f"sqlite:///{tmp_path}/mlflow.db", "race", study_name="s", storage_url="sqlite:///x.db")
    oldest = tracker.open_parent(optuna.create_study())
    assert tracker._create_parent() == oldest, "a later parent of the same study gives way"
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    assert [run.info.run_id for run in client.search_runs([tracker.experiment_id])] == [oldest]


def test_board_prints_one_line_per_event_with_the_worker_and_sums_what_workers_ran() -> None:
    console = Console(record=True, width=200)
    board = WorkerBoard(console, [WorkerState(0, "0"), WorkerState(1, "1")], live=False)
    board.study_start("tiny", 4, 1, None)
    board.spawned(0, 100)
    board.handle(0, {"event": "trial_start", "number": 1, "params": {"optim.lr": 0.0123}, "epochs": 2})
    cost = ModelCost(11.727397, 3.3, 210.84, 64, 513, "cpu", "float32")
    stream = io.StringIO()
    events = EventProgress(stream)
    events.trial_number = 1
    events.model_cost(cost)
    board.handle(0, decode(stream.getvalue()) or {})
    board.handle(0, {"event": "epoch_end", "number": 1, "epoch": 1, "metrics": {"train/loss": 1.5, "val/miou": 0.25}})
    board.handle(0, {"event": "trial_end", "number": 1, "state": "COMPLETE", "value": 0.25})
    board.handle(0, {"event": "done", "ran": 1})
    board.handle(1, {"event": "trial_end", "number": 2, "state": "PRUNED", "value": None})
    board.exited(1, -9)
    out = console.export_text()
    assert "study tiny: 1/4 trials finished, running the rest on 2 workers" in out
    assert "[w0] started (pid 100, CUDA_VISIBLE_DEVICES=0)" in out
    assert "[w0] trial 2/4 (#1) optim.lr=0.0123" in out
    assert "[w0]   trial #1 network: 11.73 M params, 3.3 GFLOPs at 64², 210.8 ms per 513² image on cpu" in out
    # The ETA counts epochs, so it has a figure after the first one (tests/unit/test_sweep_eta.py checks its value).
    assert re.search(r"\[w0\]   trial #1 epoch 1/2  loss 1\.5000  val mIoU 0\.2500  best -  ETA \d\d:\d\d:\d\d", out)
    assert "[w0] trial #1 COMPLETE val mIoU 0.2500  best 0.2500  ETA" in out
    assert "[w1] exited with signal 9" in out
    assert board.ran == 2, "w0 reported 1; w1 died after ending 1"
