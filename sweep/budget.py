"""The study's trial budget, shared by every worker on every host through the Optuna storage alone.

`n_trials` is a number of budget slots. Each trial that is not a heartbeat retry takes one slot when it is
created; a retry continues the slot of the trial it retries. The storage numbers trials atomically, so a
new trial's slot is its rank among the earlier slot-taking trials, which every worker computes alike
without talking to the others. A trial whose rank is `n_trials` or more was created after the budget was
taken (two workers asked at the same moment for the last slot): it is marked `surplus`, told FAIL
before anything is sampled, trained or tracked, left out of every count and view, and its worker stops.
So completed + pruned + failed slots end at exactly `n_trials`, however many workers and hosts share it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

SURPLUS_ATTR = "surplus"


class SurplusTrial(Exception):
    """The trial was created after the study's budget was taken; it is discarded and its worker stops."""


def retried_number(trial: FrozenTrial) -> int | None:
    """The number of the trial that `trial` retries, or None when it is not a heartbeat retry."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        original = RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)
    return None if original is None else int(original)


def is_surplus(trial: FrozenTrial) -> bool:
    return SURPLUS_ATTR in trial.user_attrs


def first_attempt(trial: FrozenTrial) -> int:
    """The number of the first trial of the retry chain `trial` belongs to: the owner of its slot."""
    original = retried_number(trial)
    return trial.number if original is None else original


def takes_slot(trial: FrozenTrial) -> bool:
    """Whether the trial uses a budget slot of its own (retries and surplus trials do not)."""
    return retried_number(trial) is None and not is_surplus(trial)


def slots_taken(trials: Sequence[FrozenTrial]) -> int:
    return sum(1 for trial in trials if takes_slot(trial))


def finished_slots(trials: Sequence[FrozenTrial]) -> int:
    """Slots whose latest attempt has ended (COMPLETE, PRUNED or FAIL) and is not queued to be retried."""
    latest: dict[int, FrozenTrial] = {}
    for trial in sorted(trials, key=lambda t: t.number):
        if not is_surplus(trial):
            latest[first_attempt(trial)] = trial
    return sum(1 for trial in latest.values() if trial.state.is_finished())


class TrialBudget:
    """One worker's view of the budget: whether work is left, and a claim on each trial it is handed."""

    def __init__(self, n_trials: int) -> None:
        self.n_trials = n_trials
        self.ran = 0
        self.discarded: set[int] = set()

    def work_left(self, study: optuna.Study) -> bool:
        """A slot is free, or a queued trial (a retry of a dead worker's trial) waits to be run."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            fail_stale_trials(study)  # a dead worker's trial is queued again before we look
        trials = study.get_trials(deepcopy=False)
        return slots_taken(trials) < self.n_trials or any(trial.state == TrialState.WAITING for trial in trials)

    def claim(self, trial: optuna.Trial) -> None:
        """Let the trial run, or mark it surplus and raise `SurplusTrial` (`after_trial` then stops the loop).

        The slot is that of the first trial of a retry chain: its rank among the earlier slot-taking
        trials decides, for the first attempt and for every retry of it alike.
        """
        trials = {t.number: t for t in trial.study.get_trials(deepcopy=False)}
        first = trials[first_attempt(trials[trial.number])]
        rank = sum(1 for earlier in trials.values() if earlier.number < first.number and takes_slot(earlier))
        if rank < self.n_trials and not is_surplus(first):
            return
        message = f"created after all {self.n_trials} trials of the budget were taken by other workers"
        trial.set_user_attr(SURPLUS_ATTR, message)
        self.discarded.add(trial.number)
        raise SurplusTrial(f"trial {trial.number} {message}")

    def after_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """`study.optimize` callback: count the trial this worker ran, and stop when no work is left."""
        if trial.number not in self.discarded:
            self.ran += 1
        if not self.work_left(study):
            study.stop()

    @contextmanager
    def quiet_discards(self) -> Iterator[None]:
        """Keep Optuna from logging a discarded surplus trial as a failed one (with a traceback)."""
        logger = logging.getLogger("optuna.study._optimize")
        log_filter = _DropTrials(self.discarded)
        logger.addFilter(log_filter)
        try:
            yield
        finally:
            logger.removeFilter(log_filter)


class _DropTrials(logging.Filter):
    def __init__(self, numbers: set[int]) -> None:
        super().__init__()
        self.numbers = numbers

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(f"Trial {number} ") for number in self.numbers)
