"""From a string to a typed store URL, once: the Optuna storage and the MLflow tracking URI, checked.

SQLAlchemy's URL parser reads every URL, the tracking server's too. Both parse functions return a value
that is already parsed as it is, so a library function may take either a value or a string.

The string functions at the end answer the questions of `sweep.database_urls.values` about a plain
string, for a caller that holds one (a script, a test); a parsed value answers from its own parse there.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from sweep.database_urls.values import DatabaseUrl, Databricks, TrackingServer, TrackingUri

_STORAGE_BACKENDS = ("sqlite", "postgresql", "mysql")
_TRACKING_DATABASES = ("sqlite", "postgresql", "mysql", "mssql")
_SQLITE_EXAMPLE = "sqlite:///runs/mlflow.db"
_STORAGE_EXAMPLES = (
    "sqlite:///PATH, postgresql://USER@HOST/DB, postgresql+psycopg2://USER@HOST/DB or mysql://USER@HOST/DB"
)
_TRACKING_EXAMPLES = "sqlite:///PATH, postgresql://..., mysql://..., mssql://..., http(s)://HOST or databricks"
_FILE_STORE = (
    "is an MLflow file store (a plain path or file:// URI), which MLflow deprecated and refuses from 3.13 on; "
    f"use a database such as {_SQLITE_EXAMPLE} or a tracking server http(s)://HOST"
)


def parse_storage_url(url: str) -> DatabaseUrl:
    """An Optuna storage URL: SQLite naming a file, PostgreSQL or MySQL (a `DatabaseUrl` is returned as it is).

    Raises `ValueError` saying what is wrong and what is accepted.
    """
    if isinstance(url, DatabaseUrl):
        return url
    parts = _sqlalchemy_parse(url)
    if _scheme(url, parts).split("+")[0] not in _STORAGE_BACKENDS:
        raise ValueError(f"{url!r} is not an Optuna database URL; accepted: {_STORAGE_EXAMPLES}")
    return _database_url(url, parts, accepted=_STORAGE_EXAMPLES)


def parse_tracking_uri(uri: str) -> TrackingUri:
    """An MLflow tracking URI: a database (SQLite naming a file, PostgreSQL, MySQL, SQL Server), a tracking
    server or Databricks (a parsed one is returned as it is).

    Raises `ValueError` saying what is wrong and what is accepted; a plain path or a `file://` URI is
    MLflow's file store, which is refused.
    """
    if isinstance(uri, (DatabaseUrl, TrackingServer, Databricks)):
        return uri
    if uri == "databricks":
        return Databricks(uri, None)
    parts = _sqlalchemy_parse(uri)
    scheme = _scheme(uri, parts)
    if scheme == "file" or len(scheme) <= 1:  # "" is a plain path, "c" a Windows drive
        raise ValueError(f"{uri!r} {_FILE_STORE}")
    backend = scheme.split("+")[0]
    if backend in _TRACKING_DATABASES:
        return _database_url(uri, parts, accepted=_TRACKING_EXAMPLES)
    if backend not in ("http", "https", "databricks"):
        raise ValueError(f"unsupported scheme {scheme!r} in {uri!r}; accepted: {_TRACKING_EXAMPLES}")
    if parts is None:
        raise ValueError(f"{uri!r} is not a well-formed URL; accepted: {_TRACKING_EXAMPLES}")
    return Databricks(uri, parts) if backend == "databricks" else TrackingServer(uri, parts)


def _sqlalchemy_parse(url: str) -> URL | None:
    """SQLAlchemy's parse of `url`; None for a string it cannot read (a plain path, `sqlite:/x.db`)."""
    try:
        return make_url(url)
    except ArgumentError:
        return None


def _scheme(url: str, parts: URL | None) -> str:
    """The scheme of `url`, in lower case; for a string SQLAlchemy cannot read, the one it claims."""
    return (parts.drivername if parts is not None else urlsplit(url).scheme).lower()


def _database_url(url: str, parts: URL | None, *, accepted: str) -> DatabaseUrl:
    """`url` as a `DatabaseUrl`; an SQLite URL must name a file on this host."""
    if _scheme(url, parts).split("+")[0] == "sqlite" and (
        parts is None or parts.host is not None or parts.database in (None, "", ":memory:")
    ):
        raise ValueError(f"{url!r}: an SQLite URL needs three slashes and a file path, e.g. {_SQLITE_EXAMPLE}")
    if parts is None:
        raise ValueError(f"{url!r} is not a well-formed database URL; accepted: {accepted}")
    return DatabaseUrl(url, parts)
