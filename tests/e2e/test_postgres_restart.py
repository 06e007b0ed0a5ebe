"""PostgreSQL restarted in the middle of a study: storage calls ride it out (`sweep.storage.retry`).

A lost connection on PostgreSQL with `pg_terminate_backend`, and the whole story with a real
`pg_ctlcluster ... restart` while `sweep run` trains (root, and a cluster on this machine). The retry logic
itself is checked on SQLite with simulated failures in `tests/unit/test_storage_retry.py`.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from helpers import study_document, tiny_train
from optuna.storages import RDBStorage
from optuna.trial import TrialState
from services import SWEEP_TIMEOUT_S, postgres_cluster, sweep_command
from services import postgres_url as required_postgres_url
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.pool import NullPool

from sweep.database_urls import CONNECT_TIMEOUT_S
from sweep.storage.rdb import build_storage
from sweep.storage.retry import ReconnectingStorage
from sweep.trials.retries import chains

DRIVERS = ["psycopg", "psycopg2"]


# ---------------------------------------------------------------- a real PostgreSQL connection that goes away


@pytest.fixture
def study_name(postgres_url: str) -> Iterator[str]:
    """A study name no other test uses; the study is deleted afterwards."""
    name = f"pg-restart-{uuid.uuid4().hex[:8]}"
    yield name
    storage = RDBStorage(postgres_url)
    if name in {study.study_name for study in storage.get_all_studies()}:
        optuna.delete_study(study_name=name, storage=storage)
    storage.engine.dispose()


@pytest.fixture
def postgres_url() -> str:
    return required_postgres_url()


@pytest.fixture
def killer(postgres_url: str) -> Iterator[Callable[[int], None]]:
    """Terminate a backend by its pid from another connection, and wait until it is gone."""
    engine = create_engine(postgres_url, poolclass=NullPool)

    def kill(pid: int) -> None:
        with engine.begin() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
            for _ in range(200):
                # A transaction reads pg_stat_activity from one snapshot unless told to take a new one.
                connection.execute(text("SELECT pg_stat_clear_snapshot()"))
                if not connection.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).all():
                    return
                time.sleep(0.05)
        raise AssertionError(f"backend {pid} outlived pg_terminate_backend")

    yield kill
    engine.dispose()


def with_driver(url: str, driver: str) -> str:
    return make_url(url).set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def driver_parameters(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        dbapi_connection: Any = connection.connection.dbapi_connection
    if hasattr(dbapi_connection, "get_dsn_parameters"):  # psycopg2
        return dict(dbapi_connection.get_dsn_parameters())
    return dict(dbapi_connection.info.get_parameters())  # psycopg 3


@pytest.mark.postgres
@pytest.mark.parametrize("driver", DRIVERS)
def test_server_storage_pings_its_pool_and_sets_a_connect_timeout(postgres_url: str, driver: str) -> None:
    storage = build_storage(with_driver(postgres_url, driver))
    assert isinstance(storage, ReconnectingStorage) and storage.engine.dialect.driver == driver
    assert storage.engine.pool._pre_ping
    assert driver_parameters(storage.engine)["connect_timeout"] == str(CONNECT_TIMEOUT_S)
    storage.engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("driver", DRIVERS)
def test_a_pooled_connection_killed_between_calls_is_replaced(
    postgres_url: str, driver: str, study_name: str, killer: Callable[[int], None], caplog: pytest.LogCaptureFixture
) -> None:
    storage = build_storage(with_driver(postgres_url, driver))
    study = optuna.create_study(study_name=study_name, storage=storage)
    with storage.engine.connect() as connection:  # the pool's one connection, which the next call takes
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    killer(pid)
    study.set_user_attr("after", "kill")
    assert study.user_attrs == {"after": "kill"}
    assert "retrying" not in caplog.text, "the pre-ping replaced the dead connection before any call used it"
    storage.engine.dispose()


def call_and_check(call: str, storage: RDBStorage, study_id: int, trial_id: int) -> Callable[[], bool]:
    """Run the storage call `call`; a check that it did its work."""
    if call == "set_trial_intermediate_value":
        storage.set_trial_intermediate_value(trial_id, 1, 0.25)
        return lambda: storage.get_trial(trial_id).intermediate_values == {1: 0.25}
    if call == "set_trial_state_values":
        assert storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.5])
        return lambda: storage.get_trial(trial_id).value == 0.5
    if call == "create_new_trial":
        storage.create_new_trial(study_id)
        return lambda: len(storage.get_all_trials(study_id)) == 2
    assert call == "_get_trials"  # under get_all_trials, and the call Optuna's trial cache makes
    trials = storage.get_all_trials(study_id)
    return lambda: [t._trial_id for t in trials] == [trial_id]


@pytest.mark.postgres
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    "call", ["set_trial_intermediate_value", "set_trial_state_values", "create_new_trial", "_get_trials"]
)
def test_a_call_whose_connection_is_killed_mid_transaction_is_retried(
    postgres_url: str,
    driver: str,
    call: str,
    study_name: str,
    killer: Callable[[int], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = build_storage(with_driver(postgres_url, driver))
    study = optuna.create_study(study_name=study_name, storage=storage)
    trial_id = storage.create_new_trial(study._study_id)
    killed: list[int] = []

    @event.listens_for(storage.engine, "before_cursor_execute")
    def kill_own_backend(connection: Any, cursor: Any, *args: Any) -> None:
        if not killed:  # the call's first statement runs on a connection that has just been cut
            cursor.execute("SELECT pg_backend_pid()")
            killed.append(cursor.fetchone()[0])
            killer(killed[0])

    did_its_work = call_and_check(call, storage, study._study_id, trial_id)
    assert len(killed) == 1
    assert re.search(rf"{call} failed \(OperationalError: .*\); retrying", caplog.text), caplog.text
    assert f"{call} succeeded after" in caplog.text
    assert did_its_work()
    storage.engine.dispose()


# ---------------------------------------------------------------- `pg_ctlcluster restart` during `sweep run`

EPOCHS = 10
"""Enough that the trial running through the restart trains on for seconds after it, so that its heartbeat
thread, which waits `heartbeat_interval` (1 s) after the beat that met the server down, beats again before
the trial ends; with 5 epochs the trial sometimes ended first."""
N_TRIALS = 2
BEAT_TO_RESTART_S = 0.75
"""The restart starts this long after a heartbeat, so that the next one (1 s after) is likely to find the
server down (it is down for 0.2-3 s). Whether a call meets it down, or only its dead pooled connections
afterwards, the study must end the same way."""


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.alone  # every other test's PostgreSQL connections would meet the restart
def test_sweep_run_rides_out_a_postgres_restart(
    synth_voc: Path, tmp_path: Path, postgres_url: str, study_name: str
) -> None:
    version, cluster = postgres_cluster(postgres_url)
    document = study_document(
        study_name,
        n_trials=N_TRIALS,
        train=tiny_train(synth_voc, epochs=EPOCHS),
        settings={"heartbeat_interval": 1, "heartbeat_grace": 120},
    )
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(document))
    environment = {**os.environ, "SWEEP_STORAGE": postgres_url, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    environment.pop("MLFLOW_TRACKING_URI", None)  # MLflow stays on SQLite in tmp_path: only Optuna's server restarts
    log = tmp_path / "sweep.log"
    watcher = create_engine(postgres_url, poolclass=NullPool)
    with log.open("w") as output:
        process = subprocess.Popen(
            [*sweep_command(), "run", "study.yaml", "--quiet"],
            cwd=tmp_path,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        running = wait_for_first_epoch(watcher, study_name, process, log)
        wait_for_heartbeat(watcher, running)
        time.sleep(BEAT_TO_RESTART_S)
        started = time.monotonic()
        subprocess.run(["pg_ctlcluster", version, cluster, "restart"], check=True, capture_output=True, timeout=120)
        restart_s = time.monotonic() - started
        process.wait(timeout=SWEEP_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    printed = log.read_text()
    assert process.returncode == 0, printed
    assert "Traceback" not in printed, printed

    trials = optuna.load_study(study_name=study_name, storage=postgres_url).trials
    latest = [attempts[-1].state for attempts in chains(trials).values()]
    assert latest.count(TrialState.COMPLETE) + latest.count(TrialState.PRUNED) == len(latest) == N_TRIALS, trials
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert not [t.number for t in trials if t.state == TrialState.FAIL], (
        "a restart shorter than OUTAGE_S fails no trial"
    )
    for trial in trials:
        if trial.state == TrialState.COMPLETE:
            epochs = list(range(1, trial.user_attrs["epochs_run"] + 1))
            assert sorted(trial.intermediate_values) == epochs, (trial.number, trial.intermediate_values)
    with watcher.connect() as connection:
        beat_after_restart = connection.execute(
            text("SELECT heartbeat > pg_postmaster_start_time()::timestamp FROM trial_heartbeats WHERE trial_id = :id"),
            {"id": running},
        ).scalar_one()
    watcher.dispose()
    assert beat_after_restart, "the heartbeat thread of the trial that ran through the restart died"
    waits = re.findall(r"(\w+) succeeded after ([0-9.]+) s", printed)
    print(f"\npg_ctlcluster restart: {restart_s:.2f} s; calls that waited for the server: {waits}")


def wait_for_first_epoch(engine: Engine, study_name: str, process: subprocess.Popen[str], log: Path) -> int:
    """Wait until a trial of the study has reported its first epoch; its trial id."""
    query = text(
        "SELECT v.trial_id FROM trial_intermediate_values v JOIN trials t ON t.trial_id = v.trial_id "
        "JOIN studies s ON s.study_id = t.study_id WHERE s.study_name = :name LIMIT 1"
    )
    deadline = time.monotonic() + SWEEP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"sweep run ended before its first epoch:\n{log.read_text()}"
        with engine.connect() as connection:
            try:
                trial_id = connection.execute(query, {"name": study_name}).scalar()
            except ProgrammingError:  # the tables do not exist yet
                trial_id = None
        if trial_id is not None:
            return int(trial_id)
        time.sleep(0.2)
    raise AssertionError(f"no epoch reported in {SWEEP_TIMEOUT_S} s:\n{log.read_text()}")


def wait_for_heartbeat(engine: Engine, trial_id: int) -> None:
    """Return just after the trial's heartbeat changes."""
    query = text("SELECT heartbeat FROM trial_heartbeats WHERE trial_id = :id")
    with engine.connect() as connection:
        last = connection.execute(query, {"id": trial_id}).scalar()
        for _ in range(500):
            time.sleep(0.01)
            if connection.execute(query, {"id": trial_id}).scalar() != last:
                return
    raise AssertionError(f"trial {trial_id} recorded no heartbeat in 5 s")
