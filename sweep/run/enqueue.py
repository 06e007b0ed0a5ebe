"""Queueing the study file's `enqueue` sets as WAITING trials, which Optuna hands out before it samples any.

Optuna takes a queued set's values as fixed (`trial.suggest_*` returns them), while the keys a set leaves out
are sampled as usual. Each queued trial carries its set (its record's `origin.enqueued`), which tells it apart
from a WAITING retry (whose `failed_trial` system attr `sweep.trials.retries` reads) and makes queueing
idempotent: a set already carried by a trial of the study is not queued again, so a rerun runs nothing twice.
Exactly one process queues, at a time when no other does: the study's creator (`sweep.run.seeding`).

A confirmation's retrains (`sweep.spec.confirm`) are queued alike: each with its original trial's params
and its own seed, and the user attrs that say which trial it trains again (`retrain_attrs`), by which a
retrain already carried by a trial is not queued again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna

from sweep.spec.retrain import Retrain
from sweep.trials.record_view import TrialRecord
from sweep.trials.record_writes import enqueued_attrs, retrain_attrs


def enqueue_missing(study: optuna.Study, sets: Sequence[Mapping[str, Any]]) -> list[int]:
    """Queue each set that no trial of the study carries yet; the indexes of those queued, in order.

    A surplus trial (created after the budget was taken, never run) does not count as carrying its set,
    so a rerun with a larger `n_trials` queues it again.
    """
    records = [TrialRecord.of(trial) for trial in study.get_trials(deepcopy=False)]
    carried = [
        record.origin.enqueued for record in records if record.origin.enqueued is not None and record.surplus is None
    ]
    queued = []
    for index, params in enumerate(sets):
        if dict(params) not in carried:
            study.enqueue_trial(dict(params), user_attrs=enqueued_attrs(params))
            queued.append(index)
    return queued


def enqueue_missing_retrains(study: optuna.Study, retrains: Sequence[Retrain]) -> list[Retrain]:
    """Queue each retrain that no trial of the study carries yet (surplus trials aside); those queued, in order."""
    carried_retrains = [TrialRecord.of(trial).carried_retrain for trial in study.get_trials(deepcopy=False)]
    carried = {(confirms.trial, confirms.retrain) for confirms in carried_retrains if confirms is not None}
    queued = []
    for retrain in retrains:
        if (retrain.trial, retrain.index) not in carried:
            study.enqueue_trial(retrain.trial_params(), user_attrs=retrain_attrs(retrain))
            queued.append(retrain)
    return queued
