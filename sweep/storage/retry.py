"""Optuna's RDB storage on a database server that rides out a restart (or a dropped connection) of the server.

While PostgreSQL restarts (seconds) every storage call fails with a connection error. Such a call is
retried with backoff until the server has not answered for `OUTAGE_S`, then raises `StorageError` naming
the masked URL. The outage is timed per storage, not per call, so once one call has given up the next
ones give up after a single attempt, and a worker stops within about `OUTAGE_S` (its trial is then
recovered like a dead worker's, `sweep.trials.retries`). Only connection-level errors are retried
(`is_connection_error`); any other error is raised at once, as before.

A call is retried only where running it twice leaves the storage as running it once would:
- reads, and writes that set a value by key (params, intermediate values, attrs, heartbeats);
- creating a trial: the connection may drop after the server committed but before it answered, and a
  blind retry would then create a second trial, left RUNNING (or WAITING) for ever. Every trial is
  therefore created with a fresh `CREATION_TOKEN_ATTR` system attr, and a retry first looks for the
  token: the trial found is the one the lost answer was about. Optuna's own creation retries (for
  deadlocks) are blind, so one transaction of it is run per attempt, through Optuna's internals;
- `set_trial_state_values`: if the lost answer was about a committed update, the retry meets a finished
  trial (`UpdateFinishedTrialError`), which counts as done when it is in the state asked for. A claim of
  a WAITING trial (state RUNNING) that cannot tell whether it succeeded returns False, so Optuna moves
  on; it records one heartbeat for the trial, so that if the claim was ours after all the trial turns
  stale and is failed and retried after the heartbeat grace, instead of staying RUNNING for ever.
`create_new_study` and `delete_study` are not retried: a retry cannot tell its own study from another's.

`record_heartbeat` never raises a connection error: it runs on Optuna's heartbeat thread, which an error
would end, so a live trial would later be taken for dead. It logs a warning and tries at the next beat.
"""

from __future__ import annotations

import copy
import functools
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import optuna
from optuna.exceptions import StorageInternalError, UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import DBAPIError, OperationalError

from sweep.database_urls import DatabaseUrl, describe_error, parse_storage_url
from sweep.errors import StorageError

OUTAGE_S = 60.0
"""How long calls keep retrying a server that does not answer: a restart takes seconds, a failover up to a
minute. Shorter than the heartbeat grace less its interval, so a trial that waits it out is not taken for dead."""
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 5.0
CREATION_TOKEN_ATTR = "creation_token"
"""System attr that tells a retried `create_new_trial` whether its first attempt committed."""

_log = logging.getLogger(__name__)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def is_connection_error(error: BaseException) -> bool:
    """Whether `error` (or the SQLAlchemy error an Optuna `StorageInternalError` wraps) is a lost or refused
    connection, or another operational failure that a later attempt may not meet."""
    cause = error.__cause__ if isinstance(error, StorageInternalError) else error
    return isinstance(cause, OperationalError) or (isinstance(cause, DBAPIError) and cause.connection_invalidated)


class OutageClock:
    """When the server stopped answering one storage's calls, on any of its threads; None while it answers."""

    def __init__(self) -> None:
        self.began: float | None = None


def call_with_retries(url: DatabaseUrl | str, what: str, attempt: Callable[[bool], _R], outage: OutageClock) -> _R:
    """`attempt(retrying)` until it does not fail on the connection; `retrying` is True after a failure.

    Raises `StorageError` naming the masked `url` (a string is parsed here) once the server has not
    answered for `OUTAGE_S`, by `outage`'s clock; other errors pass through.
    """
    url = parse_storage_url(url)
    started = time.monotonic()
    delay = FIRST_BACKOFF_S
    retrying = False
    while True:
        try:
            result = attempt(retrying)
        except (OperationalError, DBAPIError, StorageInternalError) as error:
            if not is_connection_error(error):
                raise
            now = time.monotonic()
            if outage.began is None:
                outage.began = now
            cause = (error.__cause__ if isinstance(error, StorageInternalError) else None) or error
            reason = f"{type(cause).__name__}: {describe_error(cause, url)}"
            if now - outage.began + delay > OUTAGE_S:
                raise StorageError(
                    f"lost the Optuna storage {url.masked}: {what} failed, and the server has not "
                    f"answered for {now - outage.began:.0f} s ({reason})"
                ) from error
            if not retrying:
                _log.warning("Optuna storage %s: %s failed (%s); retrying", url.masked, what, reason)
            time.sleep(delay)
            delay = min(2 * delay, MAX_BACKOFF_S)
            retrying = True
            continue
        outage.began = None
        if retrying:
            _log.warning("Optuna storage %s: %s succeeded after %.1f s", url.masked, what, time.monotonic() - started)
        return result


def _retried(
    method: Callable[Concatenate[RDBStorage, _P], _R],
) -> Callable[Concatenate[ReconnectingStorage, _P], _R]:
    """`method`, which is safe to run again, retried through an outage."""

    @functools.wraps(method)
    def retried(storage: ReconnectingStorage, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return storage.retrying(method.__name__, lambda _: method(storage, *args, **kwargs))

    return retried


class ReconnectingStorage(RDBStorage):
    """`RDBStorage` whose calls ride out a restart of the database server (see the module docstring).

    Optuna's `_CachedStorage`, which every study wraps around an `RDBStorage`, calls some private methods
    directly (`_get_trials`, `_set_trial_param`, `_get_best_trial_id`, `_create_new_trial`); the public
    ones call them too, so those are the ones retried.
    """

    def __init__(self, url: DatabaseUrl, **kwargs: Any) -> None:
        self.outage = OutageClock()
        self.database_url = url  # Optuna keeps a plain string of it in `url`
        super().__init__(url, **kwargs)

    def retrying(self, what: str, attempt: Callable[[bool], _R]) -> _R:
        """`call_with_retries` on this storage."""
        return call_with_retries(self.database_url, what, attempt, self.outage)

    get_study_id_from_name = _retried(RDBStorage.get_study_id_from_name)
    get_study_name_from_id = _retried(RDBStorage.get_study_name_from_id)
    get_study_directions = _retried(RDBStorage.get_study_directions)
    get_study_user_attrs = _retried(RDBStorage.get_study_user_attrs)
    get_study_system_attrs = _retried(RDBStorage.get_study_system_attrs)
    get_all_studies = _retried(RDBStorage.get_all_studies)
    get_trial = _retried(RDBStorage.get_trial)
    _get_trials = _retried(RDBStorage._get_trials)
    _get_best_trial_id = _retried(RDBStorage._get_best_trial_id)
    get_trial_param = _retried(RDBStorage.get_trial_param)
    get_trial_user_attrs = _retried(RDBStorage.get_trial_user_attrs)
    get_trial_system_attrs = _retried(RDBStorage.get_trial_system_attrs)
    get_trial_id_from_study_id_trial_number = _retried(RDBStorage.get_trial_id_from_study_id_trial_number)
    _get_stale_trial_ids = _retried(RDBStorage._get_stale_trial_ids)
    set_study_user_attr = _retried(RDBStorage.set_study_user_attr)
    set_study_system_attr = _retried(RDBStorage.set_study_system_attr)
    _set_trial_param = _retried(RDBStorage._set_trial_param)
    set_trial_intermediate_value = _retried(RDBStorage.set_trial_intermediate_value)
    set_trial_user_attr = _retried(RDBStorage.set_trial_user_attr)
    set_trial_system_attr = _retried(RDBStorage.set_trial_system_attr)

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        token = uuid.uuid4().hex
        if template_trial is None:
            template = optuna.trial.create_trial(state=TrialState.RUNNING, system_attrs={CREATION_TOKEN_ATTR: token})
        else:
            template = copy.copy(template_trial)
            template.system_attrs = {**template_trial.system_attrs, CREATION_TOKEN_ATTR: token}

        def create(retrying: bool) -> FrozenTrial:
            if retrying:
                for trial in RDBStorage._get_trials(self, study_id, None, set(), -1):
                    if trial.system_attrs.get(CREATION_TOKEN_ATTR) == token:
                        return trial  # created by the attempt whose answer was lost
            return self._create_trial_once(study_id, template)

        return self.retrying("create_new_trial", create)

    def _create_trial_once(self, study_id: int, template: FrozenTrial) -> FrozenTrial:
        """One transaction of Optuna's `RDBStorage._create_new_trial`, which retries failed ones itself (for
        deadlocks) without checking whether the commit it lost the answer to took place."""
        with _create_scoped_session(self.scoped_session) as session:
            models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)  # numbers trials in turn
            trial = self._get_prepared_new_trial(study_id, template, session)
            created = copy.deepcopy(template)  # its datetime_start is the trial's already
            created.number, created._trial_id = int(trial.number), int(trial.trial_id)
        return created

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        def update(retrying: bool) -> bool:
            try:
                changed = RDBStorage.set_trial_state_values(self, trial_id, state, values)
            except UpdateFinishedTrialError:
                if retrying and RDBStorage.get_trial(self, trial_id).state == state:
                    return True  # the lost answer was about this very update
                raise
            if retrying and not changed and state == TrialState.RUNNING and self.heartbeat_interval is not None:
                RDBStorage.record_heartbeat(self, trial_id)  # a claim that may be ours: let it turn stale
            return changed

        return self.retrying("set_trial_state_values", update)

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.retrying("record_heartbeat", lambda _: RDBStorage.record_heartbeat(self, trial_id))
        except StorageError as error:
            _log.warning("%s; the heartbeat thread tries again in %s s", error, self.heartbeat_interval)
