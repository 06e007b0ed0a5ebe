"""The retry loop of `sweep.storage.retry` on SQLite, with simulated failures (a lost commit answer cannot be
induced on demand): lost connections retried, other errors not, and work whose answer was lost done once.

Real PostgreSQL connections that go away, and a server restarted during `sweep run`, are in
`tests/e2e/test_postgres_restart.py`.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.exceptions import StorageInternalError
from optuna.storages import RDBStorage
from optuna.storages._heartbeat import HeartbeatThread
from optuna.trial import TrialState
from sqlalchemy.exc import DataError, OperationalError

from sweep.errors import StorageError
from sweep.storage import retry as storage_retry
from sweep.storage.retry import CREATION_TOKEN_ATTR, OutageClock, ReconnectingStorage, call_with_retries


def lost_connection() -> StorageInternalError:
    """What Optuna raises when the server goes away during a storage call."""
    error = StorageInternalError("An exception is raised during the commit.")
    error.__cause__ = OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))
    return error


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage_retry, "FIRST_BACKOFF_S", 0.01)
    monkeypatch.setattr(storage_retry, "OUTAGE_S", 0.3)


@pytest.fixture
def sqlite_storage(tmp_path: Path, fast_retries: None) -> ReconnectingStorage:
    storage = ReconnectingStorage(f"sqlite:///{tmp_path}/optuna.db")
    optuna.create_study(study_name="s", storage=storage)
    return storage


def lose_answer_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    """Make `owner.name` commit its work and then fail as if the server's answer was lost, once."""
    original, calls = getattr(owner, name), []

    def lossy(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise lost_connection()
        return result

    monkeypatch.setattr(owner, name, lossy)
    return calls


# ---------------------------------------------------------------- the retry loop and its choices


def test_retries_a_lost_connection_then_names_the_masked_url(fast_retries: None) -> None:
    attempts: list[bool] = []

    def attempt(retrying: bool) -> str:
        attempts.append(retrying)
        if len(attempts) < 3:
            raise lost_connection()
        return "done"

    outage = OutageClock()
    assert call_with_retries("postgresql://u:secret@h/db", "get_trial", attempt, outage) == "done"
    assert attempts == [False, True, True] and outage.began is None

    def always_lost(retrying: bool) -> None:
        attempts.append(retrying)
        raise lost_connection()

    message = (
        "lost the Optuna storage postgresql://u:***@h/db: get_trial failed, and the server has not answered for 0 s"
    )
    with pytest.raises(StorageError, match=re.escape(message)) as raised:
        call_with_retries("postgresql://u:secret@h/db", "get_trial", always_lost, outage)
    assert "secret" not in str(raised.value) and "server closed the connection unexpectedly)" in str(raised.value)
    del attempts[:]
    time.sleep(storage_retry.OUTAGE_S)
    with pytest.raises(StorageError):  # the outage is older than OUTAGE_S: the next call tries once
        call_with_retries("postgresql://u:secret@h/db", "get_trial_user_attrs", always_lost, outage)
    assert attempts == [False]


def test_other_errors_are_not_retried(fast_retries: None) -> None:
    attempts = []

    def bad_data(retrying: bool) -> None:
        attempts.append(retrying)
        error = StorageInternalError("An exception is raised during the commit.")
        error.__cause__ = DataError("INSERT", {}, Exception("value too long"))
        raise error

    with pytest.raises(StorageInternalError):
        call_with_retries("postgresql://u:p@h/db", "set_trial_user_attr", bad_data, OutageClock())
    assert attempts == [False]


@pytest.mark.parametrize("queued", [False, True], ids=["asked", "queued-retry"])
def test_a_trial_whose_creation_answer_was_lost_is_created_once(
    sqlite_storage: ReconnectingStorage, monkeypatch: pytest.MonkeyPatch, queued: bool
) -> None:
    calls = lose_answer_once(monkeypatch, ReconnectingStorage, "_create_trial_once")
    study = optuna.load_study(study_name="s", storage=sqlite_storage)
    template = optuna.trial.create_trial(state=TrialState.WAITING, system_attrs={"failed_trial": 0}) if queued else None
    trial_id = sqlite_storage.create_new_trial(study._study_id, template)
    assert len(calls) == 1, "the retry found the committed trial by its token instead of creating another"
    (trial,) = sqlite_storage.get_all_trials(study._study_id)
    assert trial._trial_id == trial_id
    assert trial.state == (TrialState.WAITING if queued else TrialState.RUNNING)
    assert set(trial.system_attrs) == ({"failed_trial", CREATION_TOKEN_ATTR} if queued else {CREATION_TOKEN_ATTR})


def test_a_state_change_whose_answer_was_lost_counts_as_done(
    sqlite_storage: ReconnectingStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = optuna.load_study(study_name="s", storage=sqlite_storage)
    trial = study.ask()
    lose_answer_once(monkeypatch, RDBStorage, "set_trial_state_values")
    study.tell(trial, 0.5)  # the retry meets a finished trial, in the state it asked for
    assert study.trials[0].state == TrialState.COMPLETE and study.best_value == 0.5


def test_heartbeats_go_on_through_an_outage(
    sqlite_storage: ReconnectingStorage, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    study = optuna.load_study(study_name="s", storage=sqlite_storage)
    trial = study.ask()
    sqlite_storage.heartbeat_interval = 1
    beats = []

    def unreachable(storage: RDBStorage, trial_id: int) -> None:
        beats.append(trial_id)
        raise lost_connection()

    monkeypatch.setattr(RDBStorage, "record_heartbeat", unreachable)
    thread = HeartbeatThread(trial._trial_id, sqlite_storage)  # Optuna's, which ends on the first error
    thread.start()
    time.sleep(1.5)
    assert thread._thread is not None and thread._thread.is_alive()
    thread.join()
    assert len(beats) > 2, "several attempts at the first beat, and the next beat a second later"
    assert "the heartbeat thread tries again in 1 s" in caplog.text
