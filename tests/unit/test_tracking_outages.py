"""Tracking that outlasts a server away: bounded waits and buffering (against a stand-in server and real
unreachable ports), backfill and reconciliation (against a local MLflow store), and the preflight check.

`sweep run` against unreachable services, and a study through an MLflow server restart, are in
`tests/e2e/test_service_outages.py`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import optuna
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState
from services import blackhole, free_port

from sweep.database_urls import parse_tracking_uri
from sweep.errors import StorageError, TrackingError
from sweep.storage.preflight import check_services
from sweep.tracking import StudyTracker, TrackingStore, TrialRun
from sweep.tracking import trial_run as trial_run_module
from sweep.tracking.batches import Batch
from sweep.tracking.outages import Patience, call_patiently
from sweep.trials.record import BEST_EPOCH_ATTR, RUN_ID_ATTR
from trainer.config import TrainConfig

PASSWORD = "s3cret"
MLFLOW_SETTINGS = (
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
)


# --- Bounded waits and buffering, against a stand-in server -------------------------------------------


class FlakyStore:
    """A `TrackingStore` stand-in whose server is away for the next `away_for` calls; records what arrives."""

    tracking_uri = parse_tracking_uri(f"http://sweeper:{PASSWORD}@mlflow.example:5000")

    def __init__(self) -> None:
        self.away_for = 0
        self.refuse_next = False
        self.arrived: list[Any] = []

    def _request(self, what: Any) -> None:
        if self.away_for:
            self.away_for -= 1
            try:
                raise ConnectionRefusedError(111, "Connection refused")
            except ConnectionRefusedError as error:
                raise MlflowException(f"API request failed with exception {error}") from error
        if self.refuse_next:
            self.refuse_next = False
            raise MlflowException("INVALID_PARAMETER_VALUE: no such metric")
        self.arrived.append(what)

    def send(self, run_id: str, batch: Batch) -> None:
        self._request({metric.key: metric.step for metric in batch.metrics} or {tag.key for tag in batch.tags})

    def end_run(self, run_id: str, status: str) -> None:
        self._request(status)

    def log_artifacts(self, run_id: str, files: Any, artifact_path: str | None = None) -> None:
        self._request([Path(path).name for path in files])


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FlakyStore:
    monkeypatch.setattr(trial_run_module, "EPOCH", Patience(total_s=0.0, request_timeout_s=1))
    monkeypatch.setattr(trial_run_module, "FLUSH", Patience(total_s=2.0, request_timeout_s=1))
    return FlakyStore()


def test_epochs_logged_while_the_server_is_away_wait_and_arrive_in_order(store: FlakyStore) -> None:
    run = TrialRun(store, "run")  # type: ignore[arg-type]
    run.log_epoch(1, {"val/miou": 0.1})
    store.away_for = 2
    run.log_epoch(2, {"val/miou": 0.2})
    run.set_tags({"note": "x"})
    assert run.pending == 2 and store.arrived == [{"val/miou": 1}]
    run.log_epoch(3, {"val/miou": 0.3})
    assert run.pending == 0
    assert store.arrived == [{"val/miou": 1}, {"val/miou": 2}, {"note"}, {"val/miou": 3}]


def test_the_end_of_a_trial_waits_for_the_server_then_raises_naming_it(store: FlakyStore) -> None:
    run = TrialRun(store, "run")  # type: ignore[arg-type]
    store.away_for = 3  # the epoch's try, then two of finish's tries
    run.log_epoch(1, {"val/miou": 0.1})
    run.finish(0.1, 1)
    assert store.arrived == [{"val/miou": 1}, {"best_val_miou": 1, "best_epoch": 1}, "FINISHED"]

    store.away_for = 1000
    started = time.monotonic()
    with pytest.raises(TrackingError, match=r"http://sweeper:\*\*\*@mlflow.example:5000 cannot be reached") as raised:
        run.log_artifact(Path("best.pt"))
    assert PASSWORD not in str(raised.value) and time.monotonic() - started < 4


def test_a_batch_the_server_refuses_is_dropped_and_the_refusal_raised(store: FlakyStore) -> None:
    run = TrialRun(store, "run")  # type: ignore[arg-type]
    store.refuse_next = True
    with pytest.raises(MlflowException, match="INVALID_PARAMETER_VALUE"):
        run.log_epoch(1, {"val/miou": float("nan")})
    run.log_epoch(2, {"val/miou": 0.2})
    assert run.pending == 0 and store.arrived == [{"val/miou": 2}]


def test_bounded_calls_leave_mlflow_settings_as_they_were(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "77")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    seen = call_patiently(
        Patience(0.0, 3),
        lambda: {name: os.environ.get(name) for name in MLFLOW_SETTINGS},
        tracking_uri=parse_tracking_uri("http://127.0.0.1:1"),
    )
    assert seen == dict(zip(MLFLOW_SETTINGS, ("0", "0", "3"), strict=True))
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "77" and "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ


@pytest.fixture
def unreachable_uri(request: pytest.FixtureRequest) -> Iterator[str]:
    """`http://127.0.0.1:<port>` that is closed (refused) or a blackhole (hangs)."""
    if request.param == "closed":
        yield f"http://127.0.0.1:{free_port()}"
        return
    with blackhole() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("unreachable_uri", "within_s"), [("closed", 4), ("blackhole", 9)], indirect=["unreachable_uri"]
)
def test_an_epoch_waits_seconds_for_a_real_unreachable_server(unreachable_uri: str, within_s: float) -> None:
    run = TrialRun(TrackingStore(unreachable_uri), "0" * 32)
    started = time.monotonic()
    run.log_epoch(1, {"val/miou": 0.5})
    assert run.pending == 1 and time.monotonic() - started < within_s
    assert not any(name in os.environ for name in MLFLOW_SETTINGS)


# --- Backfill and reconciliation, against a local MLflow store --------------------------------------------


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


def tracker_for(tracking_uri: str, name: str) -> StudyTracker:
    return StudyTracker(tracking_uri, name, study_name=name, storage_url="sqlite:///optuna.db")


def test_backfill_logs_exactly_the_epochs_the_run_lacks(tracking_uri: str) -> None:
    tracker, study = tracker_for(tracking_uri, "backfill"), optuna.create_study(direction="maximize")
    run = tracker.start_trial(study.ask(), TrainConfig(), tracker.open_parent(study), {})
    for epoch in (1, 3):
        run.log_epoch(epoch, {"val/miou": epoch / 10, "train/loss": 1.0})
    history = [{"epoch": float(epoch), "val/miou": epoch / 10, "train/loss": 1.0} for epoch in range(1, 5)]
    assert run.backfill(history) == [2, 4]
    assert run.backfill(history) == []
    steps = MlflowClient(tracking_uri).get_metric_history(run.run_id, "val/miou")
    assert sorted((metric.step, metric.value) for metric in steps) == [(e, e / 10) for e in range(1, 5)]


def test_reconcile_ends_runs_their_finished_trials_left_running(tracking_uri: str) -> None:
    tracker, study = tracker_for(tracking_uri, "reconcile"), optuna.create_study(direction="maximize")
    parent = tracker.open_parent(study)
    runs = {}
    for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.COMPLETE):
        trial = study.ask()
        runs[trial.number] = tracker.start_trial(trial, TrainConfig(), parent, {})  # never ended: the server was away
        trial.set_user_attr(BEST_EPOCH_ATTR, 2)
        if state == TrialState.PRUNED:
            trial.report(0.25, 1)
            trial.report(0.125, 2)
        study.tell(trial, 0.5 if state == TrialState.COMPLETE else None, state=state)
    runs[3].finish(0.5, 1)  # this one's end arrived
    running = study.ask()
    runs[4] = tracker.start_trial(running, TrainConfig(), parent, {})
    study.enqueue_trial({}, user_attrs={RUN_ID_ATTR: runs[2].run_id})  # a queued retry of trial 2 shares its run

    assert tracker.reconcile_trial_runs(study) == 2
    client = MlflowClient(tracking_uri)
    ended = {number: client.get_run(run.run_id) for number, run in runs.items()}
    assert [ended[n].info.status for n in range(5)] == ["FINISHED", "KILLED", "RUNNING", "FINISHED", "RUNNING"]
    assert ended[0].data.tags["optuna.state"] == "COMPLETE" and ended[1].data.tags["optuna.state"] == "PRUNED"
    assert ended[0].data.metrics == {"best_val_miou": 0.5, "best_epoch": 2.0}, "a completed trial's objective"
    assert ended[1].data.metrics == {"best_val_miou": 0.25, "best_epoch": 1.0}, "a pruned trial's best so far"
    assert tracker.reconcile_trial_runs(study) == 0


# --- Preflight: `sweep run` against unreachable services --------------------------------------------------


def test_preflight_creates_no_sqlite_file(tmp_path: Path) -> None:
    check_services(f"sqlite:///{tmp_path}/optuna.db", f"sqlite:///{tmp_path}/runs/mlflow.db")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("service", ["storage", "tracking"])
def test_preflight_names_the_unreachable_service(service: str) -> None:
    driver = "psycopg" if service == "storage" else "psycopg2"
    pytest.importorskip(driver, reason="the postgres extra (`.ci/run` installs it) reaches the server")
    port = free_port()
    storage, tracking = "sqlite:///unused.db", "sqlite:///unused-mlflow.db"
    if service == "storage":
        storage = f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:{port}/db"
    else:
        tracking = f"postgresql+psycopg2://u:{PASSWORD}@127.0.0.1:{port}/mlflow"
    error = StorageError if service == "storage" else TrackingError
    with pytest.raises(error, match=rf"u:\*\*\*@127.0.0.1:{port}/.*Connection refused") as raised:
        check_services(storage, tracking)
    assert PASSWORD not in str(raised.value)
    assert not Path("unused.db").exists() and not Path("unused-mlflow.db").exists()


def test_preflight_names_a_server_that_answers_but_is_no_mlflow() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as http:  # answers 501 to every request
        Thread(target=http.serve_forever, daemon=True).start()
        uri = f"http://127.0.0.1:{http.server_address[1]}"
        with pytest.raises(TrackingError, match=rf"the MLflow tracking server {uri} refused a search: .*501"):
            check_services("sqlite:///unused.db", uri)
        http.shutdown()
