"""Whether an Optuna storage holds a study, found by reading it only.

`optuna.load_study` opens an `RDBStorage`, which creates Optuna's tables in an empty database (and an
SQLite file where there is none). `sweep status`, `best` and `promote` must leave a storage that holds no
study as they found it, so they ask here first: no file is opened that does not exist, and no table is
created.
"""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from sweep.database_urls import missing_driver, sqlite_path
from sweep.errors import StorageError

STUDIES_TABLE = "studies"
"""The table of Optuna's RDB schema that names each study (`study_name`)."""


def study_in_storage(url: str, study_name: str) -> bool:
    """True when the database at `url` holds Optuna's tables and a study named `study_name`.

    An SQLite URL whose file does not exist is False without connecting (connecting would create the file).
    """
    database = sqlite_path(url)
    if database is not None and not database.is_file():
        return False
    try:
        engine = create_engine(url)
    except ImportError as error:  # SQLAlchemy found no driver for the URL's database
        raise StorageError(missing_driver(url, error)) from None
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(STUDIES_TABLE):
                return False
            query = text(f"SELECT 1 FROM {STUDIES_TABLE} WHERE study_name = :name")
            return connection.execute(query, {"name": study_name}).first() is not None
    finally:
        engine.dispose()
