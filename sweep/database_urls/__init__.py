"""The URLs of a study's two stores, parsed once where they enter: the Optuna storage and MLflow's tracking URI.

A URL arrives as a string (the study file, `--storage` / `--tracking-uri`, `SWEEP_STORAGE` /
`MLFLOW_TRACKING_URI`) and `parse_storage_url` or `parse_tracking_uri` turns it into a typed, frozen value
(`values`): a `DatabaseUrl`, a `TrackingServer` or `Databricks`. The value knows its backend, its SQLite
file, its masked and absolute forms, whether another names the same database and the arguments that bound
connecting to it; below the entry points nothing parses a URL again. `describe_error` is the one place where
a driver's error becomes the line a user sees, with passwords scrubbed.

A base module of the sweep layer: it imports SQLAlchemy only.
"""

from sweep.database_urls.parsing import parse_storage_url, parse_tracking_uri
from sweep.database_urls.values import (
    CONNECT_TIMEOUT_S,
    DatabaseUrl,
    Databricks,
    StoreUrl,
    TrackingServer,
    TrackingUri,
    describe_error,
)

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DatabaseUrl",
    "Databricks",
    "StoreUrl",
    "TrackingServer",
    "TrackingUri",
    "describe_error",
    "parse_storage_url",
    "parse_tracking_uri",
]
