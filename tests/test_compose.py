"""docker-compose.yml, checked by parsing (no Docker engine here): services, databases, the worker's study."""

from __future__ import annotations

from pathlib import Path

import yaml

from sweep.spec import load_study_spec

ROOT = Path(__file__).resolve().parents[1]


def load_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_stack_has_postgres_mlflow_and_a_gpu_worker() -> None:
    services = load_compose()["services"]
    assert set(services) == {"postgres", "mlflow", "worker"}
    assert services["postgres"]["image"].startswith("postgres:15")
    assert "healthcheck" in services["postgres"]
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}], "one trial per GPU"
    assert services["worker"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_optuna_and_mlflow_use_separate_databases_that_the_init_script_creates() -> None:
    services = load_compose()["services"]
    optuna_url = services["worker"]["environment"]["SWEEP_STORAGE"]
    mlflow_backend = services["mlflow"]["command"].split("--backend-store-uri")[1].split()[0]
    assert optuna_url.rsplit("/", 1)[1] == "optuna" and mlflow_backend.rsplit("/", 1)[1] == "mlflow"
    init = (ROOT / "docker" / "postgres-init.sql").read_text()
    assert "CREATE DATABASE optuna;" in init and "CREATE DATABASE mlflow;" in init
    mount = next(v for v in services["postgres"]["volumes"] if "postgres-init.sql" in v)
    assert mount.startswith("./docker/postgres-init.sql:/docker-entrypoint-initdb.d/")


def test_worker_runs_a_valid_study_against_the_stack() -> None:
    worker = load_compose()["services"]["worker"]
    command = worker["command"]
    assert command[0] == "run"
    spec = load_study_spec(ROOT / command[1]).with_overrides(
        storage=worker["environment"]["SWEEP_STORAGE"], tracking_uri=worker["environment"]["MLFLOW_TRACKING_URI"]
    )
    assert spec.storage_url.startswith("postgresql+psycopg2://") and spec.tracking_uri == "http://mlflow:5000"
    assert (ROOT / "Dockerfile").read_text().count("pip install") == 1
