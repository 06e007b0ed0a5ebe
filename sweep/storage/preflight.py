"""Before a study creates anything: can its Optuna storage and its MLflow tracking store be reached?

`sweep run` creates the study, its data and MLflow's runs in turn; a service found missing half-way
would leave some of them behind, and MLflow's own retries take about 4 minutes to give up on a server.
`check_services` asks each service one cheap question with a bounded wait first, and creates nothing:

- a server database (the Optuna storage, or a database MLflow tracks into): a plain SQLAlchemy connection
  and `SELECT 1`, giving up after `CONNECT_TIMEOUT_S`;
- an MLflow server (`http://`, `https://`): one search for a single experiment, one request, no retries,
  `sweep.tracking.outages.PROBE`;
- an SQLite file (either service) is not probed: opening it would create it, and it is local anyway.
"""

from __future__ import annotations

from typing import Any

from mlflow.exceptions import MlflowException
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from sweep.database_urls import mask_password, missing_driver, scrub_password
from sweep.errors import StorageError, SweepError, TrackingError
from sweep.tracking.outages import PROBE, call_patiently
from sweep.tracking.store import TrackingStore

CONNECT_TIMEOUT_S = 10
"""How long a connection to a server database may take before it counts as unreachable."""
_TIMEOUT_ARGUMENT = {"postgresql": "connect_timeout", "mysql": "connect_timeout"}
"""The connect argument that bounds connecting, by dialect (psycopg, psycopg2, pymysql and mysqlclient agree)."""


def check_services(storage_url: str, tracking_uri: str) -> None:
    """Raise `StorageError` or `TrackingError` (URL shown with its password masked) unless both answer.

    Takes at most about `CONNECT_TIMEOUT_S` for each service, and creates no file, table, study or run.
    """
    if _server_database(storage_url):
        _check_database(storage_url, StorageError, "the Optuna storage")
    if tracking_uri.split(":", 1)[0].lower() in ("http", "https"):
        _check_tracking_server(tracking_uri)
    elif _server_database(tracking_uri):
        _check_database(tracking_uri, TrackingError, "the MLflow tracking database")


def server_connect_args(url: str) -> dict[str, Any]:
    """SQLAlchemy `connect_args` that bound how long connecting to the database of `url` may take."""
    argument = _TIMEOUT_ARGUMENT.get(make_url(url).get_backend_name())
    return {} if argument is None else {argument: CONNECT_TIMEOUT_S}


def _server_database(url: str) -> bool:
    """Whether `url` is an SQLAlchemy URL of a database other than SQLite."""
    try:
        return make_url(url).get_backend_name() != "sqlite"
    except ArgumentError:  # http://, file:, a plain path: not a database URL
        return False


def _check_database(url: str, error_class: type[SweepError], service: str) -> None:
    """Connect and `SELECT 1`; a pool-less engine, so no connection outlives the check."""
    try:
        engine = create_engine(url, connect_args=server_connect_args(url), poolclass=NullPool)
    except ImportError as error:  # SQLAlchemy found no driver for the URL's database
        raise error_class(missing_driver(url, error)) from None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        driver_error = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
        reason = scrub_password((str(driver_error).strip() or type(error).__name__).splitlines()[0], url)
        raise error_class(f"cannot reach {service} at {mask_password(url)}: {reason}") from None
    finally:
        engine.dispose()


def _check_tracking_server(tracking_uri: str) -> None:
    """One request; an unreachable server raises `TrackingError` from `call_patiently`, a refusal here."""
    store = TrackingStore(tracking_uri)  # a client of a server makes no request until asked
    try:
        call_patiently(PROBE, store.check_reachable, tracking_uri=tracking_uri)
    except MlflowException as error:  # an answer, but no MLflow server's: a proxy, a wrong path, no permission
        reason = scrub_password((str(error) or type(error).__name__).splitlines()[0], tracking_uri)
        raise TrackingError(
            f"the MLflow tracking server {mask_password(tracking_uri)} refused a search: {reason}"
        ) from None
