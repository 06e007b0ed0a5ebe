"""The Optuna objective: sample, build a TrainConfig, train with pruning, and track it all in MLflow.

A trial's checkpoints live in `<artifacts_dir>/trial-<N>`, where N is the number of the *original* trial:
a trial retried after its worker died gets the same folder (and the same MLflow run, through the inherited
user attrs), so `trainer.train` resumes it from its last finished epoch.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from pathlib import Path

import optuna

from sweep.artifacts import log_trial_artifacts
from sweep.budget import TrialBudget, first_attempt
from sweep.disk import CHECKPOINT_DIR_ATTR
from sweep.progress import SweepProgress
from sweep.space import suggest
from sweep.spec import StudySpec
from sweep.streams import record_stream
from sweep.tracking import StudyTracker, TrialRun
from trainer.engine import TrainResult, train

METRIC = "val/miou"
NAMESPACE_ATTR = "checkpoint_namespace"


def trial_key(trial: optuna.Trial) -> int:
    """The number of the trial this one retries, or its own number when it is not a retry."""
    frozen = trial.study.get_trials(deepcopy=False)[trial.number]  # system attrs live on the frozen trial
    return first_attempt(frozen)


def ensure_namespace(study: optuna.Study) -> str:
    """The study's checkpoint namespace, drawn now if it has none (done once by the study's creator)."""
    namespace = study.user_attrs.get(NAMESPACE_ATTR)
    if namespace is None:
        study.set_user_attr(NAMESPACE_ATTR, uuid.uuid4().hex[:12])
        namespace = study.user_attrs[NAMESPACE_ATTR]
    return str(namespace)


def trial_checkpoint_dir(artifacts_dir: Path, trial: optuna.Trial) -> Path:
    """`<artifacts_dir>/<study namespace>/trial-<original number>`.

    The namespace is a random token kept in the study's user attrs, so a study deleted and created
    again under the same name never picks up the old study's checkpoints, while a retried trial finds
    its original's. Read fresh for each trial, so workers that raced to set it agree afterwards.
    """
    return artifacts_dir / ensure_namespace(trial.study) / f"trial-{trial_key(trial)}"


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
    ) -> None:
        self.spec = spec
        self.tracker = tracker
        self.parent_run_id = parent_run_id
        self.progress = progress
        self.data_tags = dict(data_tags)
        self.budget = budget or TrialBudget(spec.study.n_trials)

    def __call__(self, trial: optuna.Trial) -> float:
        self.budget.claim(trial)  # a trial created after the budget was taken ends here, untracked
        record_stream(trial)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        params = suggest(trial, self.spec.search)
        checkpoint_dir = trial_checkpoint_dir(self.spec.artifacts_dir, trial)
        config = self.spec.trial_config(params, checkpoint_dir=checkpoint_dir)
        trial.set_user_attr(CHECKPOINT_DIR_ATTR, str(checkpoint_dir))
        run = self.tracker.start_trial(trial, config, self.parent_run_id, self.data_tags)
        last_epoch: list[int] = []

        def report(epoch: int, metrics: Mapping[str, float]) -> None:
            last_epoch[:] = [epoch]
            run.log_epoch(epoch, metrics)
            self.progress.epoch_end(epoch, metrics)
            trial.report(metrics[METRIC], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"val mIoU {metrics[METRIC]:.4f} at epoch {epoch} is below the median")

        try:  # from here on the run exists: whatever stops the trial, even Ctrl-C, is recorded on it
            self.progress.trial_start(trial.number, params, config.epochs)
            result = train(config, report, listener=self.progress.training_listener())
        except optuna.TrialPruned:
            run.prune(last_epoch[0] if last_epoch else None)
            self.progress.trial_end(trial.number, "PRUNED", None)
            raise
        except BaseException as error:
            trial.set_user_attr("fail_reason", f"{type(error).__name__}: {error}"[:1000])
            run.fail(error)
            self.progress.trial_end(trial.number, "FAIL", None)
            raise
        self._record_success(trial, run, result, checkpoint_dir)
        return result.best_miou

    def _record_success(self, trial: optuna.Trial, run: TrialRun, result: TrainResult, checkpoint_dir: Path) -> None:
        trial.set_user_attr("best_epoch", result.best_epoch)
        trial.set_user_attr("epochs_run", result.epochs_run)
        trial.set_user_attr("checkpoint", str(result.checkpoint))
        log_trial_artifacts(run, result, self.spec.train.data)
        run.finish(result.best_miou)
        self.progress.trial_end(trial.number, "COMPLETE", result.best_miou)
