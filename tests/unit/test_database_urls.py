"""sweep.database_urls: the one place that reads database URLs (SQLite files, masking, identity)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.database_urls import absolute_sqlite_url, check_sqlite_url, mask_password, same_database, sqlite_path


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///runs/optuna.db", Path("runs/optuna.db")),
        ("sqlite:////abs/m.db", Path("/abs/m.db")),
        ("sqlite+pysqlite:///x.db", Path("x.db")),
        ("sqlite:///:memory:", None),
        ("postgresql://u:p@h/db", None),
        ("http://127.0.0.1:5000", None),
        ("databricks", None),
    ],
)
def test_sqlite_path_names_the_file_of_sqlite_urls_only(url: str, expected: Path | None) -> None:
    assert sqlite_path(url) == expected


def test_absolute_sqlite_url_resolves_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_sqlite_url("sqlite:///runs/a.db") == f"sqlite:///{tmp_path.resolve()}/runs/a.db"
    assert absolute_sqlite_url("sqlite+pysqlite:///a.db") == f"sqlite+pysqlite:///{tmp_path.resolve()}/a.db"
    for unchanged in ("sqlite:////abs/a.db", "sqlite:///:memory:", "postgresql://u@h/db", "http://h:5000"):
        assert absolute_sqlite_url(unchanged) == unchanged


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:/x.db", "sqlite:///"])
def test_check_sqlite_url_refuses_urls_without_a_file(url: str) -> None:
    with pytest.raises(ValueError, match="three slashes and a file path"):
        check_sqlite_url(url)


def test_check_sqlite_url_accepts_files_and_other_databases() -> None:
    for url in ("sqlite:///a.db", "sqlite:////abs/a.db", "postgresql://u@h/db", "http://h"):
        check_sqlite_url(url)


def test_mask_password_hides_only_the_password() -> None:
    assert (
        mask_password("postgresql+psycopg2://sweep:s3cret@db:5432/optuna")
        == "postgresql+psycopg2://sweep:***@db:5432/optuna"
    )
    assert mask_password("sqlite:///runs/a.db") == "sqlite:///runs/a.db"
    assert mask_password("runs/journal.log") == "runs/journal.log"


def test_same_database_ignores_drivers_and_sqlite_spelling() -> None:
    assert same_database("postgresql://u@h/db", "postgresql+psycopg2://u@h/db")
    assert same_database("sqlite:////a/runs/./m.db", "sqlite:////a/runs/m.db")
    assert not same_database("sqlite:////a/optuna.db", "sqlite:////a/mlflow.db")
    assert not same_database("postgresql://u@h/optuna", "postgresql://u@h/mlflow")
