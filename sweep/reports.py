"""What `sweep status` and `sweep best` show: one row per trial, and the best trial in full."""

from __future__ import annotations

from typing import Any

import optuna
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState

from sweep.spec import StudySpec
from sweep.tracking import RUN_ID_ATTR


def trial_row(trial: FrozenTrial) -> dict[str, Any]:
    """Number, state, best val mIoU, epochs run, sampled params and MLflow run id of one trial."""
    epochs = trial.user_attrs.get("epochs_run", len(trial.intermediate_values))
    best_reported = max(trial.intermediate_values.values(), default=None)
    return {
        "number": trial.number,
        "state": trial.state.name,
        "best_miou": trial.value if trial.state == TrialState.COMPLETE else best_reported,
        "epochs_run": epochs,
        "params": dict(trial.params),
        "mlflow_run_id": trial.user_attrs.get(RUN_ID_ATTR),
        "fail_reason": trial.user_attrs.get("fail_reason"),
    }


def status_rows(study: optuna.Study) -> list[dict[str, Any]]:
    return [trial_row(trial) for trial in study.get_trials(deepcopy=False)]


def best_summary(spec: StudySpec, study: optuna.Study) -> dict[str, Any] | None:
    """The best completed trial with its final metrics from MLflow and where its model is; None if none."""
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    best = study.best_trial
    summary = trial_row(best)
    run_id = summary["mlflow_run_id"]
    summary.update(metrics={}, best_epoch=best.user_attrs.get("best_epoch"), checkpoint_uri=None, registered_model_uris=[], model_uri=None)
    if run_id is not None:
        client = MlflowClient(spec.tracking_uri)
        run = client.get_run(run_id)
        summary["metrics"] = _metrics_at(client, run_id, run.data.metrics, summary["best_epoch"])
        summary["checkpoint_uri"] = f"runs:/{run_id}/checkpoint/best.pt"
        name = spec.registered_model_name
        versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
        if versions:
            # search results carry no aliases: read them from the registered model
            aliases = client.get_registered_model(name).aliases
            for version in versions:
                summary["registered_model_uris"] += [f"models:/{name}@{a}" for a, v in aliases.items() if str(v) == str(version.version)]
                summary["registered_model_uris"].append(f"models:/{name}/{version.version}")
        # Before `sweep promote` there is no MLflow model yet; the checkpoint URI works with `trainer predict`.
        summary["model_uri"] = (summary["registered_model_uris"] or [summary["checkpoint_uri"]])[0]
    return summary


def _metrics_at(client: MlflowClient, run_id: str, latest: dict[str, float], epoch: int | None) -> dict[str, float]:
    """Each headline metric's value at the best epoch (MLflow's run summary keeps only the last epoch's)."""
    if epoch is None:
        return dict(latest)
    values = {}
    for key in ("val/miou", "val/pixel_accuracy", "val/mean_class_accuracy", "val/fw_iou", "train/loss"):
        history = client.get_metric_history(run_id, key)
        at_epoch = [metric.value for metric in history if metric.step == epoch]
        if at_epoch:
            values[key] = at_epoch[-1]
    return values
