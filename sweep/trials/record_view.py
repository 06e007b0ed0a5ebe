"""What the sweep recorded on a trial, as one typed, frozen view: `TrialRecord.of(trial)`.

Every reader of a trial's user attrs (status, best, promote, retries, the budget, compute, disk clean-up,
tracking) reads them through this view, and every writer goes through `sweep.trials.record_writes`; the
attr names are in `sweep.trials.record`, the formats of the composite values in
`sweep.trials.record_values`. A field is None when the trial does not carry it: it never got that far, it
is no such trial (not a retry, not pruned), or an older version of the sweep did not record it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial

from sweep.trials.prune_explanation import PruneExplanation, explanation_from_attrs
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
    PROCESS_ATTR,
    RUN_ID_ATTR,
    STREAM_ATTR,
    SURPLUS_ATTR,
    WARM_START_ATTR,
    WORKER_ATTR,
)
from sweep.trials.record_values import AttemptCompute, ConfirmOrigin, NetworkCost, WarmStartOrigin, WorkerProcess


@dataclass(frozen=True)
class Origin:
    """Where the trial came from: the study file's `enqueue` set it was queued with, the other study's trial
    a warm start copied, the first attempt of the chain it retries (`sweep.trials.retries`), the sampler
    stream its params were drawn from (`sweep.run.streams`), and the original trial a confirmation's retrain
    trains again (`sweep.run.enqueue`)."""

    enqueued: Mapping[str, Any] | None
    warm_start: WarmStartOrigin | None
    retry_of: int | None
    sampler_stream: int | None
    confirms: ConfirmOrigin | None = None


@dataclass(frozen=True)
class Attempt:
    """What this attempt alone recorded; a retry starts without it (`PER_ATTEMPT_ATTRS`). `worker` and
    `process`: who ran it; `fail_reason`: `TypeName: message` of the error that ended it; `failed_for_good`:
    why no retry comes after it; `interrupted`: the signal that stopped it, and where it resumes; `compute`:
    what it trained and spent."""

    worker: str | None
    process: WorkerProcess | None
    fail_reason: str | None
    failed_for_good: str | None
    interrupted: str | None
    compute: AttemptCompute | None


@dataclass(frozen=True)
class TrialRecord:
    """Everything the sweep recorded on one trial.

    `surplus`: why it never ran (created after the study's budget was taken). `network_cost`: its network's
    measured figures; `infeasible`: the bounds of the study's constraints they break. `prune_explanation`:
    what the pruner compared. A completed trial's `epochs_run` (over every attempt), `best_epoch` and
    `checkpoint_uri` (its best checkpoint in MLflow, `runs:/<run id>/checkpoint/best.pt`); `checkpoint_dir`,
    its chain's folder while it trains; `mlflow_run_id`, its run.
    """

    origin: Origin
    attempt: Attempt
    surplus: str | None
    network_cost: NetworkCost | None
    infeasible: str | None
    prune_explanation: PruneExplanation | None
    epochs_run: int | None
    best_epoch: int | None
    checkpoint_uri: str | None
    checkpoint_dir: Path | None
    mlflow_run_id: str | None

    @property
    def carried_retrain(self) -> ConfirmOrigin | None:
        """The confirmation retrain this trial carries; None for any other trial, and for a surplus one,
        which never runs (its retrain is carried by no trial, and may be queued again)."""
        return self.origin.confirms if self.surplus is None else None

    @property
    def is_copied(self) -> bool:
        """Whether a warm start copied the trial from another study: no trial of this study's own."""
        return self.origin.warm_start is not None

    @staticmethod
    def of(trial: FrozenTrial) -> TrialRecord:
        attrs = trial.user_attrs
        origin = Origin(
            enqueued=None if ENQUEUED_ATTR not in attrs else dict(attrs[ENQUEUED_ATTR]),
            warm_start=None if WARM_START_ATTR not in attrs else WarmStartOrigin.of(attrs[WARM_START_ATTR]),
            confirms=ConfirmOrigin.of(attrs.get(CONFIRMS_ATTR)),
            retry_of=_retried_number(trial),
            sampler_stream=_number(attrs.get(STREAM_ATTR)),
        )
        attempt = Attempt(
            worker=_text(attrs.get(WORKER_ATTR)),
            process=WorkerProcess.of(attrs.get(PROCESS_ATTR)),
            fail_reason=_text(attrs.get(FAIL_REASON_ATTR)),
            failed_for_good=_text(attrs.get(FAILED_FOR_GOOD_ATTR)),
            interrupted=_text(attrs.get(INTERRUPTED_ATTR)),
            compute=AttemptCompute.of(trial),
        )
        return TrialRecord(
            origin=origin,
            attempt=attempt,
            surplus=_text(attrs.get(SURPLUS_ATTR)),
            network_cost=NetworkCost.of(attrs.get(NETWORK_COST_ATTR)),
            infeasible=_text(attrs.get(INFEASIBLE_ATTR)),
            prune_explanation=explanation_from_attrs(attrs),
            epochs_run=_number(attrs.get(EPOCHS_RUN_ATTR)),
            best_epoch=_number(attrs.get(BEST_EPOCH_ATTR)),
            checkpoint_uri=_text(attrs.get(CHECKPOINT_ATTR)),
            checkpoint_dir=_path(attrs.get(CHECKPOINT_DIR_ATTR)),
            mlflow_run_id=_text(attrs.get(RUN_ID_ATTR)),
        )


def checkpoint_namespace(study: optuna.Study) -> str | None:
    """The study's checkpoint namespace (`NAMESPACE_ATTR`, a user attr of the study that its trials' folders
    sit under: `sweep.trials.folders`); None before the study's creator drew it."""
    return _text(study.user_attrs.get(NAMESPACE_ATTR))


def _retried_number(trial: FrozenTrial) -> int | None:
    """The number of the chain's first attempt when `trial` is a retry (Optuna's own `failed_trial` system
    attr, as its heartbeat's retries set it too); None for a first attempt."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        original = RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)
    return _number(original)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> int | None:
    return None if value is None else int(value)


def _path(value: Any) -> Path | None:
    return None if value is None else Path(value)
