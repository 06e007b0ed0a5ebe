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
    if isinstance(tracking_uri, TrackingServer):
        base, serve = tracking_uri.without_credentials, None
    elif isinstance(tracking_uri, DatabaseUrl):
        base, serve = LOCAL_UI, f"mlflow ui --backend-store-uri {shlex.quote(tracking_uri.masked)}"
    else:
        return None
    experiment = f"{base}/#/experiments/{experiment_id}"
    best_run = None if best_run_id is None else f"{experiment}/runs/{best_run_id}?{MODEL_TRAINING}"
    return UiLinks(runs=f"{experiment}/runs?{MODEL_TRAINING}&{_BY_OBJECTIVE}", best_run=best_run, serve=serve)
