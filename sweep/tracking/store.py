"""`TrackingStore`: every MLflow call of the sweep layer, through one `MlflowClient` and explicit run ids.

Nothing else in the sweep layer holds a client or relies on MLflow's fluent "active run", so several trials
may be tracked at once from threads or processes on many hosts. Run statuses change only here
(`reopen_run`, `end_run`), at the moments that `StudyTracker` and `TrialRun` choose; logging a model into
a finished run (`log_model_to_run`) gives it back its status and end time.

MLflow creates a database's tables on first use, and two processes doing that at once on one fresh file
collide ("table ... already exists"). On a local SQLite store the first `TrackingStore` of each process
therefore opens it under a file lock, and switches the file to WAL so that workers' writes never block
readers such as `mlflow ui`; MLflow itself sets a busy timeout on every SQLite session.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Literal

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient
from sqlalchemy.exc import SQLAlchemyError

from sweep.database_urls import TrackingUri, describe_error, parse_tracking_uri
from sweep.errors import TrackingError
from sweep.locks import exclusive_file_lock, init_lock_path
from sweep.tracking.batches import Batch, make_batches

EndStatus = Literal["FINISHED", "FAILED", "KILLED"]
_TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"


class TrackingStore:
    """One MLflow tracking URI: experiments, runs and their statuses, logging, reading and the model registry."""

    def __init__(self, tracking_uri: TrackingUri | str) -> None:
        """A client of `tracking_uri` (a string is parsed here)."""
        self.tracking_uri = parse_tracking_uri(tracking_uri)
        try:
            self._client = _open_client(self.tracking_uri)
        except (MlflowException, SQLAlchemyError) as error:
            raise TrackingError(
                f"cannot use the MLflow tracking store: {describe_error(error, self.tracking_uri)} "
                f"({self.tracking_uri.masked})"
            ) from None

    def experiment_id(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        """The experiment's id, creating it (artifacts beside a local SQLite store) when it does not exist.

        `tags` are set on a new experiment, and on an existing one that lacks them; a tag it has already
        (someone changed it in the UI, say) is left as it is.
        """
        tags = dict(tags or {})
        experiment = self._client.get_experiment_by_name(name)
        if experiment is None:
            try:
                location = _default_artifact_location(self.tracking_uri, name)
                return str(self._client.create_experiment(name, artifact_location=location, tags=tags))
            except MlflowException:
                experiment = self._client.get_experiment_by_name(name)  # another worker created it first
                if experiment is None:
                    raise
        for key, value in tags.items():
            if key not in experiment.tags:
                self._client.set_experiment_tag(experiment.experiment_id, key, value)
        return str(experiment.experiment_id)

    def find_experiment_id(self, name: str) -> str | None:
        """The experiment's id; None when there is no such experiment (nothing is created)."""
        experiment = self._client.get_experiment_by_name(name)
        return None if experiment is None else str(experiment.experiment_id)

    def create_run(self, experiment_id: str, name: str, tags: Mapping[str, str]) -> str:
        """A new RUNNING run; returns its id."""
        return str(self._client.create_run(experiment_id, run_name=name, tags=dict(tags)).info.run_id)

    def run_exists(self, run_id: str) -> bool:
        try:
            self._client.get_run(run_id)
        except MlflowException:
            return False
        return True

    def oldest_run_tagged(self, experiment_id: str, tags: Mapping[str, str]) -> str | None:
        """The id of the earliest run (by start time, then run id) in the experiment that carries all of `tags`."""
        query = " and ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
        runs = self._client.search_runs([experiment_id], query, order_by=["attributes.start_time ASC"], max_results=10)
        if not runs:
            return None
        return str(min(runs, key=lambda run: (run.info.start_time, run.info.run_id)).info.run_id)

    def delete_run(self, run_id: str) -> None:
        """Mark the run deleted (MLflow keeps it recoverable); searches no longer find it."""
        self._client.delete_run(run_id)

    def reopen_run(self, run_id: str) -> None:
        """Mark an ended run RUNNING again (a rerun's parent, a retried trial)."""
        self._client.update_run(run_id, status="RUNNING")

    def end_run(self, run_id: str, status: EndStatus) -> None:
        self._client.set_terminated(run_id, status=status)

    def run_status(self, run_id: str) -> str | None:
        """`RUNNING`, `FINISHED`, `FAILED`, `KILLED` or `SCHEDULED`; None when the store has no such run."""
        try:
            return str(self._client.get_run(run_id).info.status)
        except MlflowException as error:
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            return None

    def check_reachable(self) -> None:
        """One cheap read (a search for one experiment): raises `MlflowException` when the store cannot answer."""
        self._client.search_experiments(max_results=1)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Mapping[str, float] | None = None,
        step: int = 0,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Metrics (all at `step`, stamped now), params and tags in as few calls as MLflow's limits allow."""
        for batch in make_batches(metrics=metrics, step=step, params=params, tags=tags):
            self.send(run_id, batch)

    def send(self, run_id: str, batch: Batch) -> None:
        """One `log_batch` request; sending a batch again logs nothing twice (see `sweep.tracking.batches`)."""
        self._client.log_batch(run_id, metrics=list(batch.metrics), params=list(batch.params), tags=list(batch.tags))

    def log_artifacts(self, run_id: str, files: Iterable[Path], artifact_path: str | None = None) -> None:
        """Upload each file into the run's artifact folder `artifact_path` (its root when None)."""
        for path in files:
            self._client.log_artifact(run_id, str(path), artifact_path)

    def download_artifact(self, run_id: str, path: str, destination: Path) -> Path:
        return Path(self._client.download_artifacts(run_id, path, str(destination)))

    def delete_artifacts(self, run_id: str, artifact_path: str) -> bool:
        """Delete the run's artifact folder (or file) `artifact_path`; False when it was not there.

        `MlflowClient` has no delete, so this goes through the run's artifact repository: a local folder
        (the SQLite default) or a tracking server's proxied `mlflow-artifacts:` store both support it.
        """
        if not self._client.list_artifacts(run_id, artifact_path):
            return False
        artifact_uri = self._client.get_run(run_id).info.artifact_uri
        repository = get_artifact_repository(artifact_uri, tracking_uri=self.tracking_uri)
        repository.delete_artifacts(artifact_path)  # type: ignore[no-untyped-call]  # untyped in MLflow
        return True

    def latest_metrics(self, run_id: str) -> dict[str, float]:
        """Each metric's last logged value."""
        return dict(self._client.get_run(run_id).data.metrics)

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """`(step, value)` of every logged value of one metric."""
        return [(int(metric.step), float(metric.value)) for metric in self._client.get_metric_history(run_id, key)]

    def model_versions_for_run(self, name: str, run_id: str) -> list[str]:
        """The versions of registered model `name` made from the run (none before `sweep promote`)."""
        versions = self._client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        return [str(version.version) for version in versions]

    def model_aliases(self, name: str) -> dict[str, str]:
        """Alias -> version of a registered model (model version searches carry no aliases)."""
        return {alias: str(version) for alias, version in self._client.get_registered_model(name).aliases.items()}

    def set_model_alias(self, name: str, alias: str, version: str) -> None:
        self._client.set_registered_model_alias(name, alias, version)

    def alias_version(self, name: str, alias: str) -> str | None:
        """The version `name@alias` points to, or None when the model or the alias does not exist."""
        try:
            version = self._client.get_model_version_by_alias(name, alias)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return str(version.version)

    def version_run_id(self, name: str, version: str) -> str:
        """The run that version `version` of `name` was registered from."""
        return str(self._client.get_model_version(name, version).run_id)

    def set_version_tags(self, name: str, version: str, tags: Mapping[str, str]) -> None:
        """Set (or overwrite) each of `tags` on the version."""
        for key, value in tags.items():
            self._client.set_model_version_tag(name, version, key, value)

    def version_tags(self, name: str, version: str) -> dict[str, str]:
        """The version's tags."""
        return dict(self._client.get_model_version(name, version).tags)

    def delete_version_tags(self, name: str, version: str, prefix: str) -> None:
        """Remove the version's tags whose keys start with `prefix`."""
        stale = [key for key in self._client.get_model_version(name, version).tags if key.startswith(prefix)]
        for key in stale:
            self._client.delete_model_version_tag(name, version, key)

    def log_model_to_run(
        self,
        run_id: str,
        *,
        name: str,
        python_model: Path,
        artifacts: Mapping[str, str],
        code_paths: Sequence[Path],
        pip_requirements: Sequence[str],
        signature: ModelSignature,
        input_example: np.ndarray,
    ) -> str:
        """Log a models-from-code pyfunc into the finished run `run_id` and return its model URI.

        MLflow links a logged model to a run, in that run's experiment and with its params, only while the
        run is the fluent active one, so the call reopens the run; whatever happens, the run then gets back
        the status and end time its trial ended it with, so its duration in the UI stays the training's.
        """
        ended = self._client.get_run(run_id).info
        try:
            with _fluent_tracking_uri(self.tracking_uri), mlflow.start_run(run_id=run_id):
                info = mlflow.pyfunc.log_model(
                    name=name,
                    python_model=str(python_model),
                    artifacts=dict(artifacts),
                    code_paths=[str(path) for path in code_paths],
                    pip_requirements=list(pip_requirements),
                    signature=signature,
                    input_example=input_example,
                )
        finally:
            self._client.set_terminated(run_id, status=ended.status, end_time=ended.end_time)
        return str(info.model_uri)

    def register_model(self, model_uri: str, name: str, tags: Mapping[str, str]) -> str:
        """Register a logged model as a new version of `name` (created if needed); returns the version."""
        with _fluent_tracking_uri(self.tracking_uri):
            return str(mlflow.register_model(model_uri, name, tags=dict(tags)).version)


@contextmanager
def _fluent_tracking_uri(tracking_uri: str) -> Iterator[None]:
    """Point MLflow's fluent API at `tracking_uri`, leaving `MLFLOW_TRACKING_URI` as it was.

    `mlflow.set_tracking_uri` also exports the variable, which `sweep run --tracking-uri` reads: left set,
    a later study in the same process would be tracked in this store instead of its own.
    """
    exported = os.environ.get(_TRACKING_URI_VARIABLE)
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield
    finally:
        if exported is None:
            os.environ.pop(_TRACKING_URI_VARIABLE, None)
        else:
            os.environ[_TRACKING_URI_VARIABLE] = exported


def _open_client(tracking_uri: TrackingUri) -> MlflowClient:
    """A client on `tracking_uri`; a local SQLite store is created (tables, WAL) by one process at a time."""
    database = tracking_uri.sqlite_file
    if database is None:
        return MlflowClient(tracking_uri)
    with exclusive_file_lock(init_lock_path(database)):
        client = MlflowClient(tracking_uri)  # creates the tables when the file is new
        with closing(sqlite3.connect(database, timeout=60)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
    return client


def _default_artifact_location(tracking_uri: TrackingUri, experiment: str) -> str | None:
    """Artifacts beside a local SQLite store (`runs/mlflow.db` -> `runs/mlartifacts/<experiment>`).

    A tracking server decides its own (and proxies the uploads), so nothing is set for other URIs.
    """
    database = tracking_uri.sqlite_file
    if database is None:
        return None
    return (database.parent / "mlartifacts" / experiment).resolve().as_uri()
