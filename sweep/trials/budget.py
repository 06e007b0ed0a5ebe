"""The study's trial budget, shared by every worker on every host through the Optuna storage alone.

`n_trials` counts trials that produce a result: a chain of attempts (`sweep.trials.retries`) holds one place in
the budget while it is LIVE or DONE (COMPLETE or PRUNED). A chain that FAILED for good gives its place
back, so a new trial with new params runs instead, until `failure_limit` chains have failed for good and
the study stops. So completed + pruned trials end at exactly `n_trials` unless the study gave up.

The storage numbers trials atomically, so a new trial's place is its rank among the earlier chains that
did not fail, which every worker computes alike without talking to the others. A trial whose rank is
`n_trials` or more was created after the budget was taken (two workers asked at the same moment for the
last place): it is marked surplus, told FAIL before anything is sampled, trained or tracked, left out of
every count and view, and its worker stops.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import optuna
from optuna.storages import fail_stale_trials
from optuna.trial import FrozenTrial, TrialState

from sweep.trials.record_writes import write_surplus
from sweep.trials.retries import (
    ChainState,
    RetryDeadTrial,
    chain_state,
    chains,
    first_attempt,
    reap_dead_local_trials,
    requeue_orphans,
)

if TYPE_CHECKING:
    from sweep.spec.settings import StudySettings


class SurplusTrial(Exception):
    """The trial was created after the study's budget was taken; it is discarded and its worker stops."""


@dataclass(frozen=True)
class BudgetTally:
    """The study's chains by state, and the retries waiting to run."""

    done: int
    live: int
    failed: int
    waiting: int

    @property
    def held(self) -> int:
        """Places of the budget in use: chains that ran to a result or still may."""
        return self.done + self.live


def tally(trials: Sequence[FrozenTrial], max_retries: int) -> BudgetTally:
    states = [chain_state(attempts, max_retries) for attempts in chains(trials).values()]
    waiting = sum(1 for trial in trials if trial.state == TrialState.WAITING)
    return BudgetTally(
        states.count(ChainState.DONE), states.count(ChainState.LIVE), states.count(ChainState.FAILED), waiting
    )


class TrialBudget:
    """One worker's view of the budget: whether work is left, and a claim on each trial it is handed."""

    def __init__(self, n_trials: int, *, max_retries: int = 2, failure_limit: int | None = None) -> None:
        self.n_trials = n_trials
        self.max_retries = max_retries
        self.failure_limit = n_trials if failure_limit is None else failure_limit
        self.ran = 0
        self.discarded: set[int] = set()

    @staticmethod
    def of(settings: StudySettings) -> TrialBudget:
        """The budget a study file's `study` section sets: `n_trials`, `max_retries` and `failure_limit`."""
        return TrialBudget(settings.n_trials, max_retries=settings.max_retries, failure_limit=settings.failure_limit)

    def recover(self, study: optuna.Study) -> None:
        """Queue again the trials of dead workers: on this host at once, elsewhere after the heartbeat grace."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            fail_stale_trials(study)
        reap_dead_local_trials(study, RetryDeadTrial(self.max_retries))
        requeue_orphans(study, self.max_retries)

    def tally(self, study: optuna.Study) -> BudgetTally:
        return tally(study.get_trials(deepcopy=False), self.max_retries)

    def gave_up(self, study: optuna.Study) -> bool:
        """Whether `failure_limit` chains have failed for good, so that no new trial starts."""
        return self.tally(study).failed >= self.failure_limit

    def work_left(self, study: optuna.Study) -> bool:
        """A retry waits, or a place is free and the study has not given up (dead workers recovered first)."""
        self.recover(study)
        counts = self.tally(study)
        if counts.waiting:
            return True
        return counts.failed < self.failure_limit and counts.held < self.n_trials

    def claim(self, trial: optuna.Trial) -> None:
        """Let the trial run, or mark it surplus and raise `SurplusTrial` (`after_trial` then stops the loop).

        A retry always runs: its chain already holds its place. A new trial runs when fewer than `n_trials`
        earlier chains hold a place and the study has not given up.
        """
        trials = trial.study.get_trials(deepcopy=False)
        frozen = trials[trial.number]
        if first_attempt(frozen) != frozen.number:
            return
        earlier = {number: attempts for number, attempts in chains(trials).items() if number < frozen.number}
        states = [chain_state(attempts, self.max_retries) for attempts in earlier.values()]
        held = sum(1 for state in states if state != ChainState.FAILED)
        if states.count(ChainState.FAILED) >= self.failure_limit:
            message = f"created after {self.failure_limit} trials had failed for good and the study gave up"
        elif held >= self.n_trials:
            message = f"created after all {self.n_trials} trials of the budget were taken by other workers"
        else:
            return
        write_surplus(trial, message)
        self.discarded.add(trial.number)
        raise SurplusTrial(f"trial {trial.number} {message}")

    def after_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """`study.optimize` callback: count the trial this worker ran, and stop when no work is left."""
        if trial.number not in self.discarded:
            self.ran += 1
        if not self.work_left(study):
            study.stop()


@contextmanager
def quiet_trial_failures() -> Iterator[None]:
    """Keep Optuna from logging each failed trial with a traceback: the objective reports every failure
    itself (a progress line, the trial's `fail_reason` and its MLflow run's `error` tag)."""
    logger = logging.getLogger("optuna.study._optimize")
    log_filter = _DropFailedTrials()
    logger.addFilter(log_filter)
    try:
        yield
    finally:
        logger.removeFilter(log_filter)


class _DropFailedTrials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Trial ") and " failed with " in message)
