"""Trials that did not end run again: attempts, retry chains, and recognising a dead worker's trial.

A trial that stops without a result (its worker was killed or preempted, a signal stopped it, or it hit
an error that a retry may cure) is retried: a WAITING copy with the same params, user attrs and
intermediate values is queued, and the next free worker on any host runs it, resuming from the trial's
last checkpoint (the copy keeps its checkpoint folder and MLflow run). The first attempt and its retries
form a *chain*, linked by Optuna's own `failed_trial` system attr, so Optuna's tools read it too.

A chain ends in one of three ways (`ChainState`):
- DONE: its latest attempt is COMPLETE or PRUNED;
- FAILED: its latest attempt is FAIL and no retry will come: the objective said so (the record's
  `failed_for_good`: a diverged loss, bad data), or the chain has used up its retries;
- LIVE otherwise: an attempt runs or waits, or a dead worker's attempt is about to be queued again.

Who queues a retry, always after checking that none exists yet:
- the objective, for its own trial, before the trial is told FAIL (so the chain never looks FAILED);
- `reap_dead_local_trials`, for a RUNNING trial whose process on this host is gone (a rerun after
  `kill -9` sees it at once, by pid and process start time, so a reused pid is no mistake);
- Optuna's heartbeat check (`fail_stale_trials`), on any host, once a trial's heartbeat is older than the
  study's grace period, through `RetryDeadTrial`.
Retries after a signal are free: only failures count against `max_retries`.
"""

from __future__ import annotations

import enum
import os
import socket
import time
from collections.abc import Iterable, Sequence

import optuna
import psutil
from optuna.trial import FrozenTrial, TrialState

from sweep.trials.record_values import WorkerProcess
from sweep.trials.record_view import TrialRecord
from sweep.trials.record_writes import retry_attrs, write_worker

ORPHAN_AFTER_S = 60.0
"""A dead worker's FAIL with retries left and no retry this long after it: its reaper died in between."""


class ChainState(enum.Enum):
    LIVE = "live"
    DONE = "done"
    FAILED = "failed"


def first_attempt(trial: FrozenTrial) -> int:
    """The number of the first attempt of the chain `trial` belongs to."""
    return _first_attempt(trial, TrialRecord.of(trial))


def _first_attempt(trial: FrozenTrial, record: TrialRecord) -> int:
    original = record.origin.retry_of
    return trial.number if original is None else original


def is_surplus(trial: FrozenTrial) -> bool:
    return TrialRecord.of(trial).surplus is not None


def chains(trials: Iterable[FrozenTrial]) -> dict[int, list[FrozenTrial]]:
    """First attempt number -> its attempts in order; surplus trials (never run) and trials copied from
    another study belong to none."""
    grouped: dict[int, list[FrozenTrial]] = {}
    for trial in sorted(trials, key=lambda t: t.number):
        record = TrialRecord.of(trial)
        if record.surplus is None and not record.is_copied:
            grouped.setdefault(_first_attempt(trial, record), []).append(trial)
    return grouped


def counted_failures(attempts: Sequence[FrozenTrial]) -> int:
    """Failed attempts that count against `max_retries`: every FAIL except those a signal stopped."""
    return sum(1 for a in attempts if a.state == TrialState.FAIL and TrialRecord.of(a).attempt.interrupted is None)


def chain_state(attempts: Sequence[FrozenTrial], max_retries: int) -> ChainState:
    latest = attempts[-1]
    if latest.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return ChainState.DONE
    if latest.state != TrialState.FAIL:
        return ChainState.LIVE
    if TrialRecord.of(latest).attempt.failed_for_good is not None or counted_failures(attempts) > max_retries:
        return ChainState.FAILED
    return ChainState.LIVE  # its retry is being queued


def enqueue_retry(study: optuna.Study, trial: FrozenTrial) -> int | None:
    """Queue a WAITING copy of `trial` (same params, user attrs and intermediate values) to run next.

    Returns the copy's number, or None when the chain already has a later attempt (another process
    queued it first). The attempt-specific user attrs (error, signal, worker, compute figures) stay with `trial`.
    """
    numbers = [t.number for t in study.get_trials(deepcopy=False) if first_attempt(t) == first_attempt(trial)]
    if max(numbers) > trial.number:
        return None
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    system_attrs = {**trial.system_attrs, "failed_trial": first_attempt(trial), "retry_history": history}
    copy = optuna.create_trial(
        state=TrialState.WAITING,
        params=trial.params,
        distributions=trial.distributions,
        user_attrs=retry_attrs(trial),
        system_attrs=system_attrs,
        intermediate_values=trial.intermediate_values,
    )
    storage = study._storage
    return storage.get_trial_number_from_id(storage.create_new_trial(study._study_id, template_trial=copy))


class RetryDeadTrial:
    """Called with a trial just failed because its worker is gone: queue a retry while retries are left.

    Optuna's heartbeat check calls it (as the storage's stale-trial callback), and so does
    `reap_dead_local_trials`.
    """

    def __init__(self, max_retries: int) -> None:
        self.max_retries = max_retries

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        attempts = chains(study.get_trials(deepcopy=False)).get(first_attempt(trial), [trial])
        if counted_failures(attempts) <= self.max_retries:
            enqueue_retry(study, trial)


def record_worker(trial: optuna.Trial) -> None:
    """Record which process on which host runs the attempt, so that a rerun can tell if it died."""
    process = psutil.Process()
    write_worker(trial, WorkerProcess(socket.gethostname(), process.pid, process.create_time()))


def process_gone(recorded: WorkerProcess) -> bool:
    """Whether the process that `record_worker` recorded on this host has ended (a reused pid counts)."""
    try:
        process = psutil.Process(recorded.pid)
        return abs(process.create_time() - recorded.started) > 0.01 or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def reap_dead_local_trials(study: optuna.Study, on_dead: RetryDeadTrial) -> list[int]:
    """Fail the RUNNING trials whose worker on this host is gone and queue their retries; their numbers.

    The RUNNING -> FAIL change is atomic in the storage, so when several processes reap at once exactly
    one of them fails (and retries) each trial.
    """
    host = socket.gethostname()
    reaped = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        recorded = TrialRecord.of(trial).attempt.process
        if recorded is None or recorded.host != host or recorded.pid == os.getpid():
            continue
        if not process_gone(recorded):
            continue
        try:
            changed = study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process reaped it first
        if changed:
            on_dead(study, study._storage.get_trial(trial._trial_id))
            reaped.append(trial.number)
    return reaped


def requeue_orphans(study: optuna.Study, max_retries: int) -> list[int]:
    """Queue the retry of a chain whose dead worker was failed but whose retry never came.

    Failing a dead worker's trial and queueing its retry are two writes; a reaper that dies between them
    leaves the chain LIVE with nothing to run. After `ORPHAN_AFTER_S` any process queues it.
    """
    now = time.time()
    queued = []
    for attempts in chains(study.get_trials(deepcopy=False)).values():
        latest = attempts[-1]
        if latest.state != TrialState.FAIL or chain_state(attempts, max_retries) != ChainState.LIVE:
            continue
        ended = latest.datetime_complete.timestamp() if latest.datetime_complete else now
        if now - ended >= ORPHAN_AFTER_S and enqueue_retry(study, latest) is not None:
            queued.append(latest.number)
    return queued
