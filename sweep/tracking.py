"""Our thin MLflow layer: one parent run per study, one nested child run per trial.

It talks to MLflow only through `MlflowClient` with explicit run ids, never the fluent "active run", so
several trials may be tracked at once from threads or processes on many hosts. The Optuna trial keeps its
run id in the user attr `mlflow_run_id`, and the run carries the trial number in the tag
`optuna.trial_number`, so each can be found from the other. A retried trial inherits the user attrs and so
reattaches to the same run.
"""

from __future__ import annotations

import math
import socket
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import optuna
import torch
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from trainer.config import TrainConfig
from trainer.config_loading import flatten

RUN_ID_ATTR = "mlflow_run_id"
PARENT_RUN_ATTR = "mlflow_parent_run_id"
_MAX_PARAM_LENGTH = 6000
_BATCH_SIZE = 100  # MLflow accepts at most 100 params and 100 tags per log_batch call


def mask_password(url: str) -> str:
    """`postgresql://user:secret@host/db` becomes `postgresql://user:***@host/db`; other URLs are unchanged."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not an SQLAlchemy URL (e.g. a journal file): nothing to mask
        return url


def runtime_tags() -> dict[str, str]:
    """Versions, host and git commit of the code doing the work."""
    tags = {
        "host": socket.gethostname(),
        "torch.version": torch.__version__,
        "optuna.version": optuna.__version__,
        "mlflow.version": mlflow.__version__,
    }
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
        tags["git.commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass  # not a git checkout, or git missing: the tag is simply absent
    return tags


class StudyTracker:
    """The MLflow side of one study: its experiment, its parent run and a child run per trial."""

    def __init__(self, tracking_uri: str, experiment: str, *, study_name: str, storage_url: str) -> None:
        self.client = MlflowClient(tracking_uri)
        self.tracking_uri = tracking_uri
        self.study_name = study_name
        self.experiment_id = self._experiment_id(experiment)
        self.common_tags = {
            "optuna.study_name": study_name,
            "optuna.storage": mask_password(storage_url),
            **runtime_tags(),
        }

    def parent_run_id(self, study: optuna.Study) -> str:
        """The study's parent run: found through the study's user attr on reruns, created otherwise."""
        existing = study.user_attrs.get(PARENT_RUN_ATTR)
        if existing is None or not self._run_exists(str(existing)):
            existing = self._find_parent_by_tags() or self.client.create_run(
                self.experiment_id, run_name=self.study_name, tags={**self.common_tags, "sweep.role": "study"}
            ).info.run_id
            study.set_user_attr(PARENT_RUN_ATTR, existing)
        self.client.update_run(str(existing), status="RUNNING")
        return str(existing)

    def _find_parent_by_tags(self) -> str | None:
        """The oldest parent run of this study on this storage, for when the user attr is missing."""
        runs = self.client.search_runs(
            [self.experiment_id],
            f"tags.`sweep.role` = 'study' and tags.`optuna.study_name` = '{self.study_name}' "
            f"and tags.`optuna.storage` = '{self.common_tags['optuna.storage']}'",
            order_by=["attributes.start_time ASC"],
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def start_trial(self, trial: optuna.Trial, config: TrainConfig, parent_run_id: str, extra_tags: Mapping[str, str]) -> TrialRun:
        """Create (or, for a retried trial, reopen) the trial's run and record its whole config."""
        run_id = trial.user_attrs.get(RUN_ID_ATTR)
        tags = {
            **self.common_tags,
            **extra_tags,
            "sweep.role": "trial",
            "optuna.trial_number": str(trial.number),
            MLFLOW_PARENT_RUN_ID: parent_run_id,
        }
        if run_id is None:
            run = self.client.create_run(self.experiment_id, run_name=f"trial-{trial.number}", tags=tags)
            run_id = run.info.run_id
            trial.set_user_attr(RUN_ID_ATTR, run_id)
        else:
            self.client.update_run(run_id, status="RUNNING")
            tags[MLFLOW_RUN_NAME] = f"trial-{trial.number}"
        params = [Param(key, _param_value(value)) for key, value in flatten(config.to_dict()).items()]
        self._log_batch(run_id, params=params, tags=[RunTag(key, value) for key, value in tags.items()])
        return TrialRun(self, run_id)

    def log_parent_best(self, parent_run_id: str, study: optuna.Study) -> None:
        """Record the best value so far (a metric stepped by trial number) and its trial and params as tags."""
        try:
            best = study.best_trial
        except ValueError:
            return  # no completed trial yet
        self.client.log_metric(parent_run_id, "best_value", float(best.value), step=best.number)
        tags = {"best.trial_number": str(best.number), **{f"best.{k}": str(v) for k, v in best.params.items()}}
        self._log_batch(parent_run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def _log_batch(self, run_id: str, *, metrics: list[Metric] = (), params: list[Param] = (), tags: list[RunTag] = ()) -> None:
        """`log_batch` within MLflow's per-call limits."""
        metrics, params, tags = list(metrics), list(params), list(tags)
        for start in range(0, max(len(metrics), len(params), len(tags)), _BATCH_SIZE):
            end = start + _BATCH_SIZE
            self.client.log_batch(run_id, metrics=metrics[start:end], params=params[start:end], tags=tags[start:end])

    def _run_exists(self, run_id: str) -> bool:
        try:
            self.client.get_run(run_id)
        except mlflow.exceptions.MlflowException:
            return False  # the tracking store was reset while the study survived: start a new parent
        return True

    def _experiment_id(self, name: str) -> str:
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=_default_artifact_location(self.tracking_uri, name))
        except mlflow.exceptions.MlflowException:
            experiment = self.client.get_experiment_by_name(name)  # another worker created it first
            if experiment is None:
                raise
            return experiment.experiment_id


class TrialRun:
    """The MLflow run of one trial; every method takes effect at once (no buffering)."""

    def __init__(self, tracker: StudyTracker, run_id: str) -> None:
        self.tracker = tracker
        self.client = tracker.client
        self.run_id = run_id

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """All of an epoch's metrics in one call, at `step=epoch`."""
        timestamp = int(time.time() * 1000)
        batch = [Metric(key, float(value), timestamp, epoch) for key, value in metrics.items()]
        self.tracker._log_batch(self.run_id, metrics=batch)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.tracker._log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def finish(self, best_miou: float) -> None:
        self.set_tags({"optuna.state": "COMPLETE", "best_miou": f"{best_miou:.6f}"})
        self.client.set_terminated(self.run_id, status="FINISHED")

    def prune(self, epoch: int | None) -> None:
        self.set_tags({"optuna.state": "PRUNED", "pruned": "true", "pruned_at_epoch": str(epoch)})
        self.client.set_terminated(self.run_id, status="KILLED")

    def fail(self, error: BaseException) -> None:
        self.set_tags({"optuna.state": "FAIL", "error": f"{type(error).__name__}: {error}"[:5000]})
        self.client.set_terminated(self.run_id, status="FAILED")


def _param_value(value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return str(value)[:_MAX_PARAM_LENGTH]


def _default_artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """Artifacts beside a local SQLite store (`runs/mlflow.db` -> `runs/mlartifacts/<experiment>`).

    A tracking server decides its own (and proxies the uploads), so nothing is set for other URIs.
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    return (database.parent / "mlartifacts" / experiment).resolve().as_uri()
