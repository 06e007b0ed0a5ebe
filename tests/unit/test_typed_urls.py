"""The typed store URLs of sweep.database_urls: parsed once where they enter, asked everything after."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy.exc import OperationalError

import sweep.database_urls.parsing
import sweep.storage.lookup
from sweep.cli import cli
from sweep.database_urls import (
    CONNECT_TIMEOUT_S,
    DatabaseUrl,
    Databricks,
    TrackingServer,
    describe_error,
    parse_storage_url,
    parse_tracking_uri,
)
from sweep.errors import StudyNotFoundError
from sweep.spec.study_file import StudySpec, load_study_spec

STORAGE_EXAMPLES = (
    "sqlite:///PATH, postgresql://USER@HOST/DB, postgresql+psycopg2://USER@HOST/DB or mysql://USER@HOST/DB"
)
TRACKING_EXAMPLES = "sqlite:///PATH, postgresql://..., mysql://..., mssql://..., http(s)://HOST or databricks"
THREE_SLASHES = "an SQLite URL needs three slashes and a file path, e.g. sqlite:///runs/mlflow.db"


@pytest.mark.parametrize(
    ("url", "backend", "sqlite_file"),
    [
        ("sqlite:///runs/optuna.db", "sqlite", Path("runs/optuna.db")),
        ("sqlite:////abs/optuna.db", "sqlite", Path("/abs/optuna.db")),
        ("sqlite+pysqlite:///x.db", "sqlite", Path("x.db")),
        ("postgresql+psycopg2://u:p@db:5432/optuna", "postgresql", None),
        ("mysql://u@h/db", "mysql", None),
    ],
)
def test_a_storage_url_knows_its_backend_and_sqlite_file(url: str, backend: str, sqlite_file: Path | None) -> None:
    parsed = parse_storage_url(url)
    assert isinstance(parsed, DatabaseUrl) and parsed == url and str(parsed) == url
    assert (parsed.backend, parsed.sqlite_file) == (backend, sqlite_file)
    assert parse_storage_url(parsed) is parsed, "a parsed URL is not parsed again"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://x", f"'redis://x' is not an Optuna database URL; accepted: {STORAGE_EXAMPLES}"),
        ("runs/optuna.db", f"'runs/optuna.db' is not an Optuna database URL; accepted: {STORAGE_EXAMPLES}"),
        ("mssql://u@h/db", f"'mssql://u@h/db' is not an Optuna database URL; accepted: {STORAGE_EXAMPLES}"),
        ("sqlite:/x.db", f"'sqlite:/x.db': {THREE_SLASHES}"),
        ("sqlite://", f"'sqlite://': {THREE_SLASHES}"),
        ("sqlite://optuna.db", f"'sqlite://optuna.db': {THREE_SLASHES}"),
        ("sqlite:///:memory:", f"'sqlite:///:memory:': {THREE_SLASHES}"),
        ("postgresql:/db", f"'postgresql:/db' is not a well-formed database URL; accepted: {STORAGE_EXAMPLES}"),
    ],
)
def test_a_bad_storage_url_says_what_is_accepted(url: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_storage_url(url)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("sqlite:///runs/mlflow.db", DatabaseUrl),
        ("mssql+pyodbc://u@h/mlflow", DatabaseUrl),
        ("http://127.0.0.1:5000", TrackingServer),
        ("HTTPS://mlflow.example", TrackingServer),
        ("databricks", Databricks),
        ("databricks://profile", Databricks),
    ],
)
def test_a_tracking_uri_is_a_database_a_server_or_databricks(uri: str, kind: type) -> None:
    parsed = parse_tracking_uri(uri)
    assert type(parsed) is kind and parsed == uri
    assert parse_tracking_uri(parsed) is parsed


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("./mlruns", "'./mlruns' is an MLflow file store (a plain path or file:// URI)"),
        ("file:///tmp/mlruns", "'file:///tmp/mlruns' is an MLflow file store"),
        ("C:\\mlruns", "'C:\\\\mlruns' is an MLflow file store"),
        ("s3://bucket", f"unsupported scheme 's3' in 's3://bucket'; accepted: {TRACKING_EXAMPLES}"),
        ("http:/mlflow", f"'http:/mlflow' is not a well-formed URL; accepted: {TRACKING_EXAMPLES}"),
        ("sqlite://", f"'sqlite://': {THREE_SLASHES}"),
    ],
)
def test_a_bad_tracking_uri_says_what_is_accepted(uri: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_tracking_uri(uri)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("uri", "masked", "password"),
    [
        (
            "postgresql+psycopg2://sweep:s3cret@db:5432/optuna",
            "postgresql+psycopg2://sweep:***@db:5432/optuna",
            "s3cret",
        ),
        ("https://ops:p%40ss@mlflow.example/", "https://ops:***@mlflow.example/", "p@ss"),
        ("sqlite:///runs/mlflow.db", "sqlite:///runs/mlflow.db", None),
        ("databricks", "databricks", None),
    ],
)
def test_the_masked_form_hides_only_the_password(uri: str, masked: str, password: str | None) -> None:
    parsed = parse_tracking_uri(uri)
    assert (parsed.masked, parsed.password) == (masked, password)
    assert parsed == uri, "the URL itself, password included, is what MLflow and Optuna are given"


def test_the_absolute_form_resolves_a_relative_sqlite_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    here = tmp_path.resolve()
    relative = parse_storage_url("sqlite+pysqlite:///runs/a.db?timeout=5")
    assert relative.absolute() == f"sqlite+pysqlite:///{here}/runs/a.db?timeout=5"
    assert relative.absolute().sqlite_file == here / "runs/a.db"
    for unchanged in ("sqlite:////abs/a.db", "postgresql://u:p@h/db", "http://h:5000", "databricks"):
        parsed = parse_tracking_uri(unchanged)
        assert parsed.absolute() is parsed


def test_a_default_sqlite_url_is_built_from_its_path() -> None:
    built = DatabaseUrl.for_sqlite_file(Path("runs/tiny/optuna.db"))
    assert built == "sqlite:///runs/tiny/optuna.db" and built.sqlite_file == Path("runs/tiny/optuna.db")


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg2://u@h/db", True),
        ("sqlite:////a/runs/./m.db", "sqlite+pysqlite:////a/runs/m.db", True),
        ("sqlite:////a/optuna.db", "sqlite:////a/mlflow.db", False),
        ("postgresql://u@h/optuna", "postgresql://u@h/mlflow", False),
        ("postgresql://u@h/db", "mysql://u@h/db", False),
        ("postgresql://u@h/db", "http://h/db", False),
    ],
)
def test_same_database_ignores_the_driver_and_the_spelling_of_a_path(first: str, second: str, same: bool) -> None:
    assert parse_storage_url(first).same_database(parse_tracking_uri(second)) is same


@pytest.mark.parametrize(
    ("url", "connect_args"),
    [
        ("postgresql://u@h/db", {"connect_timeout": CONNECT_TIMEOUT_S}),  # psycopg2, the default driver
        ("postgresql+psycopg://u@h/db", {"connect_timeout": CONNECT_TIMEOUT_S}),
        ("mysql+pymysql://u@h/db", {"connect_timeout": CONNECT_TIMEOUT_S}),
        ("mysql://u@h/db", {"connect_timeout": CONNECT_TIMEOUT_S}),  # mysqlclient
        ("postgresql+psycopg://u@h/db?connect_timeout=3", {}),  # the URL's own bound stays
        ("postgresql+pg8000://u@h/db", {}),  # takes no connect_timeout
        ("sqlite:///runs/optuna.db", {}),
    ],
)
def test_connect_args_bound_connecting_where_the_driver_can(url: str, connect_args: dict[str, int]) -> None:
    assert CONNECT_TIMEOUT_S == 10
    assert parse_storage_url(url).connect_args() == connect_args


def test_a_tracking_server_link_drops_credentials_query_and_trailing_slash() -> None:
    server = parse_tracking_uri("https://ops:s3cret@[::1]:8443/mlflow/?token=x")
    assert isinstance(server, TrackingServer) and server.without_credentials == "https://[::1]:8443/mlflow"


def test_a_missing_driver_names_the_extra_and_masks_the_url() -> None:
    url = parse_storage_url("postgresql+psycopg2://u:s3cret@h/db")
    assert url.missing_driver(ImportError("No module named 'psycopg2'")) == (
        "postgresql+psycopg2://u:***@h/db: no database driver installed (No module named 'psycopg2'); "
        "for PostgreSQL run: pip install 'segsweep[postgres]'"
    )


def test_a_parsed_url_is_frozen_and_survives_pickling() -> None:
    url = parse_storage_url("postgresql://u:s3cret@h/db")
    with pytest.raises(AttributeError, match="DatabaseUrl is frozen"):
        url.parts = None  # type: ignore[misc]
    for copied in (pickle.loads(pickle.dumps(url)), copy.deepcopy(url)):
        assert type(copied) is DatabaseUrl and copied == url and copied.masked == "postgresql://u:***@h/db"


def test_describe_error_is_the_first_line_with_every_known_password_scrubbed() -> None:
    storage = parse_storage_url("postgresql://optuna:first@db/optuna")
    tracking = parse_tracking_uri("http://mlflow:second@mlflow.example")
    error = OperationalError("SELECT 1", {}, Exception("login first failed; then second failed"))
    assert describe_error(error, storage, tracking) == "(builtins.Exception) login *** failed; then *** failed"
    assert describe_error(ConnectionError("\nrefused\nat host")) == "refused"
    assert describe_error(TimeoutError()) == "TimeoutError"


def test_a_study_file_parses_each_url_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    make_url = sweep.database_urls.parsing.make_url
    monkeypatch.setattr(sweep.database_urls.parsing, "make_url", lambda url: parsed.append(url) or make_url(url))
    document = {
        "study": {"name": "once", "storage": "postgresql://u:s3cret@db/optuna"},
        "tracking": {"uri": "http://mlflow:5000"},
        "train": {"epochs": 1},
        "search": {"optim.lr": {"type": "float", "low": 0.01, "high": 0.1}},
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(document))
    spec = load_study_spec(tmp_path / "study.yaml")
    assert parsed == ["postgresql://u:s3cret@db/optuna", "http://mlflow:5000"]
    changed = spec.with_overrides(n_trials=3, storage=spec.storage_url, tracking_uri=spec.tracking_uri)
    assert (changed.storage_url.masked, changed.resolved()["tracking"]["uri"]) == (
        "postgresql://u:***@db/optuna",
        "http://mlflow:5000",
    )
    assert len(parsed) == 2, "overrides that are parsed already, and the spec's own URLs, are not parsed again"


# --- The CLI: options parsed where they enter, and the last-resort handler ----------------------------------

STUDY = {
    "study": {"name": "scrub", "n_trials": 1},
    "train": {"epochs": 1},
    "search": {"optim.lr": {"type": "float", "low": 0.01, "high": 0.1}},
}


@pytest.mark.parametrize(
    ("study", "environment"),
    [
        ({}, {"SWEEP_STORAGE": "postgresql://sweeper:s3cret@db/optuna"}),
        ({"storage": "postgresql://sweeper:s3cret@db/optuna"}, {}),
        ({}, {"MLFLOW_TRACKING_URI": "postgresql://sweeper:s3cret@db/mlflow"}),
    ],
    ids=["storage-from-the-environment", "storage-from-the-study-file", "tracking-from-the-environment"],
)
def test_the_last_resort_handler_scrubs_every_password_the_command_read(
    study: dict[str, str], environment: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("study.yaml").write_text(yaml.safe_dump({**STUDY, "study": {**STUDY["study"], **study}}))

    def driver_fails(spec: object) -> None:  # a driver that echoes the password it was given
        raise OperationalError("SELECT 1", {}, Exception('password "s3cret" refused\nDETAIL: s3cret'))

    monkeypatch.setattr(sweep.storage.lookup, "load_existing_study", driver_fails)
    result = CliRunner().invoke(cli, ["status", "study.yaml"], env=environment)
    assert result.exit_code == 1
    assert result.output == (
        'error: cannot use the Optuna storage: OperationalError: (builtins.Exception) password "***" refused\n'
    )


def test_a_password_typed_on_the_command_line_is_warned_about_but_not_one_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("study.yaml").write_text(yaml.safe_dump(STUDY))
    seen = []

    def stop_after_loading(spec: StudySpec) -> None:
        seen.append(spec.storage_url)
        raise StudyNotFoundError("stopped here")

    monkeypatch.setattr(sweep.storage.lookup, "load_existing_study", stop_after_loading)
    url = "postgresql://sweeper:s3cret@db/optuna"
    typed = CliRunner().invoke(cli, ["status", "study.yaml", "--storage", url])
    warning = "warning: a password on the command line is visible in `ps`; set SWEEP_STORAGE instead"
    assert typed.output == f"{warning}\nerror: stopped here\n"
    from_environment = CliRunner().invoke(cli, ["status", "study.yaml"], env={"SWEEP_STORAGE": url})
    assert from_environment.output == "error: stopped here\n"
    assert [type(storage) for storage in seen] == [DatabaseUrl, DatabaseUrl] and seen == [url, url]
