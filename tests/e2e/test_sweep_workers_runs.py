"""Parallel sweeps with real worker processes: the embedded default, two runs started together, a killed worker's
trial resumed by another, a soak of three workers, Ctrl-C in the parent, and PostgreSQL without the password."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import optuna
import pytest
import yaml
from helpers import study_document, tiny_train
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from processes import sweep_env
from services import StudyRun
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sweep.tracking import PARENT_RUN_ATTR
from sweep.trials.retries import is_surplus

N_TRIALS = 4


def write_study(folder: Path, data_root: Path, *, name: str = "par", epochs: int = 1, n_trials: int = N_TRIALS) -> Path:
    study_file = folder / "study.yaml"
    study_file.write_text(
        yaml.safe_dump(study_document(name, n_trials=n_trials, train=tiny_train(data_root, epochs=epochs)))
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
def test_two_workers_on_the_embedded_default(embedded_two_worker_study: StudyRun) -> None:
    """The session's 4-trial study of two workers (tests/e2e/conftest.py), which test_services_mlflow checks too."""
    study = embedded_two_worker_study
    output = study.stdout + study.stderr
    assert study.returncode == 0, output
    assert "database is locked" not in output and "Traceback" not in output
    assert "[w0] started" in output and "[w1] started" in output
    assert ran(output) == N_TRIALS == study.n_trials
    check_study(study.storage_url, study.tracking_uri, study.name, N_TRIALS)


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
