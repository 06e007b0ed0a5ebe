"""Before a study creates anything: can its Optuna storage and its MLflow tracking store be reached?

`sweep run` creates the study, its data and MLflow's runs in turn; a service found missing half-way
would leave some of them behind, and MLflow's own retries take about 4 minutes to give up on a server.
`check_services` asks each service one cheap question with a bounded wait first, and creates nothing:

- a server database (the Optuna storage, or a database MLflow tracks into): a plain SQLAlchemy connection
  and `SELECT 1`, giving up after `CONNECT_TIMEOUT_S` (`DatabaseUrl.connect_args`);
- an MLflow server (`http://`, `https://`): one search for a single experiment, one request, no retries,
  `sweep.tracking.outages.PROBE`;
- an SQLite file (either service) is not probed: opening it would create it, and it is local anyway.
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from sweep.database_urls import (
    DatabaseUrl,
    TrackingServer,
    TrackingUri,
    describe_error,
    parse_storage_url,
    parse_tracking_uri,
)
from sweep.errors import StorageError, SweepError, TrackingError
from sweep.tracking.outages import PROBE, call_patiently
from sweep.tracking.store import TrackingStore


def check_services(storage_url: DatabaseUrl | str, tracking_uri: TrackingUri | str) -> None:
    """Raise `StorageError` or `TrackingError` (URL shown with its password masked) unless both answer.

    Strings are parsed here. Takes at most about `CONNECT_TIMEOUT_S` for each service, and creates no
    file, table, study or run.
    """
    storage_url, tracking_uri = parse_storage_url(storage_url), parse_tracking_uri(tracking_uri)
    if storage_url.sqlite_file is None:
        _check_database(storage_url, StorageError, "the Optuna storage")
    if isinstance(tracking_uri, TrackingServer):
        _check_tracking_server(tracking_uri)
    elif isinstance(tracking_uri, DatabaseUrl) and tracking_uri.sqlite_file is None:
        _check_database(tracking_uri, TrackingError, "the MLflow tracking database")


def _check_database(url: DatabaseUrl, error_class: type[SweepError], service: str) -> None:
    """Connect and `SELECT 1`; a pool-less engine, so no connection outlives the check."""
    try:
        engine = create_engine(url.parts, connect_args=url.connect_args(), poolclass=NullPool)
    except ImportError as error:  # SQLAlchemy found no driver for the URL's database
        raise error_class(url.missing_driver(error)) from None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        driver_error = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
        raise error_class(f"cannot reach {service} at {url.masked}: {describe_error(driver_error, url)}") from None
    finally:
        engine.dispose()


def _check_tracking_server(tracking_uri: TrackingServer) -> None:
    """One request; an unreachable server raises `TrackingError` from `call_patiently`, a refusal here."""
    store = TrackingStore(tracking_uri)  # a client of a server makes no request until asked
    try:
        call_patiently(PROBE, store.check_reachable, tracking_uri=tracking_uri)
    except MlflowException as error:  # an answer, but no MLflow server's: a proxy, a wrong path, no permission
        raise TrackingError(
            f"the MLflow tracking server {tracking_uri.masked} refused a search: {describe_error(error, tracking_uri)}"
        ) from None
