"""A study on PostgreSQL storage: the RDB engine used to scale out, run for real.

`.ci/start-services` creates the Optuna database `sweep_optuna` and sets SWEEP_TEST_POSTGRES_URL to it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import study_document
from mlflow.tracking import MlflowClient
from services import postgres_url as required_postgres_url
from sqlalchemy import create_engine, inspect, text

from sweep.cli import cli

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def postgres_url() -> str:
    url = required_postgres_url()
    engine = create_engine(url)
    with engine.begin() as connection:  # a clean schema: drop whatever an earlier run left
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"))
    engine.dispose()
    return url


def test_study_runs_on_postgres_and_masks_the_password(
    synth_voc: Path, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("study.yaml").write_text(yaml.safe_dump(study_document("on-postgres", synth_voc, 2, pruner=None)))
    result = CliRunner().invoke(cli, ["run", "study.yaml", "--storage", postgres_url, "--quiet"])
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="on-postgres", storage=postgres_url)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert not Path("runs/on-postgres/optuna.db").exists(), "nothing may fall back to SQLite"
    client = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db")
    run = client.get_run(study.trials[0].user_attrs["mlflow_run_id"])
    password = urlsplit(postgres_url).password
    assert password and run.data.tags["optuna.storage"] == postgres_url.replace(f":{password}@", ":***@")
    again = CliRunner().invoke(cli, ["status", "study.yaml", "--storage", postgres_url, "--json"])
    assert again.exit_code == 0 and again.output.count('"COMPLETE"') == 2


@pytest.mark.parametrize("command", ["status", "best", "promote"])
def test_a_missing_study_creates_no_table_and_masks_the_password(
    command: str, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    document = study_document("never-run", tmp_path / "no-data", sampler=None, pruner=None)
    Path("study.yaml").write_text(yaml.safe_dump(document))
    # Through the environment, as users should pass a password (on the command line it draws a warning).
    result = CliRunner().invoke(cli, [command, "study.yaml"], env={"SWEEP_STORAGE": postgres_url})
    password = urlsplit(postgres_url).password
    assert password and password not in result.output
    masked = postgres_url.replace(f":{password}@", ":***@")
    assert result.exit_code == 1
    assert result.output == f"error: study 'never-run' is not in {masked}; run `sweep run study.yaml` first\n"
    engine = create_engine(postgres_url)
    assert inspect(engine).get_table_names() == [], "reading a storage must not create Optuna's tables"
    engine.dispose()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["study.yaml"]
