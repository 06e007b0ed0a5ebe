"""The Optuna objective: sample, build a TrainConfig, judge its network's cost, train with pruning, and
track it all in MLflow.

A trial's checkpoints live in its chain's folder (`sweep.trials.folders`): a retry (`sweep.trials.retries`) gets
the same folder and the same MLflow run, through the inherited user attrs, so `trainer.train` resumes it
from its last finished epoch. Before training, the network is measured; one that breaks the study's
`constraints` ends the trial as infeasible (`sweep.spec.constraints`: PRUNED in Optuna, nothing trained).

How an attempt ends, and what comes next (docs/reliability.md):
- an error that the same params would meet again (`NOT_RETRIED`: a diverged loss, a config rule, bad
  data or weights) fails the trial for good: its place in the budget goes to a new trial, except that bad
  data or weights, which every trial would meet, stop the study (`STOPS_THE_STUDY`);
- any other error (a checkpoint that cannot be written, a lost service, a bug) queues a retry while the
  chain has retries left, and fails for good after that; either way the study goes on (`TrialFailed`);
- SIGINT/SIGTERM queues a retry, closes the run as KILLED and raises `TrialInterrupted`, which ends the
  study loop; the retry resumes on the next `sweep run`.
The retry is queued before the attempt is told FAIL, so no other worker ever sees the chain as failed.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import optuna

from sweep.run.artifacts import log_trial_artifacts
from sweep.run.progress import SweepProgress
from sweep.run.streams import record_stream
from sweep.spec.space import suggest
from sweep.spec.study_file import StudySpec
from sweep.tracking import StudyTracker, TrialRun
from sweep.tracking.warnings_listener import WarningsOnRun
from sweep.trials.budget import TrialBudget
from sweep.trials.compute import AttemptClock, run_metrics
from sweep.trials.feasibility import TrialInfeasible, cost_metrics, judge_trial, unjudged_latency
from sweep.trials.folders import stored_trial, trial_checkpoint_dir, trial_key
from sweep.trials.prune_explanation import PruneExplanation, best_reported, explain_prune
from sweep.trials.record_view import TrialRecord
from sweep.trials.record_writes import (
    write_checkpoint_dir,
    write_compute,
    write_fail_reason,
    write_failed_for_good,
    write_interruption,
    write_prune_explanation,
    write_result,
)
from sweep.trials.retries import chains, counted_failures, enqueue_retry, record_worker
from trainer.config import TrainConfig
from trainer.engine import TrainResult, train
from trainer.errors import ConfigError, DatasetError, DivergedError, WeightsError
from trainer.interrupt import StopRequest, TrainingInterrupted
from trainer.model_cost import measure_model_cost

METRIC = "val/miou"
NOT_RETRIED: tuple[type[Exception], ...] = (DivergedError, ConfigError, DatasetError, WeightsError)
"""Errors that the same params meet again on a retry."""
STOPS_THE_STUDY: tuple[type[Exception], ...] = (DatasetError, WeightsError)
"""Errors that every trial would meet (a bad data file, unusable pretrained weights): the study stops."""


class TrialFailed(Exception):
    """The attempt failed and it is recorded (retry queued, or failed for good); the study goes on."""


class TrialInterrupted(KeyboardInterrupt):
    """A signal stopped the trial; its retry is queued. A KeyboardInterrupt, so that `study.optimize` records
    the attempt as FAIL and then ends the loop instead of starting the next trial."""

    def __init__(self, number: int, interrupted: TrainingInterrupted) -> None:
        self.number = number
        self.interrupted = interrupted
        super().__init__(f"trial {number}: {interrupted}")


class TrialObjective:
    """Callable for `study.optimize`; returns the trial's best val mIoU."""

    def __init__(
        self,
        spec: StudySpec,
        tracker: StudyTracker,
        parent_run_id: str,
        progress: SweepProgress,
        data_tags: Mapping[str, str],
        budget: TrialBudget | None = None,
        stop: StopRequest | None = None,
    ) -> None:
        self.spec = spec
        self.tracker = tracker
        self.parent_run_id = parent_run_id
        self.progress = progress
        self.data_tags = dict(data_tags)
        self.budget = budget or TrialBudget(spec.study.n_trials, max_retries=spec.study.max_retries)
        self.stop = stop or StopRequest()

    def __call__(self, trial: optuna.Trial) -> float:
        self.budget.claim(trial)  # a trial created after the budget was taken ends here, untracked
        record_stream(trial)
        record_worker(trial)
        clock = AttemptClock()
        run: TrialRun | None = None
        last_epoch: list[int] = []
        pruned: list[PruneExplanation] = []
        try:  # whatever stops the trial, even a signal, is recorded on it (and on its run once that exists)
            params = suggest(trial, self.spec.search)
            checkpoint_dir = trial_checkpoint_dir(self.spec.artifacts_dir, trial)
            config = self.spec.trial_config(params, checkpoint_dir=checkpoint_dir)
            write_checkpoint_dir(trial, checkpoint_dir)
            clock.planned(device=config.device, epochs=config.epochs)
            run = self.tracker.start_trial(
                trial, config, self.parent_run_id, self.data_tags, system_metrics=self.spec.tracking.system_metrics
            )
            tracked = run

            def report(epoch: int, metrics: Mapping[str, float]) -> None:
                last_epoch[:] = [epoch]
                clock.epochs += 1
                tracked.log_epoch(epoch, metrics)
                # Optuna's record first: once the line is printed, a killed worker has lost nothing of it.
                trial.report(metrics[METRIC], epoch)
                self.progress.epoch_end(epoch, metrics)
                if trial.should_prune():
                    why = explain_prune(trial.study, stored_trial(trial))
                    write_prune_explanation(trial, why)
                    pruned[:] = [why]
                    raise optuna.TrialPruned(why.text())

            first = trial_key(trial)
            self.progress.trial_start(trial.number, params, config.epochs, None if first == trial.number else first)
            self._judge_cost(trial, run, config)
            listener = WarningsOnRun(self.progress.training_listener(), run)
            result = train(config, report, listener=listener, stop=self.stop)
            self._record_compute(trial, run, clock)
            self._record_success(trial, run, result)
        except TrialInfeasible as infeasible:
            assert run is not None  # only `_judge_cost` finds it infeasible
            self._record_compute(trial, run, clock)
            reason = infeasible.infeasible.text()
            self._best_effort(run.stop_infeasible, reason)
            self.progress.trial_end(trial.number, "INFEASIBLE", None, reason)
            raise
        except optuna.TrialPruned:
            assert run is not None  # only `report` prunes
            self._record_compute(trial, run, clock)
            best = best_reported(stored_trial(trial))
            self._best_effort(
                partial(run.prune, why=pruned[0].tags(), best=best), last_epoch[0] if last_epoch else None
            )
            self.progress.trial_end(trial.number, "PRUNED", None, pruned[0].text())
            raise
        except (TrainingInterrupted, KeyboardInterrupt) as stopped:
            # A KeyboardInterrupt is a Ctrl-C that no handler of ours turned into a stop request (a program
            # that runs the study in a thread, say): it stops the trial just the same.
            done = last_epoch[0] if last_epoch else 0
            interrupted = (
                stopped
                if isinstance(stopped, TrainingInterrupted)
                else TrainingInterrupted(signal.SIGINT, epoch=done + 1, resume_epoch=done)
            )
            self._record_compute(trial, run, clock)
            self._record_interruption(trial, run, interrupted)
            raise TrialInterrupted(trial.number, interrupted) from None
        except Exception as error:
            self._record_compute(trial, run, clock)
            self._record_failure(trial, run, error)
            if isinstance(error, STOPS_THE_STUDY):
                raise
            raise TrialFailed(f"trial {trial.number}: {type(error).__name__}: {error}") from error
        return result.best_miou

    def _judge_cost(self, trial: optuna.Trial, run: TrialRun, config: TrainConfig) -> None:
        """Measure the trial's network before it trains, record the figures on the trial and its run, and
        raise `TrialInfeasible` when they break the study's `constraints` (`sweep.spec.constraints`). An
        unreliable latency is warned about, on the console and as the run's `warning.latency` tag."""
        probe = self.spec.study.latency
        cost = measure_model_cost(config, image_size=probe.image_size, warmup=probe.warmup, repeats=probe.repeats)
        infeasible = judge_trial(trial, cost, self.spec.constraints)
        self.progress.model_cost(cost)
        run.log_summary(cost_metrics(cost))
        warning = unjudged_latency(cost, self.spec.constraints)
        if warning is not None:
            self.progress.console.print(f"warning: trial #{trial.number}: {warning}")
            run.set_tags({"warning.latency": warning[:5000]})
        if infeasible is not None:
            raise TrialInfeasible(infeasible)

    def _record_compute(self, trial: optuna.Trial, run: TrialRun | None, clock: AttemptClock) -> None:
        """The attempt's epochs, wall and GPU seconds as user attrs, and its chain's totals (which a retry's
        run, the same run, adds to) as metrics on its run, before the run ends (`sweep.trials.compute`)."""
        write_compute(trial, clock.stop())
        if run is not None:
            attempts = chains(trial.study.get_trials(deepcopy=False))[trial_key(trial)]
            figures = [TrialRecord.of(attempt).attempt.compute for attempt in attempts]
            self._best_effort(run.log_summary, run_metrics(f for f in figures if f is not None))

    def _record_interruption(self, trial: optuna.Trial, run: TrialRun | None, interrupted: TrainingInterrupted) -> None:
        reason = f"{interrupted}; resumes at epoch {interrupted.resume_epoch + 1}"
        write_interruption(trial, reason)
        retry = enqueue_retry(trial.study, stored_trial(trial))
        if run is not None:
            self._best_effort(run.interrupt, reason)
        self.progress.trial_end(trial.number, "INTERRUPTED", None, f"{reason} (as trial #{retry})")

    def _record_failure(self, trial: optuna.Trial, run: TrialRun | None, error: Exception) -> None:
        """Queue a retry or fail the trial for good, before Optuna records the attempt as FAIL."""
        write_fail_reason(trial, error)
        attempts = chains(trial.study.get_trials(deepcopy=False))[trial_key(trial)]
        used = counted_failures(attempts) + 1  # this attempt is still RUNNING
        max_retries = self.spec.study.max_retries
        if isinstance(error, NOT_RETRIED) or used > max_retries:
            why = "the same params would fail again" if isinstance(error, NOT_RETRIED) else f"it failed {used} times"
            note = f"failed for good: {why} (study.max_retries: {max_retries})"
            write_failed_for_good(trial, note)
        else:
            note = f"retry {used} of {max_retries} queued as trial #{enqueue_retry(trial.study, stored_trial(trial))}"
        if run is not None:
            self._best_effort(run.set_tags, {"retry": note})
            self._best_effort(run.fail, error)
        self.progress.trial_end(trial.number, "FAIL", None, f"{type(error).__name__}: {error}; {note}")

    def _best_effort(self, record: Callable[[Any], None], argument: Any) -> None:
        """Record a trial's end on its run; a tracking failure here is reported, not raised, because the
        trial's outcome is already decided and stored in Optuna (the study's end reconciles the run)."""
        try:
            record(argument)
        except Exception as error:
            self.progress.console.print(f"warning: MLflow did not record it ({type(error).__name__}: {error})")

    def _record_success(self, trial: optuna.Trial, run: TrialRun, result: TrainResult) -> None:
        checkpoint_uri = log_trial_artifacts(run, result, self.spec.train.data)
        write_result(trial, best_epoch=result.best_epoch, epochs_run=result.epochs_run, checkpoint_uri=checkpoint_uri)
        run.backfill(result.history)  # epochs an outage or a dead worker kept from the run
        _report_missing_epochs(trial, result.history)
        run.finish(result.best_miou, result.best_epoch)
        self.progress.trial_end(trial.number, "COMPLETE", result.best_miou)


def _report_missing_epochs(trial: optuna.Trial, history: Sequence[Mapping[str, float]]) -> None:
    """Report to Optuna the epochs of `history` that the trial lacks: a worker killed between an epoch's
    checkpoint and its report left them out, and the retry resumed after that epoch."""
    (stored,) = [t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number]
    for row in history:
        epoch = int(row["epoch"])
        if epoch not in stored.intermediate_values:
            trial.report(row[METRIC], epoch)
