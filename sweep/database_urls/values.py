"""The typed URL of each store, and what it knows without parsing again; `describe_error` for its driver's errors.

A value is still the string it was given (a `str`), since Optuna, MLflow and the environment take strings;
beside it, it holds SQLAlchemy's parse of that string (`parts`), made once by `sweep.database_urls.parsing`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NoReturn, TypeAlias, TypeVar

from sqlalchemy.engine import URL

CONNECT_TIMEOUT_S = 10
"""How long connecting to a server database may take: a server that is down or unreachable fails fast."""
_TIMEOUT_DRIVERS = ("psycopg", "psycopg2", "pymysql", "mysqldb")
"""The drivers that take libpq's and MySQL's `connect_timeout` keyword."""

_Url = TypeVar("_Url", bound="StoreUrl")


class StoreUrl(str):
    """The URL of a store, as given, and SQLAlchemy's parse of it (`parts`); frozen.

    The string itself, password included, is what Optuna and MLflow connect with; `masked` is what a
    message or a tag shows. `parts` is None only for the bare name `databricks`, which is no URL.
    """

    parts: URL | None

    def __new__(cls: type[_Url], text: str, parts: URL | None) -> _Url:
        url = super().__new__(cls, text)
        object.__setattr__(url, "parts", parts)
        return url

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.parts))

    @property
    def masked(self) -> str:
        """`postgresql://user:***@host/db`: the URL with its password hidden."""
        return str(self) if self.parts is None else self.parts.render_as_string(hide_password=True)

    @property
    def password(self) -> str | None:
        return None if self.parts is None else self.parts.password

    @property
    def sqlite_file(self) -> Path | None:
        """The database file of a local SQLite store, as written; None for every other store."""
        return None

    def absolute(self: _Url) -> _Url:
        """The same store with a relative SQLite path made absolute from the working directory; other
        stores are returned as they are.

        MLflow caches its store per URL string for the life of the process, so a relative path would keep
        pointing into whichever folder was current the first time it was used.
        """
        return self


class DatabaseUrl(StoreUrl):
    """A database that SQLAlchemy opens: the Optuna storage, or a database MLflow tracks into.

    An SQLite URL names a file (`sqlite:///runs/x.db`, `sqlite:////abs/x.db`): the parser refuses others.
    """

    parts: URL

    @classmethod
    def for_sqlite_file(cls, path: Path) -> DatabaseUrl:
        """`sqlite:///PATH`, built from the path rather than parsed."""
        parts = URL.create("sqlite", database=str(path))
        return cls(parts.render_as_string(hide_password=False), parts)

    @property
    def backend(self) -> str:
        """`postgresql` for `postgresql+psycopg2://...`: the database, whatever the driver."""
        return self.parts.get_backend_name()

    @property
    def sqlite_file(self) -> Path | None:
        database = self.parts.database
        return Path(database) if self.backend == "sqlite" and database and database != ":memory:" else None

    def absolute(self) -> DatabaseUrl:
        file = self.sqlite_file
        if file is None or file.is_absolute():
            return self
        parts = self.parts.set(database=str(file.resolve()))
        return DatabaseUrl(parts.render_as_string(hide_password=False), parts)

    def same_database(self, other: StoreUrl) -> bool:
        """Whether `other` names this database too: drivers (`+psycopg2`) aside, SQLite paths normalised."""
        return isinstance(other, DatabaseUrl) and self._identity() == other._identity()

    def _identity(self) -> object:
        file = self.sqlite_file
        return self.parts.set(drivername=self.backend) if file is None else os.path.normpath(file)

    def connect_args(self) -> dict[str, Any]:
        """SQLAlchemy `connect_args` that bound how long connecting may take: `connect_timeout`
        (`CONNECT_TIMEOUT_S`) for the PostgreSQL and MySQL drivers that take it, unless the URL sets it."""
        if "connect_timeout" in self.parts.query or self.parts.get_driver_name() not in _TIMEOUT_DRIVERS:
            return {}
        return {"connect_timeout": CONNECT_TIMEOUT_S}

    def missing_driver(self, error: ImportError) -> str:
        """The message for this database when its driver is not installed (SQLAlchemy raised `error`)."""
        return f"{self.masked}: no database driver installed ({error}); for PostgreSQL run: pip install 'segsweep[postgres]'"


class TrackingServer(StoreUrl):
    """An MLflow tracking server, `http(s)://[USER:PASSWORD@]HOST[:PORT][/PATH]`."""

    parts: URL

    @property
    def without_credentials(self) -> str:
        """`https://user:secret@host:5000/mlflow/` becomes `https://host:5000/mlflow`: an address to share."""
        parts = URL.create(
            self.parts.drivername, host=self.parts.host, port=self.parts.port, database=self.parts.database
        )
        return parts.render_as_string(hide_password=False).rstrip("/")


class Databricks(StoreUrl):
    """MLflow on Databricks: `databricks` or `databricks://PROFILE`."""


TrackingUri: TypeAlias = DatabaseUrl | TrackingServer | Databricks
"""An MLflow tracking URI, as `sweep.database_urls.parse_tracking_uri` returns it."""


def describe_error(error: BaseException, *urls: StoreUrl) -> str:
    """`error` as the one line a user sees: the first line of its message (its class name when it has
    none), with the password of each of `urls` replaced by `***`."""
    line = (str(error).strip() or type(error).__name__).splitlines()[0]
    for url in urls:
        if url.password:
            line = line.replace(url.password, "***")
    return line
