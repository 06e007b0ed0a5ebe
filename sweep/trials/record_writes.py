"""Writing a trial's record: one small writer per thing the objective and its callbacks record, and the user
attrs a new trial starts with (an enqueued set, a warm start's copy, a retry).

Each writer stores its value in the format `TrialRecord.of` reads back (`sweep.trials.record_view`), with
the `set_user_attr` calls of before: one attr is one call, and a value that must be all-or-nothing is one
attr (`write_network_cost`), since a worker can be killed between any two calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from sweep.spec.constraints import Infeasible
from sweep.spec.retrain import Retrain
from sweep.trials.prune_explanation import PruneExplanation
from sweep.trials.record import (
    BEST_EPOCH_ATTR,
    CHECKPOINT_ATTR,
    CHECKPOINT_DIR_ATTR,
    CONFIRMS_ATTR,
    ENQUEUED_ATTR,
    EPOCHS_RUN_ATTR,
    FAIL_REASON_ATTR,
    FAILED_FOR_GOOD_ATTR,
    INFEASIBLE_ATTR,
    INTERRUPTED_ATTR,
    NAMESPACE_ATTR,
    NETWORK_COST_ATTR,
    PER_ATTEMPT_ATTRS,
    PER_ATTEMPT_PREFIX,
    PROCESS_ATTR,
    RUN_ID_ATTR,
    STREAM_ATTR,
    SURPLUS_ATTR,
    WARM_START_ATTR,
    WORKER_ATTR,
)
from sweep.trials.record_values import AttemptCompute, ConfirmOrigin, NetworkCost, WarmStartOrigin, WorkerProcess

FAIL_REASON_LIMIT = 1000
"""Characters of an error's `TypeName: message` kept as the attempt's fail reason."""


def write_worker(trial: optuna.Trial, process: WorkerProcess) -> None:
    """Who runs the attempt: `host:pid` for people, then the record a rerun checks the process by."""
    trial.set_user_attr(WORKER_ATTR, process.worker)
    trial.set_user_attr(PROCESS_ATTR, process.attr_value())


def write_surplus(trial: optuna.Trial, reason: str) -> None:
    trial.set_user_attr(SURPLUS_ATTR, reason)


def write_sampler_stream(trial: optuna.Trial, stream: int) -> None:
    trial.set_user_attr(STREAM_ATTR, stream)


def write_checkpoint_dir(trial: optuna.Trial, folder: Path) -> None:
    trial.set_user_attr(CHECKPOINT_DIR_ATTR, str(folder))


def write_run_id(trial: optuna.Trial, run_id: str) -> None:
    trial.set_user_attr(RUN_ID_ATTR, run_id)


def write_network_cost(trial: optuna.Trial, cost: NetworkCost) -> None:
    """All the figures in one call: a worker killed while recording leaves all of them or none."""
    trial.set_user_attr(NETWORK_COST_ATTR, cost.attr_value())


def write_infeasible(trial: optuna.Trial, infeasible: Infeasible) -> None:
    trial.set_user_attr(INFEASIBLE_ATTR, infeasible.text())


def write_prune_explanation(trial: optuna.Trial, why: PruneExplanation) -> None:
    for key, value in why.user_attrs().items():
        trial.set_user_attr(key, value)


def write_compute(trial: optuna.Trial, spent: AttemptCompute) -> None:
    for key, value in spent.user_attrs().items():
        trial.set_user_attr(key, value)


def write_interruption(trial: optuna.Trial, reason: str) -> None:
    trial.set_user_attr(INTERRUPTED_ATTR, reason)


def write_fail_reason(trial: optuna.Trial, error: Exception) -> None:
    """`TypeName: message` of the error that ended the attempt, cut to `FAIL_REASON_LIMIT` characters."""
    trial.set_user_attr(FAIL_REASON_ATTR, f"{type(error).__name__}: {error}"[:FAIL_REASON_LIMIT])


def write_failed_for_good(trial: optuna.Trial, note: str) -> None:
    """Before the attempt fails: no retry comes, and `note` says why."""
    trial.set_user_attr(FAILED_FOR_GOOD_ATTR, note)


def write_result(trial: optuna.Trial, *, best_epoch: int, epochs_run: int, checkpoint_uri: str) -> None:
    """A completed trial's epoch of its best val mIoU, its epochs over every attempt, and the MLflow URI of
    its logged best checkpoint (`CHECKPOINT_ATTR`)."""
    trial.set_user_attr(BEST_EPOCH_ATTR, best_epoch)
    trial.set_user_attr(EPOCHS_RUN_ATTR, epochs_run)
    trial.set_user_attr(CHECKPOINT_ATTR, checkpoint_uri)


def write_checkpoint_namespace(study: optuna.Study, namespace: str) -> None:
    """The study's checkpoint namespace (a user attr of the study, read by `checkpoint_namespace`)."""
    study.set_user_attr(NAMESPACE_ATTR, namespace)


def enqueued_attrs(params: Mapping[str, Any]) -> dict[str, Any]:
    """The user attrs of a trial queued from the study file's `enqueue` list: the set, as written."""
    return {ENQUEUED_ATTR: dict(params)}


def retrain_attrs(retrain: Retrain) -> dict[str, Any]:
    """The user attrs of a confirmation's retrain: the trial it trains again, its index and seed, and the
    original's value (`ConfirmOrigin`)."""
    origin = ConfirmOrigin(retrain.trial, retrain.index, retrain.seed, retrain.original_value)
    return {CONFIRMS_ATTR: origin.attr_value()}


def copied_attrs(origin: WarmStartOrigin, cost: NetworkCost | None, infeasible: Infeasible | None) -> dict[str, Any]:
    """The user attrs of a warm start's copy: its origin, and its network's figures and the bounds of this
    study they break, when its study measured them."""
    attrs: dict[str, Any] = {WARM_START_ATTR: origin.attr_value()}
    if cost is not None:
        attrs[NETWORK_COST_ATTR] = cost.attr_value()
    if infeasible is not None:
        attrs[INFEASIBLE_ATTR] = infeasible.text()
    return attrs


def retry_attrs(trial: FrozenTrial) -> dict[str, Any]:
    """The user attrs a retry of `trial` starts with: all of them, even those this version does not know,
    except the attempt's own (error, signal, worker, compute figures), which stay with `trial`."""
    return {
        key: value
        for key, value in trial.user_attrs.items()
        if key not in PER_ATTEMPT_ATTRS and not key.startswith(PER_ATTEMPT_PREFIX)
    }
