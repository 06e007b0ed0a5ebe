"""Parallel sweeps: worker plans, the shared budget, sampler streams, one parent run, and real workers."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from helpers import QUICK_LATENCY, tiny_train
from mlflow.tracking import MlflowClient
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
from processes import sweep_env
from rich.console import Console
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

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

ROOT = Path(__file__).resolve().parents[1]

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
    # The ETA counts epochs, so it has a figure after the first one (tests/test_sweep_eta.py checks its value).
    assert re.search(r"\[w0\]   trial #1 epoch 1/2  loss 1\.5000  val mIoU 0\.2500  best -  ETA \d\d:\d\d:\d\d", out)
    assert "[w0] trial #1 COMPLETE val mIoU 0.2500  best 0.2500  ETA" in out
    assert "[w1] exited with signal 9" in out
    assert board.ran == 2, "w0 reported 1; w1 died after ending 1"


# ---------------------------------------------------------------- real workers (slow)

N_TRIALS = 4


def write_study(folder: Path, data_root: Path, *, name: str = "par", epochs: int = 1, n_trials: int = N_TRIALS) -> Path:
    study_file = folder / "study.yaml"
    study_file.write_text(
        yaml.safe_dump(
            {
                "study": {
                    "latency": QUICK_LATENCY,
                    "name": name,
                    "n_trials": n_trials,
                    "sampler": {"type": "random", "seed": 0},
                    "pruner": {"type": "none"},
                },
                "train": tiny_train(data_root, epochs=epochs),
                "search": {"optim.lr": {"type": "float", "low": 0.01, "high": 0.05}},
            }
        )
    )
    return study_file


def sweep_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sweep.cli", *args]


def check_study(storage: str, tracking: str, name: str, n_trials: int) -> optuna.Study:
    """Exactly `n_trials` slots, each ended once; one parent run; one child run per trial, under the parent."""
    study = optuna.load_study(study_name=name, storage=storage)
    real = [trial for trial in study.trials if not is_surplus(trial)]
    assert len(real) == n_trials and all(t.state == TrialState.COMPLETE for t in real), [t.state for t in study.trials]
    assert len({t.number for t in study.trials}) == len(study.trials)
    streams: dict[str, set[int]] = defaultdict(set)
    for trial in real:
        streams[trial.user_attrs["worker"]].add(trial.user_attrs["sampler_stream"])
    assert all(len(s) == 1 for s in streams.values()), "a worker keeps its stream"
    assert len({next(iter(s)) for s in streams.values()}) == len(streams), "no two workers share a stream"
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'study'")
    assert parent.info.run_id == study.user_attrs[PARENT_RUN_ATTR] and parent.info.status == "FINISHED"
    children = client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'")
    assert sorted(int(run.data.tags["optuna.trial_number"]) for run in children) == sorted(t.number for t in real)
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parent.info.run_id}
    return study


def ran(output: str) -> int:
    match = re.search(r"ran (\d+) trials", output)
    assert match, output
    return int(match.group(1))


@pytest.mark.slow
def test_two_workers_on_the_embedded_default(synth_voc: Path, tmp_path: Path) -> None:
    study_file = write_study(tmp_path, synth_voc)
    result = subprocess.run(
        sweep_command("run", str(study_file), "--workers", "2", "--quiet"),
        cwd=tmp_path,
        env=sweep_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "database is locked" not in output and "Traceback" not in output
    assert "[w0] started" in output and "[w1] started" in output
    assert ran(output) == N_TRIALS
    check_study(f"sqlite:///{tmp_path}/runs/par/optuna.db", f"sqlite:///{tmp_path}/runs/mlflow.db", "par", N_TRIALS)


@pytest.mark.slow
def test_two_sweep_runs_started_together_in_a_fresh_folder(synth_voc: Path, tmp_path: Path) -> None:
    study_file = write_study(tmp_path, synth_voc)
    command = sweep_command("run", str(study_file), "--quiet")
    processes = [
        subprocess.Popen(
            command,
            cwd=tmp_path,
            env=sweep_env(OMP_NUM_THREADS="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    assert not any("database is locked" in output or "Traceback" in output for output in outputs)
    assert sum(ran(output) for output in outputs) == N_TRIALS, "each counts only its own trials"
    check_study(f"sqlite:///{tmp_path}/runs/par/optuna.db", f"sqlite:///{tmp_path}/runs/mlflow.db", "par", N_TRIALS)


def start_and_wait_for(
    command: list[str], cwd: Path, pattern: str, *, timeout: float = 300
) -> tuple[subprocess.Popen[str], list[str]]:
    """Start `command` and read its output until a line matches `pattern`."""
    process = subprocess.Popen(
        command, cwd=cwd, env=sweep_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, "".join(lines), re.S):
            return process, lines
    process.kill()
    raise AssertionError("".join(lines))


@pytest.mark.slow
def test_a_killed_workers_trial_is_resumed_by_the_other_worker(synth_voc: Path, tmp_path: Path) -> None:
    study_file = write_study(tmp_path, synth_voc, n_trials=3)
    process, lines = start_and_wait_for(
        sweep_command("run", str(study_file), "--workers", "2", "--quiet"),
        tmp_path,
        r"\[w0\] started \(pid (\d+).*\[w0\] trial ",
    )
    match = re.search(r"\[w0\] started \(pid (\d+)", "".join(lines))
    assert match
    os.kill(int(match.group(1)), signal.SIGKILL)
    output = "".join(lines) + process.communicate(timeout=600)[0]
    assert process.returncode == 0, "the other worker finished the study, the killed trial included"
    assert "[w0] exited with signal 9" in output
    study = optuna.load_study(study_name="par", storage=f"sqlite:///{tmp_path}/runs/par/optuna.db")
    killed = next(t for t in study.trials if t.state == TrialState.FAIL)
    retry = next(t for t in study.trials if t.system_attrs.get("failed_trial") == killed.number)
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials) == 3
    client = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db")
    experiment = client.get_experiment_by_name("par")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 4 and {run.info.status for run in runs} == {"FINISHED"}, "3 trial runs and the study's"


@pytest.mark.slow
def test_soak_three_workers_twelve_trials_one_killed(synth_voc: Path, tmp_path: Path) -> None:
    """The issue's soak: 3 workers on the embedded default, 12 short trials, one worker SIGKILLed mid-way."""
    study_file = write_study(tmp_path, synth_voc, n_trials=12, epochs=2)
    process, lines = start_and_wait_for(
        sweep_command("run", str(study_file), "--workers", "3", "--quiet"),
        tmp_path,
        r"\[w1\] started \(pid (\d+).*\[w1\] trial .*\[w1\]   trial #\d+ epoch 1/2.*\[w1\] trial .*\[w1\] trial ",
    )
    match = re.search(r"\[w1\] started \(pid (\d+)", "".join(lines))
    assert match
    os.kill(int(match.group(1)), signal.SIGKILL)  # in its second trial
    output = "".join(lines) + process.communicate(timeout=900)[0]
    assert process.returncode == 0, output
    for symptom in ("Traceback", "database is locked", "OperationalError", "StorageInternalError"):
        assert symptom not in output, output
    assert "[w1] exited with signal 9" in output

    study = optuna.load_study(study_name="par", storage=f"sqlite:///{tmp_path}/runs/par/optuna.db")
    states = [trial.state for trial in study.trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 12
    assert not {TrialState.RUNNING, TrialState.WAITING} & set(states)
    # FAIL besides the killed trial: only surplus trials, created by workers that raced for the last place.
    (killed,) = [trial for trial in study.trials if trial.state == TrialState.FAIL and not is_surplus(trial)]
    (retry,) = [trial for trial in study.trials if trial.system_attrs.get("failed_trial") == killed.number]
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params

    client = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db")
    experiment = client.get_experiment_by_name("par")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    trial_runs = [run for run in runs if run.data.tags["sweep.role"] == "trial"]
    assert len(trial_runs) == 12, "the retry went on in the killed trial's run"
    assert {run.info.status for run in runs} == {"FINISHED"}
    tracked = {t.user_attrs["mlflow_run_id"] for t in study.trials if not is_surplus(t)}
    assert {run.info.run_id for run in trial_runs} == tracked
    stray = [path for path in (tmp_path / "runs" / "par" / "trials").rglob("*") if path.is_file()]
    assert stray == [], "completed trials' checkpoints are in MLflow; nothing is left on local disk"


@pytest.mark.slow
def test_ctrl_c_in_the_parent_stops_every_worker(synth_voc: Path, tmp_path: Path) -> None:
    study_file = write_study(tmp_path, synth_voc, epochs=20)
    process, lines = start_and_wait_for(
        sweep_command("run", str(study_file), "--workers", "2", "--quiet"),
        tmp_path,
        r"\[w0\] trial .*\[w1\] trial |\[w1\] trial .*\[w0\] trial ",
    )
    process.send_signal(signal.SIGINT)
    output = "".join(lines) + process.communicate(timeout=120)[0]
    assert process.returncode == 130, output
    assert "Traceback" not in output and output.count("interrupted:") == 1, output
    assert f"run `sweep run {study_file} --workers 2` to go on" in output
    study = optuna.load_study(study_name="par", storage=f"sqlite:///{tmp_path}/runs/par/optuna.db")
    stopped = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(stopped) == 2 and all("SIGINT during epoch" in t.user_attrs["interrupted"] for t in stopped)
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert sorted(t.system_attrs["failed_trial"] for t in waiting) == sorted(t.number for t in stopped)
    client = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db")
    experiment = client.get_experiment_by_name("par")
    assert experiment is not None
    runs = {run.data.tags["sweep.role"]: run for run in client.search_runs([experiment.experiment_id])}
    assert {run.info.status for run in client.search_runs([experiment.experiment_id])} == {"KILLED"}
    assert "SIGINT during epoch" in runs["trial"].data.tags["interrupted"]


# ---------------------------------------------------------------- PostgreSQL: the URL form of the README, no password shown

POSTGRES_URL = os.environ.get("SWEEP_TEST_POSTGRES_URL")


@pytest.fixture
def plain_postgres_url() -> str:
    """The test database as `postgresql://` (psycopg 3, SQLAlchemy's default driver), on a clean schema."""
    if POSTGRES_URL is None:
        if os.environ.get("CI"):
            pytest.fail("SWEEP_TEST_POSTGRES_URL is not set; .ci/run starts PostgreSQL and sets it")
        pytest.skip("set SWEEP_TEST_POSTGRES_URL (see .ci/start-postgres) to run against PostgreSQL")
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"))
    engine.dispose()
    return make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.slow
@pytest.mark.postgres
def test_workers_on_postgres_never_show_the_password(synth_voc: Path, tmp_path: Path, plain_postgres_url: str) -> None:
    password = make_url(plain_postgres_url).password
    assert password
    study_file = write_study(tmp_path, synth_voc, name="par-pg", n_trials=3)
    result = subprocess.run(
        sweep_command("run", str(study_file), "--workers", "2", "--quiet"),
        cwd=tmp_path,
        env=sweep_env(SWEEP_STORAGE=plain_postgres_url),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f":{password}@" not in output and "no database driver" not in output
    check_study(plain_postgres_url, f"sqlite:///{tmp_path}/runs/mlflow.db", "par-pg", 3)
    client = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("par-pg").experiment_id])  # type: ignore[union-attr]
    masked = make_url(plain_postgres_url).render_as_string(hide_password=True)
    assert {run.data.tags["optuna.storage"] for run in runs} == {masked}
    assert not any(
        f":{password}@" in value for run in runs for value in [*run.data.tags.values(), *run.data.params.values()]
    )
