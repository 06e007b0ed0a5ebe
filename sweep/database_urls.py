"""Database URLs as Optuna and MLflow should see them: a concern of the sweep layer, which opens both.

Every question about a URL's kind goes through here: which SQLite file it names, whether two URLs name one
database, how it is shown without its password. SQLAlchemy's own URL parser does the parsing.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_SQLITE_EXAMPLE = "sqlite:///runs/mlflow.db"


def _parse(url: str) -> URL | None:
    try:
        return make_url(url)
    except ArgumentError:  # a plain path, a journal file, `databricks`: not a database URL
        return None


def sqlite_path(url: str) -> Path | None:
    """The database file of `sqlite:///PATH` (any `sqlite+driver`), as written; None for other URLs and `:memory:`."""
    parsed = _parse(url)
    if parsed is None or parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def check_sqlite_url(url: str) -> None:
    """Raise ValueError for an SQLite URL that names no file (`sqlite://`, `sqlite:/x.db`); others pass."""
    if url.split(":", 1)[0].split("+")[0] == "sqlite" and (
        not url.partition("://")[2].startswith("/") or sqlite_path(url) is None
    ):
        raise ValueError(f"{url!r}: an SQLite URL needs three slashes and a file path, e.g. {_SQLITE_EXAMPLE}")


def absolute_sqlite_url(url: str) -> str:
    """`sqlite:///runs/x.db` becomes `sqlite:////abs/cwd/runs/x.db`; every other URL is returned as is.

    MLflow caches its store per URL string for the life of the process, so a relative path would keep
    pointing into whichever folder was current the first time it was used.
    """
    path = sqlite_path(url)
    if path is None or path.is_absolute():
        return url
    return f"{url.partition(':///')[0]}:///{path.resolve()}"


def same_database(first: str, second: str) -> bool:
    """Whether two database URLs name one database: drivers (`+psycopg2`) are ignored, SQLite paths normalised."""

    def normal(url: str) -> str:
        path = sqlite_path(url)
        if path is not None:
            return f"sqlite://{os.path.normpath(path)}"
        scheme, _, rest = url.partition("://")
        return f"{scheme.split('+')[0]}://{rest}"

    return normal(first) == normal(second)


def mask_password(url: str) -> str:
    """`postgresql://user:secret@host/db` becomes `postgresql://user:***@host/db`; other URLs are unchanged."""
    parsed = _parse(url)
    return url if parsed is None else parsed.render_as_string(hide_password=True)


def scrub_password(message: str, url: str) -> str:
    """`message` with the password of `url` (if it has one) replaced by `***` wherever it appears."""
    parsed = _parse(url)
    password = None if parsed is None else parsed.password
    return message.replace(str(password), "***") if password else message


def missing_driver(url: str, error: ImportError) -> str:
    """The message for a database URL whose driver is not installed (SQLAlchemy raised `error`)."""
    return f"{mask_password(url)}: no database driver installed ({error}); for PostgreSQL run: pip install 'segsweep[postgres]'"
