"""The links to a study in MLflow's web UI that `sweep run` prints at its end."""

from __future__ import annotations

import pytest

from sweep.tracking import UiLinks, ui_links

RUN = "0123456789abcdef0123456789abcdef"
ML = "workflowType=machine_learning"
SORTED = f"{ML}&orderByKey=metrics.%60best_val_miou%60&orderByAsc=false"


@pytest.mark.parametrize(
    ("tracking_uri", "base"),
    [
        ("http://127.0.0.1:5077", "http://127.0.0.1:5077"),
        ("https://mlflow.example/", "https://mlflow.example"),
        ("https://ops:s3cret@mlflow.example:8443/mlflow/", "https://mlflow.example:8443/mlflow"),
    ],
    ids=["server", "trailing-slash", "credentials-and-path"],
)
def test_a_tracking_server_serves_the_links_itself(tracking_uri: str, base: str) -> None:
    assert ui_links(tracking_uri, "7", RUN) == UiLinks(
        runs=f"{base}/#/experiments/7/runs?{SORTED}", best_run=f"{base}/#/experiments/7/runs/{RUN}?{ML}", serve=None
    )


@pytest.mark.parametrize(
    ("tracking_uri", "serve"),
    [
        ("sqlite:////work/runs/mlflow.db", "mlflow ui --backend-store-uri sqlite:////work/runs/mlflow.db"),
        (
            "postgresql+psycopg2://sweeper:s3cret@db/mlflow",
            "mlflow ui --backend-store-uri 'postgresql+psycopg2://sweeper:***@db/mlflow'",
        ),
    ],
    ids=["sqlite", "postgres-password-masked"],
)
def test_a_database_gets_the_local_ui_and_the_command_that_starts_it(tracking_uri: str, serve: str) -> None:
    links = ui_links(tracking_uri, "1", None)
    assert links == UiLinks(runs=f"http://127.0.0.1:5000/#/experiments/1/runs?{SORTED}", best_run=None, serve=serve)


def test_databricks_gets_no_links() -> None:
    assert ui_links("databricks", "1", RUN) is None
