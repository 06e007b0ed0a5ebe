"""The Optuna storage of a study: RDB with heartbeats, safe for parallel workers on SQLite too.

Only Optuna's RDB storage has heartbeats, which fail a killed worker's trial and queue a retry of it
(`sweep.trials.retries`), so the embedded default stays SQLite rather than the journal file. Three settings make SQLite hold up under
several worker processes (measured in `benchmarks/sqlite_workers.py`, reasons in docs/design.md):

- WAL journal (a property of the file, set once): readers never block the writer, nor it them;
- a long busy timeout: a writer queues for the lock instead of failing with "database is locked";
- `BEGIN IMMEDIATE`: each transaction takes the write lock up front, so the read-then-write steps Optuna
  guards with `SELECT ... FOR UPDATE` on server databases (numbering a trial, popping a queued retry)
  are atomic on SQLite too; a deferred transaction could neither wait for the lock nor be serialised.

Table creation is not atomic either: on SQLite a file lock serialises it between processes on the host;
on a server database, a process that loses the creation race retries once the winner's tables exist.

On a server database the storage rides out a restart of the server (`sweep.storage.retry`): pooled
connections are pinged before use, connection attempts time out (`DatabaseUrl.connect_args`), and calls
retry a lost connection for a bounded time.
"""

from __future__ import annotations

import random
import time
import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.storages import RDBStorage
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError

from sweep.database_urls import DatabaseUrl, describe_error, parse_storage_url
from sweep.errors import StorageError
from sweep.locks import exclusive_file_lock, init_lock_path
from sweep.storage.retry import ReconnectingStorage
from sweep.trials.retries import RetryDeadTrial

SQLITE_BUSY_TIMEOUT_S = 300
"""How long an SQLite writer waits for the lock; a trial writes a few rows per epoch, so waits are short."""
_CREATION_ATTEMPTS = 4


@dataclass(frozen=True)
class Heartbeat:
    """A running trial's heartbeat every `interval_s`; one older than `grace_s` is a dead worker's, and its
    trial is failed and retried while it has used no more than `max_retries` retries."""

    interval_s: int
    grace_s: int
    max_retries: int


def build_storage(url: DatabaseUrl | str, *, heartbeat: Heartbeat | None = None) -> RDBStorage:
    """Optuna's RDB storage at `url` (a string is parsed here); with `heartbeat`, running trials record
    heartbeats and dead ones are retried.

    Only processes that run trials need heartbeats (`sweep run`); readers such as `sweep status` open the
    storage without them.
    """
    url = parse_storage_url(url)
    try:
        database = url.sqlite_file
        if database is None:
            return _open_server_database(url, heartbeat)
        database.parent.mkdir(parents=True, exist_ok=True)
        with exclusive_file_lock(init_lock_path(database)):
            storage = _rdb_storage(RDBStorage, url, {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}, heartbeat)
            with storage.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        _begin_immediate(storage.engine)
        return storage
    except ImportError as error:  # SQLAlchemy found no driver for the URL's database
        raise StorageError(url.missing_driver(error)) from None
    except SQLAlchemyError as error:
        raise StorageError(
            f"cannot use the Optuna storage: {type(error).__name__}: {describe_error(error, url)} ({url.masked})"
        ) from None


def _open_server_database(url: DatabaseUrl, heartbeat: Heartbeat | None) -> RDBStorage:
    """PostgreSQL or MySQL; hosts that start together may race to create the tables, and the losers retry."""
    for attempt in range(1, _CREATION_ATTEMPTS + 1):
        try:
            return _rdb_storage(ReconnectingStorage, url, server_engine_kwargs(url), heartbeat)
        except (IntegrityError, ProgrammingError):  # "relation ... already exists", a duplicate type row
            if attempt == _CREATION_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.5, 2.0))
    raise AssertionError("unreachable")


def server_engine_kwargs(url: DatabaseUrl) -> dict[str, Any]:
    """SQLAlchemy engine options for a server database: a connection is pinged before each use (after a
    restart of the server every pooled one is dead), and connection attempts time out
    (`DatabaseUrl.connect_args`). Optuna sets `pool_pre_ping` for MySQL only."""
    connect_args = url.connect_args()
    return {"pool_pre_ping": True, **({"connect_args": connect_args} if connect_args else {})}


def _rdb_storage(
    storage_class: type[RDBStorage], url: DatabaseUrl, engine_kwargs: dict[str, Any], heartbeat: Heartbeat | None
) -> RDBStorage:
    if heartbeat is None:
        return storage_class(url, engine_kwargs=engine_kwargs)
    with warnings.catch_warnings():  # heartbeats are flagged experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return storage_class(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat.interval_s,
            grace_period=heartbeat.grace_s,
            heartbeat_stale_trial_callback=RetryDeadTrial(heartbeat.max_retries),
        )


def _begin_immediate(engine: Engine) -> None:
    """SQLAlchemy's recipe for SQLite transactions: the driver emits no BEGIN of its own, we emit IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _no_driver_begin(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # the connections that created the tables predate the hooks
