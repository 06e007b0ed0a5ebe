"""A study on PostgreSQL storage: the RDB engine used to scale out, run for real (`.ci/run` starts it)."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import tiny_train
from mlflow.tracking import MlflowClient
from sqlalchemy import create_engine, text

from sweep.cli import cli

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

URL = os.environ.get("SWEEP_TEST_POSTGRES_URL")


@pytest.fixture
def postgres_url() -> str:
    if URL is None:
        if os.environ.get("CI"):
            pytest.fail("SWEEP_TEST_POSTGRES_URL is not set; .ci/run starts PostgreSQL and sets it")
        pytest.skip("set SWEEP_TEST_POSTGRES_URL (see .ci/start-postgres) to run against PostgreSQL")
    engine = create_engine(URL)
    with engine.begin() as connection:  # a clean schema: drop whatever an earlier run left
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"))
    engine.dispose()
    return URL


def test_study_runs_on_postgres_and_masks_the_password(
    synth_voc: Path, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("study.yaml").write_text(
        yaml.safe_dump(
            {
                "study": {"name": "on-postgres", "n_trials": 2, "sampler": {"type": "random", "seed": 0}},
                "train": tiny_train(synth_voc),
                "search": {"optim.lr": {"type": "float", "low": 0.01, "high": 0.05}},
            }
        )
    )
    result = CliRunner().invoke(cli, ["run", "study.yaml", "--storage", postgres_url, "--quiet"])
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="on-postgres", storage=postgres_url)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert not Path("runs/on-postgres/optuna.db").exists(), "nothing may fall back to SQLite"
    client = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db")
    run = client.get_run(study.trials[0].user_attrs["mlflow_run_id"])
    assert run.data.tags["optuna.storage"] == postgres_url.replace(":sweep_test@", ":***@")
    again = CliRunner().invoke(cli, ["status", "study.yaml", "--storage", postgres_url, "--json"])
    assert again.exit_code == 0 and again.output.count('"COMPLETE"') == 2
