"""`TrialRun`: the MLflow run of one trial, which rides out a tracking server that is briefly away.

Training never waits long for MLflow. An epoch's metrics and a trial's tags go out as batches, in order;
when the server cannot be reached within `EPOCH` patience (a few seconds) the batch stays pending in
memory, and every later call first sends what is pending. The end of a trial (`finish`, `prune`, `fail`)
and artifact uploads must arrive: they send the pending batches and their own with `FLUSH` patience (about
two minutes), then raise `TrackingError` if the server is still away. The pending batches live only in
this object; `backfill` completes a run from the trial's history when they were lost with it. With
`system_metrics`, MLflow samples the host (CPU, memory, GPUs) onto the run until the trial's end.

A new run logs its objective first. MLflow's compare view opens its parallel-coordinates plot on the first
metric that every compared run has, in the order the server returns the first run's metrics, which is the
order the run first logged them. So on a new run, `best_val_miou` (the best so far: epoch 1's `val/miou`)
leads the first epoch's batch, and what is logged before it (the network's figures, the system metrics) is
held back until that batch has gone, then sent with its own times and steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from mlflow.exceptions import MlflowException

from sweep.errors import TrackingError
from sweep.tracking.batches import Batch, make_batches
from sweep.tracking.outages import EPOCH, FLUSH, Patience, call_patiently
from sweep.tracking.store import EndStatus, TrackingStore
from sweep.tracking.system_metrics import SystemMetrics

EPOCH_METRIC = "val/miou"
"""Logged for every trained epoch: its steps in the run are the epochs the run has."""
OBJECTIVE_METRIC = "best_val_miou"
"""The trial's objective (its best epoch's `val/miou`), on each completed trial's run, and the best value so
far on a pruned one (the `pruned` tag tells them apart): the runs table sorts by it, where `val/miou` would
show the last epoch's value, and the compare view plots every trial that trained an epoch on its axis. A
new run also logs it at its first epoch (the best so far then), as its first metric."""
BEST_EPOCH_METRIC = "best_epoch"
_MAX_ERROR_LENGTH = 5000
Result = TypeVar("Result")


def objective_metrics(best_miou: float, best_epoch: int) -> dict[str, float]:
    """What a completed (or pruned) trial's run records of its objective: `best_val_miou` and `best_epoch`."""
    return {OBJECTIVE_METRIC: best_miou, BEST_EPOCH_METRIC: float(best_epoch)}


class TrialRun:
    """The MLflow run of one trial: per-epoch logging that never blocks for long, and an end that arrives."""

    def __init__(
        self,
        store: TrackingStore,
        run_id: str,
        system_metrics: SystemMetrics | None = None,
        *,
        objective_first: bool = False,
    ) -> None:
        """`system_metrics`: the run's monitor, if any; it stops when the trial ends (`finish`, `prune`, ...).
        `objective_first`: a new run, whose first metric is to be its objective; its summaries (and the
        monitor, which must be `held`) wait for the first epoch."""
        self._store = store
        self.run_id = run_id
        self._pending: list[Batch] = []
        self._system_metrics = system_metrics
        self._objective_first = objective_first
        self._held: list[Batch] = []

    @property
    def pending(self) -> int:
        """How many batches wait for the server."""
        return len(self._pending)

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """All of an epoch's metrics at `step=epoch`; kept pending when the server is away. On a new run's
        first epoch, the objective so far leads them, and what was held back follows."""
        if self._objective_first and epoch == 1:
            metrics = {OBJECTIVE_METRIC: metrics[EPOCH_METRIC], **metrics}
        self._deliver(make_batches(metrics=metrics, step=epoch), must_arrive=False)
        self._release_held()

    def log_summary(self, metrics: Mapping[str, float]) -> None:
        """Metrics of the whole run (at step 0; a later call's values win); kept pending when the server is
        away, and held back on a new run until its first epoch."""
        batches = make_batches(metrics=metrics, step=0)
        if self._objective_first:
            self._held.extend(batches)
        else:
            self._deliver(batches, must_arrive=False)

    def _release_held(self) -> None:
        """Send the summaries held back for the objective to come first, and let the monitor send."""
        if self._objective_first:
            self._objective_first = False
            held, self._held = self._held, []
            self._deliver(held, must_arrive=False)
        if self._system_metrics is not None:
            self._system_metrics.release()

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Tags on the run; kept pending when the server is away."""
        self._deliver(make_batches(tags=tags), must_arrive=False)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Upload one file, after the pending batches; raises `TrackingError` if the server stays away."""
        self._deliver([], must_arrive=True)
        self._call(FLUSH, lambda: self._store.log_artifacts(self.run_id, [path], artifact_path))

    def backfill(self, history: Sequence[Mapping[str, float]]) -> list[int]:
        """Log each epoch of `history` (`trainer.engine.TrainResult.history`: dicts with `epoch` and the
        metrics) whose `EPOCH_METRIC` the run lacks; returns those epochs. For a trial retried after its
        pending batches were lost: afterwards the run has every epoch's metrics, each once."""
        self._deliver([], must_arrive=True)
        logged = {step for step, _ in self._call(FLUSH, lambda: self._store.metric_history(self.run_id, EPOCH_METRIC))}
        missing = [entry for entry in history if int(entry["epoch"]) not in logged]
        for entry in missing:
            metrics = {key: value for key, value in entry.items() if key != "epoch"}
            self._deliver(make_batches(metrics=metrics, step=int(entry["epoch"])), must_arrive=True)
        return [int(entry["epoch"]) for entry in missing]

    def finish(self, best_miou: float, best_epoch: int) -> None:
        """The trial completed: its objective as metrics (`objective_metrics`, at step `best_epoch`), its
        Optuna state and best value as tags, and the run FINISHED."""
        tags = {"optuna.state": "COMPLETE", "best_miou": f"{best_miou:.6f}"}
        self._end(tags, "FINISHED", metrics=objective_metrics(best_miou, best_epoch), step=best_epoch)

    def prune(
        self, epoch: int | None, why: Mapping[str, str] | None = None, *, best: tuple[float, int] | None = None
    ) -> None:
        """The pruner stopped the trial after `epoch` (None: before any epoch ended), for the reasons in the
        tags `why` (`sweep.trials.prune_explanation`); the run ends KILLED. `best`: the best val mIoU the
        trial reported to Optuna and its epoch, recorded as `objective_metrics` (at step that epoch) as a
        completed trial's are; None when it reported no number."""
        tags = {"optuna.state": "PRUNED", "pruned": "true", "pruned_at_epoch": str(epoch), **(why or {})}
        if best is None:
            self._end(tags, "KILLED")
            return
        best_miou, best_epoch = best
        self._end(tags, "KILLED", metrics=objective_metrics(best_miou, best_epoch), step=best_epoch)

    def stop_infeasible(self, reason: str) -> None:
        """The trial's network breaks the study's constraints (`reason` names the bounds) and it trained
        nothing; Optuna records it PRUNED, and the run ends KILLED with the `infeasible` tag."""
        self._end({"optuna.state": "PRUNED", "infeasible": reason[:_MAX_ERROR_LENGTH]}, "KILLED")

    def fail(self, error: BaseException) -> None:
        """The trial raised `error` (named in the `error` tag); the run ends FAILED."""
        message = f"{type(error).__name__}: {error}"[:_MAX_ERROR_LENGTH]
        self._end({"optuna.state": "FAIL", "error": message}, "FAILED")

    def interrupt(self, reason: str) -> None:
        """A signal stopped the trial (`reason`: which, when, where it resumes); the run ends KILLED until
        the trial's retry reopens it."""
        self._end({"optuna.state": "INTERRUPTED", "interrupted": reason}, "KILLED")

    def _end(
        self, tags: Mapping[str, str], status: EndStatus, *, metrics: Mapping[str, float] | None = None, step: int = 0
    ) -> None:
        """Send everything pending, `tags` and `metrics` (at `step`), then end the run; raises `TrackingError`
        if the server stays away."""
        self._release_held()
        if self._system_metrics is not None:
            self._system_metrics.stop()  # its last samples go out while the run is still RUNNING
        self._deliver(make_batches(metrics=metrics, step=step, tags=tags), must_arrive=True)
        self._call(FLUSH, lambda: self._store.end_run(self.run_id, status))

    def _deliver(self, batches: list[Batch], *, must_arrive: bool) -> None:
        """Queue `batches` behind the pending ones and send them all, oldest first.

        An unreachable server leaves the rest pending, or, when they `must_arrive`, raises its
        `TrackingError` after `FLUSH` patience. A batch the server refuses is dropped (it would be refused
        again) and the refusal raised.
        """
        self._pending.extend(batches)
        while self._pending:
            try:
                self._call(FLUSH if must_arrive else EPOCH, lambda: self._store.send(self.run_id, self._pending[0]))
            except TrackingError:
                if must_arrive:
                    raise
                return
            except MlflowException:
                del self._pending[0]
                raise
            del self._pending[0]

    def _call(self, patience: Patience, call: Callable[[], Result]) -> Result:
        return call_patiently(patience, call, tracking_uri=self._store.tracking_uri)
