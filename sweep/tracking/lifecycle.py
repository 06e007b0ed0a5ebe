"""The MLflow run lifecycle of a study: one parent run per study, one nested child run per trial.

A parent run is created on the first `sweep run` and reattached on every rerun (found through the study's
user attr, or its tags when that is missing); it ends FINISHED after a run, or KILLED when the run is
interrupted, unless another worker still runs trials of the study. A trial's run is created when the
trial starts and ends FINISHED, KILLED (pruned) or FAILED. A retried trial inherits the user attrs and so
reopens the same run. A run whose end never reached the tracking server (it stayed away past `FLUSH`
patience) is ended later by `reconcile_trial_runs`, as its trial's state says.

Exactly one parent per study, however many workers start at once: the process that creates the Optuna
study (the storage's unique study name makes it one) marks it pending (`mark_parent_pending`), creates
the parent and records it in the study's user attr, then clears the mark (sets it to None, as Optuna
has no delete for user attrs); the others wait for that attr while the mark is younger than `wait_s`. Should no attr come (its creator died), each creates a parent, then all converge
on the oldest and the others delete their own, still empty, run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Literal, TypeVar

import optuna
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from optuna.trial import TrialState

from sweep.database_urls import DatabaseUrl, TrackingUri, parse_storage_url
from sweep.tracking.outages import FLUSH, call_patiently
from sweep.tracking.store import EndStatus, TrackingStore
from sweep.tracking.system_metrics import SystemMetrics
from sweep.tracking.tags import (
    PARENT_PENDING_ATTR,
    PARENT_RUN_ATTR,
    config_params_and_tags,
    retrain_tags,
    runtime_tags,
)
from sweep.tracking.trial_run import TrialRun, objective_metrics
from sweep.trials.compute import StudyCompute, parent_metrics
from sweep.trials.folders import stored_trial
from sweep.trials.own_trials import own_best_trial
from sweep.trials.prune_explanation import best_reported
from sweep.trials.record_view import TrialRecord
from sweep.trials.record_writes import write_run_id
from trainer.config import TrainConfig

EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
"""The experiment's type ("Machine learning") for MLflow UIs that read it to open an experiment on its runs
table rather than its GenAI overview. MLflow 3.17's UI reads its own workflow switch instead, which the
links that `sweep run` prints set (`sweep.tracking.links`)."""
CHECKPOINT_ARTIFACT = "checkpoint"
"""The artifact folder of a completed trial's run that holds its `best.pt`."""
_POLL_S = 0.5
_RUN_STATUS: dict[TrialState, EndStatus] = {
    TrialState.COMPLETE: "FINISHED",
    TrialState.PRUNED: "KILLED",
    TrialState.FAIL: "FAILED",
}
"""How a finished trial's run ends."""
Result = TypeVar("Result")


def mark_parent_pending(study: optuna.Study) -> None:
    """Called by the process that just created the study: it is making the parent run; others wait."""
    study.set_user_attr(PARENT_PENDING_ATTR, time.time())


def _any_trial_started(study: optuna.Study) -> bool:
    """Whether a trial of the study's own has left the queue; enqueued sets (WAITING) and warm-start copies,
    which the study's creator adds before it records the parent run, do not count."""
    started = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, *_RUN_STATUS))
    return any(not TrialRecord.of(trial).is_copied for trial in started)


class StudyTracker:
    """The MLflow side of one study: its experiment (tagged `EXPERIMENT_TAGS`), its parent run and a child
    run per trial."""

    def __init__(
        self, tracking_uri: TrackingUri | str, experiment: str, *, study_name: str, storage_url: DatabaseUrl | str
    ) -> None:
        """Tracks into `tracking_uri` (a string is parsed here); `storage_url` is tagged on every run, masked."""
        self._store = TrackingStore(tracking_uri)
        self.study_name = study_name
        self.experiment_id = self._store.experiment_id(experiment, EXPERIMENT_TAGS)
        self.common_tags = {
            "optuna.study_name": study_name,
            "optuna.storage": parse_storage_url(storage_url).masked,
            **runtime_tags(),
        }

    def open_parent(self, study: optuna.Study, *, wait_s: float = 0.0) -> str:
        """The study's parent run, RUNNING: reattached on reruns, created (and kept in a user attr) otherwise.

        `wait_s`: how long after the study's creator marked it pending to wait for the creator to record
        the parent run (0 for the creator itself). A mark older than that is a creator that died.
        """
        run_id = self._recorded_parent(study, wait_s)
        # None also when the run is gone: the tracking store was reset while the study survived.
        if run_id is None:
            run_id = self._find_parent() or self._create_parent()
            study.set_user_attr(PARENT_RUN_ATTR, run_id)
        if study.user_attrs.get(PARENT_PENDING_ATTR) is not None:
            # Optuna cannot delete a user attr; None reads as unset, and only after the run id is recorded,
            # so a waiting worker sees the mark or the run id, never neither.
            study.set_user_attr(PARENT_PENDING_ATTR, None)
        self._store.reopen_run(run_id)
        return run_id

    def _recorded_parent(self, study: optuna.Study, wait_s: float) -> str | None:
        while True:
            attrs = study.user_attrs
            run_id = attrs.get(PARENT_RUN_ATTR)
            if run_id is not None:
                return str(run_id) if self._store.run_exists(str(run_id)) else None
            pending_since = attrs.get(PARENT_PENDING_ATTR)
            if pending_since is None or time.time() - float(pending_since) >= wait_s:
                return None
            if _any_trial_started(study):  # the creator records the parent before any trial starts
                return None
            time.sleep(_POLL_S)

    def _create_parent(self) -> str:
        """Create a parent, then keep the oldest of the study's parents; a newer one of ours is deleted."""
        mine = self._store.create_run(self.experiment_id, self.study_name, {**self.common_tags, "sweep.role": "study"})
        oldest = self._find_parent()
        if oldest is None or oldest == mine:
            return mine
        self._store.delete_run(mine)
        return oldest

    def _find_parent(self) -> str | None:
        """The oldest parent run of this study on this storage, for when the user attr is missing."""
        tags = {"sweep.role": "study", "optuna.study_name": self.study_name}
        return self._store.oldest_run_tagged(
            self.experiment_id, {**tags, "optuna.storage": self.common_tags["optuna.storage"]}
        )

    def close_parent(self, run_id: str, study: optuna.Study, status: Literal["FINISHED", "KILLED"]) -> bool:
        """End the parent run unless another worker still runs a trial of the study; True when it ended."""
        if study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            return False
        self._store.end_run(run_id, status)
        return True

    def log_parent_best(self, run_id: str, study: optuna.Study) -> None:
        """Record the best value so far (a metric stepped by trial number) and its trial and params as tags."""
        best = own_best_trial(study)
        if best is None:
            return  # no completed trial of its own yet
        assert best.value is not None  # the best trial is a completed one
        metrics = {"best_value": best.value}
        tags = {"best.trial_number": str(best.number), **{f"best.{k}": str(v) for k, v in best.params.items()}}
        self._patiently(lambda: self._store.log_batch(run_id, metrics=metrics, step=best.number, tags=tags))

    def log_parent_compute(self, run_id: str, study: optuna.Study) -> None:
        """Record the study's compute totals and what pruning saved as `compute/...` metrics (`sweep.trials.compute`)."""
        metrics = parent_metrics(StudyCompute.of(study.get_trials(deepcopy=False)))
        self._patiently(lambda: self._store.log_batch(run_id, metrics=metrics, step=0))

    def drop_checkpoints_outside_top(self, study: optuna.Study, k: int, registered_model: str) -> list[str]:
        """Delete `checkpoint/` from the runs of completed trials ranked below the best `k` by value (ties:
        the earlier trial ranks first); a run with a version of `registered_model` keeps it. Returns the
        ids of the runs whose checkpoint went."""
        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        ranked = sorted(completed, key=lambda trial: (-(trial.value or 0.0), trial.number))
        dropped = []
        for trial in ranked[k:]:
            run_id = TrialRecord.of(trial).mlflow_run_id
            if run_id is None or self._store.model_versions_for_run(registered_model, run_id):
                continue
            if self._store.delete_artifacts(run_id, CHECKPOINT_ARTIFACT):
                dropped.append(run_id)
        return dropped

    def log_parent_artifacts(self, run_id: str, files: Iterable[Path], artifact_path: str | None = None) -> None:
        """Upload study-level files (plots, the trials table) to the parent run."""
        self._store.log_artifacts(run_id, files, artifact_path)

    def start_trial(
        self,
        trial: optuna.Trial,
        config: TrainConfig,
        parent_run_id: str,
        extra_tags: Mapping[str, str],
        *,
        system_metrics: bool = False,
    ) -> TrialRun:
        """Create (or, for a retried trial, reopen) the trial's run and record its whole config: params,
        except the bookkeeping keys (paths), which are tags (`config_params_and_tags`); `extra_tags` win
        over those. A confirmation's retrain is tagged with its original trial (`retrain_tags`). With
        `system_metrics`, MLflow samples the host onto the run until the trial ends
        (`sweep.tracking.system_metrics`).

        Waits out a tracking server that is away for up to `FLUSH` patience, then raises `TrackingError`.
        """
        record = TrialRecord.of(stored_trial(trial))
        inherited = record.mlflow_run_id  # a retry's: its chain's run
        params, config_tags = config_params_and_tags(config)
        tags = {
            **self.common_tags,
            **config_tags,
            **extra_tags,
            **retrain_tags(record),
            "sweep.role": "trial",
            "optuna.trial_number": str(trial.number),
            MLFLOW_PARENT_RUN_ID: parent_run_id,
        }
        reopened = inherited is not None
        if inherited is None:
            run_id = self._patiently(lambda: self._store.create_run(self.experiment_id, f"trial-{trial.number}", tags))
            write_run_id(trial, run_id)
        else:
            run_id = inherited
            self._patiently(lambda: self._store.reopen_run(run_id))
            tags[MLFLOW_RUN_NAME] = f"trial-{trial.number}"
        self._patiently(lambda: self._store.log_batch(run_id, params=params, tags=tags))
        # A new run logs its objective first (`sweep.tracking.trial_run`); a reopened one has its metrics.
        monitor = (
            SystemMetrics(self._store.tracking_uri, run_id, resume=reopened, held=not reopened)
            if system_metrics
            else None
        )
        return TrialRun(self._store, run_id, monitor, objective_first=not reopened)

    def reconcile_trial_runs(self, study: optuna.Study) -> int:
        """End the runs that finished trials left RUNNING (their end never reached the server); returns how many.

        A run ends as its latest trial did (COMPLETE: FINISHED, PRUNED: KILLED, FAIL: FAILED) with that
        state in its `optuna.state` tag. A run that a waiting or running retry shares is left alone.
        """
        latest: dict[str, optuna.trial.FrozenTrial] = {}
        in_use: set[str] = set()
        for trial in study.get_trials(deepcopy=False):  # by number: a retry comes after the trial it retries
            run_id = TrialRecord.of(trial).mlflow_run_id
            if run_id is None:
                continue
            if trial.state in _RUN_STATUS:
                latest[run_id] = trial
            else:
                in_use.add(run_id)
        return sum(self._end_run_as(run_id, trial) for run_id, trial in latest.items() if run_id not in in_use)

    def _end_run_as(self, run_id: str, trial: optuna.trial.FrozenTrial) -> bool:
        """End the run as its finished `trial` did if it still runs, with the objective metrics of a
        completed one, or a pruned one's best value so far (`objective_metrics`, as `TrialRun` logs them);
        whether it did."""
        if self._patiently(lambda: self._store.run_status(run_id)) != "RUNNING":
            return False
        metrics: dict[str, float] = {}
        step = 0
        best = best_reported(trial) if trial.state == TrialState.PRUNED else None
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            step = TrialRecord.of(trial).best_epoch or 0
            metrics = objective_metrics(trial.value, step)
        elif best is not None:
            best_miou, step = best
            metrics = objective_metrics(best_miou, step)
        tags = {"optuna.state": trial.state.name}
        self._patiently(lambda: self._store.log_batch(run_id, metrics=metrics, step=step, tags=tags))
        self._patiently(lambda: self._store.end_run(run_id, _RUN_STATUS[trial.state]))
        return True

    def _patiently(self, call: Callable[[], Result]) -> Result:
        return call_patiently(FLUSH, call, tracking_uri=self._store.tracking_uri)
