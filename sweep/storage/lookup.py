"""Whether an Optuna storage holds a study, found by reading it only.

`optuna.load_study` opens an `RDBStorage`, which creates Optuna's tables in an empty database (and an
SQLite file where there is none). `sweep status`, `best`, `promote` and a warm start's read of another
study must leave a storage that holds no study as they found it, so they ask here first: no file is
opened that does not exist, and no table is created.
"""

from __future__ import annotations

import optuna
from sqlalchemy import create_engine, inspect, text

from sweep.database_urls import DatabaseUrl
from sweep.errors import StorageError, StudyNotFoundError
from sweep.spec.study_file import StudySpec
from sweep.storage.rdb import build_storage

STUDIES_TABLE = "studies"
"""The table of Optuna's RDB schema that names each study (`study_name`)."""


def study_in_storage(url: DatabaseUrl, study_name: str) -> bool:
    """True when the database at `url` holds Optuna's tables and a study named `study_name`.

    An SQLite URL whose file does not exist is False without connecting (connecting would create the file).
    """
    database = url.sqlite_file
    if database is not None and not database.is_file():
        return False
    try:
        engine = create_engine(url.parts)
    except ImportError as error:  # SQLAlchemy found no driver for the URL's database
        raise StorageError(url.missing_driver(error)) from None
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(STUDIES_TABLE):
                return False
            query = text(f"SELECT 1 FROM {STUDIES_TABLE} WHERE study_name = :name")
            return connection.execute(query, {"name": study_name}).first() is not None
    finally:
        engine.dispose()


def load_existing_study(spec: StudySpec) -> optuna.Study:
    """Load a study that must already exist, creating no file or table on the way.

    The storage is read first (`study_in_storage`): opening Optuna's storage would create its tables in an
    empty database. The URL is shown with its password masked.
    """
    url = spec.storage_url
    run_first = f"run `sweep run {spec.source}` first"
    database = url.sqlite_file
    if database is not None and not database.is_file():
        raise StudyNotFoundError(f"study {spec.study.name!r}: no storage at {url.masked}; {run_first}")
    if not study_in_storage(url, spec.study.name):
        raise StudyNotFoundError(f"study {spec.study.name!r} is not in {url.masked}; {run_first}")
    try:
        return optuna.load_study(study_name=spec.study.name, storage=build_storage(url))
    except KeyError:  # deleted since it was found
        raise StudyNotFoundError(f"study {spec.study.name!r} is not in {url.masked}; {run_first}") from None
