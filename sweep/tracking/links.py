"""Where a study is in MLflow's web UI: its experiment's runs page, best trial first, and the best run.

The links ask for the UI's model-training view (`workflowType=machine_learning`): MLflow 3.17's UI shows
every experiment as a GenAI app (its overview of traces) unless the URL, or the switch at the top of its
sidebar, says otherwise, whatever the experiment's `mlflow.experimentKind` tag says.

A tracking server (`http(s)://HOST`) serves the UI itself, so its links open as they are. A database
tracking URI has no UI until one is started on it: the links are then those of `mlflow ui` at its default
address, given with the command that starts it. Databricks has a UI address of its own, so it gets none.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from sweep.database_urls import DatabaseUrl, TrackingServer, TrackingUri, parse_tracking_uri
from sweep.tracking.trial_run import OBJECTIVE_METRIC

LOCAL_UI = "http://127.0.0.1:5000"
"""Where `mlflow ui` serves by default."""
MODEL_TRAINING = "workflowType=machine_learning"
_BY_OBJECTIVE = f"orderByKey={quote(f'metrics.`{OBJECTIVE_METRIC}`')}&orderByAsc=false"


@dataclass(frozen=True)
class UiLinks:
    """`runs`: the experiment's runs page, sorted by the objective (best first); `best_run`: the best trial's
    run (None before a trial completes); `serve`: the command that starts a UI on a database tracking URI
    (None for a tracking server)."""

    runs: str
    best_run: str | None
    serve: str | None


def ui_links(tracking_uri: TrackingUri | str, experiment_id: str, best_run_id: str | None) -> UiLinks | None:
    """The study's links in the UI of `tracking_uri` (a string is parsed here); None for Databricks."""
    tracking_uri = parse_tracking_uri(tracking_uri)
    base = _ui_base(tracking_uri)
    if base is None:
        return None
    serve = None
    if isinstance(tracking_uri, DatabaseUrl):
        serve = f"mlflow ui --backend-store-uri {shlex.quote(tracking_uri.masked)}"
    experiment = f"{base}/#/experiments/{experiment_id}"
    best_run = None if best_run_id is None else _run_page(experiment, best_run_id)
    return UiLinks(runs=f"{experiment}/runs?{MODEL_TRAINING}&{_BY_OBJECTIVE}", best_run=best_run, serve=serve)


def run_links(tracking_uri: TrackingUri | str, experiment_id: str, run_ids: Iterable[str]) -> dict[str, str]:
    """Run id -> its page in the UI of `tracking_uri`, as `ui_links` links the best run; empty for Databricks."""
    base = _ui_base(parse_tracking_uri(tracking_uri))
    if base is None:
        return {}
    return {run_id: _run_page(f"{base}/#/experiments/{experiment_id}", run_id) for run_id in run_ids}


def _ui_base(tracking_uri: TrackingUri) -> str | None:
    """Where the UI of `tracking_uri` is: the server itself, `mlflow ui`'s default address for a database,
    None for Databricks."""
    if isinstance(tracking_uri, TrackingServer):
        return tracking_uri.without_credentials
    if isinstance(tracking_uri, DatabaseUrl):
        return LOCAL_UI
    return None


def _run_page(experiment_page: str, run_id: str) -> str:
    return f"{experiment_page}/runs/{run_id}?{MODEL_TRAINING}"
