"""What `sweep status`, `sweep best` and the end of `sweep run` show: one row per trial, the best trial in
full, and the study's links in MLflow's UI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.spec.study_file import StudySpec
from sweep.tracking import TrackingStore, UiLinks, ui_links
from sweep.trials.compute import StudyCompute
from sweep.trials.disk import disk_used
from sweep.trials.own_trials import own_best_trial
from sweep.trials.record_values import AttemptCompute, NetworkCost
from sweep.trials.record_view import Origin, TrialRecord, checkpoint_namespace


@dataclass(frozen=True)
class TrialRow:
    """One trial as `sweep status` shows it: number, state, best val mIoU, epochs run, sampled params and MLflow
    run id.

    The state is Optuna's, except INTERRUPTED for an attempt a signal stopped (FAIL in Optuna) and
    INFEASIBLE for one whose network broke the study's constraints (PRUNED in Optuna); `retry_of`
    is the first attempt a retry continues, `note` says why an attempt stopped and what came next, and
    `origin` says where a trial the study did not sample came from: the study file's `enqueue` list, or
    another study (a warm start's copy, which runs nothing here). `pruned_because` says what the pruner
    compared (`sweep.trials.prune_explanation`), `compute` what the attempt trained and spent (`sweep.trials.compute`;
    None when it recorded nothing), `cost` its network's measured figures and `infeasible` the bounds they
    break (`sweep.spec.constraints`; None when not measured, or when it keeps them).
    """

    number: int
    state: str
    best_miou: float | None
    epochs_run: int
    params: Mapping[str, Any]
    mlflow_run_id: str | None
    fail_reason: str | None
    retry_of: int | None
    note: str | None
    origin: str | None
    pruned_because: str | None
    compute: AttemptCompute | None
    cost: NetworkCost | None
    infeasible: str | None


def trial_row(trial: FrozenTrial) -> TrialRow:
    """The row of `trial`, from its record (`sweep.trials.record_view`)."""
    record = TrialRecord.of(trial)
    attempt = record.attempt
    state = trial.state.name
    if attempt.interrupted and trial.state == TrialState.FAIL:
        state = "INTERRUPTED"
    elif record.infeasible and trial.state == TrialState.PRUNED:
        state = "INFEASIBLE"
    why = record.prune_explanation
    best_reported = max(trial.intermediate_values.values(), default=None)
    return TrialRow(
        number=trial.number,
        state=state,
        best_miou=trial.value if trial.state == TrialState.COMPLETE else best_reported,
        epochs_run=len(trial.intermediate_values) if record.epochs_run is None else record.epochs_run,
        params=dict(trial.params),
        mlflow_run_id=record.mlflow_run_id,
        fail_reason=attempt.fail_reason,
        retry_of=record.origin.retry_of,
        note=attempt.interrupted or attempt.failed_for_good,
        origin=_origin(record.origin),
        pruned_because=None if why is None else why.text(),
        compute=attempt.compute,
        cost=record.network_cost,
        infeasible=record.infeasible,
    )


def _origin(origin: Origin) -> str | None:
    copied = origin.warm_start
    if copied is not None:
        return f"copied from study {copied.study!r} trial {copied.trial}"
    return "enqueued" if origin.enqueued is not None else None


def status_rows(study: optuna.Study) -> list[TrialRow]:
    """One row per trial; surplus trials (created after the budget was taken, never run) are left out."""
    trials = study.get_trials(deepcopy=False)
    return [trial_row(trial) for trial in trials if TrialRecord.of(trial).surplus is None]


def study_compute(study: optuna.Study) -> StudyCompute:
    """What the study's own attempts trained and spent, and what pruning saved (`sweep.trials.compute`)."""
    return StudyCompute.of(study.get_trials(deepcopy=False))


def study_disk_used(spec: StudySpec, study: optuna.Study) -> int:
    """Bytes of the study's local checkpoint folders (`<artifacts_dir>/<namespace>`)."""
    namespace = checkpoint_namespace(study)
    return 0 if namespace is None else disk_used(spec.artifacts_dir / namespace)


@dataclass(frozen=True)
class BestSummary:
    """The best trial's row, its headline metrics at its best epoch, and where its model is: its checkpoint in
    MLflow, the registry's versions of it (aliases first), and the URI to use, the first of those. A trial
    with no MLflow run has no metrics and no URIs."""

    row: TrialRow
    metrics: Mapping[str, float]
    best_epoch: int | None
    checkpoint_uri: str | None
    registered_model_uris: list[str]
    model_uri: str | None


def best_summary(spec: StudySpec, study: optuna.Study) -> BestSummary | None:
    """The best feasible completed trial (`own_best_trial`) with its final metrics from MLflow, its network's
    cost and where its model is; None if none."""
    best = own_best_trial(study)
    if best is None:
        return None
    row = trial_row(best)
    best_epoch = TrialRecord.of(best).best_epoch
    run_id = row.mlflow_run_id
    if run_id is None:
        return BestSummary(row, {}, best_epoch, None, [], None)
    store = TrackingStore(spec.tracking_uri)
    latest = store.latest_metrics(run_id)  # also fails clearly when the run is gone
    metrics = _metrics_at(store, run_id, latest, best_epoch)
    checkpoint_uri = f"runs:/{run_id}/checkpoint/best.pt"
    registered = _registered_model_uris(store, spec.registered_model_name, run_id)
    # Before `sweep promote` there is no MLflow model yet; the checkpoint URI works with `trainer predict`.
    model_uri = (registered or [checkpoint_uri])[0]
    return BestSummary(row, metrics, best_epoch, checkpoint_uri, registered, model_uri)


def _metrics_at(store: TrackingStore, run_id: str, latest: dict[str, float], epoch: int | None) -> dict[str, float]:
    """Each headline metric's value at the best epoch (MLflow's run summary keeps only the last epoch's)."""
    if epoch is None:
        return latest
    values = {}
    for key in ("val/miou", "val/pixel_accuracy", "val/mean_class_accuracy", "val/fw_iou", "train/loss"):
        at_epoch = [value for step, value in store.metric_history(run_id, key) if step == epoch]
        if at_epoch:
            values[key] = at_epoch[-1]
    return values


def _registered_model_uris(store: TrackingStore, name: str, run_id: str) -> list[str]:
    """`models:/NAME@ALIAS` then `models:/NAME/VERSION` for each version registered from the run."""
    versions = store.model_versions_for_run(name, run_id)
    aliases = store.model_aliases(name) if versions else {}
    uris = []
    for version in versions:
        uris += [f"models:/{name}@{alias}" for alias, aliased in aliases.items() if aliased == version]
        uris.append(f"models:/{name}/{version}")
    return uris


def study_links(spec: StudySpec, study: optuna.Study) -> UiLinks | None:
    """The study's experiment runs page and best run in MLflow's UI; None when the experiment does not exist
    (no trial ever started) or the tracking URI has no UI links (`ui_links`)."""
    experiment_id = TrackingStore(spec.tracking_uri).find_experiment_id(spec.experiment_name)
    if experiment_id is None:
        return None
    best = own_best_trial(study)
    best_run_id = None if best is None else TrialRecord.of(best).mlflow_run_id
    return ui_links(spec.tracking_uri, experiment_id, best_run_id)
