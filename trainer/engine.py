"""`train(config, report)`: the one objective that the CLI and every sweep trial call.

Each epoch trains on the train split, evaluates on the whole val images, writes `last.pt` (and `best.pt`
when val mIoU improved), then calls `report(epoch, metrics)`. Checkpoints are written before `report`, so
whatever `report` raises (a sweep's `optuna.TrialPruned`, say) propagates unchanged and nothing finished
is lost. With `checkpoint.resume`, a rerun continues after the last finished epoch and reproduces the
uninterrupted run's numbers. No Optuna or MLflow is needed here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from trainer.checkpoint import BEST_NAME, LAST_NAME, save_checkpoint
from trainer.components import TrainingParts, build_parts, device_policy
from trainer.config import TrainConfig
from trainer.errors import DatasetError
from trainer.evaluation import evaluate
from trainer.interrupt import StopRequest
from trainer.listener import TrainingListener
from trainer.resume import TrainingState, resume_training_state, training_state_dict
from trainer.runtime import seed_everything, use_cpu_share
from trainer.step import LossReadback, TrainStep

ReportCallback = Callable[[int, Mapping[str, float]], None]
"""`report(epoch, metrics)`: epoch is 1-based; metrics holds `train/loss`, `lr`, `val/miou`, ...."""


@dataclass(frozen=True)
class TrainResult:
    """What one training run achieved. `checkpoint` is the best epoch's `best.pt`."""

    best_miou: float
    best_epoch: int
    epochs_run: int
    history: tuple[dict[str, float], ...]
    checkpoint: Path
    stopped_early: bool

    def summary(self) -> dict[str, Any]:
        """The JSON summary printed by `trainer train --json`."""
        return {
            "best_miou": self.best_miou,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epochs_run,
            "stopped_early": self.stopped_early,
            "checkpoint": str(self.checkpoint),
        }


def train(
    config: TrainConfig,
    report: ReportCallback | None = None,
    *,
    listener: TrainingListener | None = None,
    stop: StopRequest | None = None,
) -> TrainResult:
    """Train DeepLabV3+ as `config` says and return the best val mIoU with where it was saved.

    Trains with this process's share of the CPU threads (`trainer.runtime.use_cpu_share`). Raises
    `ConfigError`, `DatasetError`, `WeightsError` or `CheckpointError` before the first step for unusable
    input, `DivergedError` as soon as the loss is NaN or infinite, and whatever `report` raises.
    Once `stop` is requested (see `trainer.interrupt.stop_on_signals`), it raises `TrainingInterrupted`
    after the training or evaluation step in progress; the epochs finished before are in `last.pt`.
    """
    listener = listener or TrainingListener()
    stop = stop or StopRequest()
    policy = device_policy(config)
    seed_everything(config.seed, deterministic=config.deterministic)
    parts = build_parts(config, policy)
    step = TrainStep(parts, policy, grad_clip_norm=config.optim.grad_clip_norm)
    folder = config.checkpoint.dir
    state = TrainingState()
    if config.checkpoint.resume:
        state = resume_training_state(folder, config, parts, step.scaler, policy.device, listener)
    use_cpu_share()  # once the input has proved usable, so that its line never comes before an input error

    listener.on_train_start(config.epochs, len(parts.train_loader), state.epoch)
    try:
        for epoch in range(state.epoch + 1, config.epochs + 1):
            if state.stopped_early:
                break

            def stop_if_requested(epoch: int = epoch) -> None:
                stop.raise_if_requested(epoch=epoch, resume_epoch=epoch - 1)

            stop_if_requested()
            with _stopping_on_dead_loader_workers(stop, epoch):
                train_loss = _train_one_epoch(parts, step, epoch, listener, stop_if_requested)
                metrics = {"train/loss": train_loss, "lr": _head_lr(parts.optimizer)}
                metrics.update(evaluate(parts.model, parts.val_loader, policy, after_batch=stop_if_requested))
            _advance(state, epoch, metrics, config)
            # best.pt first: a crash between the two writes then leaves a last.pt that never names a
            # best epoch whose weights are missing.
            if state.best_epoch == epoch:
                _save_best(parts, config, epoch, metrics, folder / BEST_NAME)
            save_checkpoint(training_state_dict(state, config, parts, step.scaler), folder / LAST_NAME)
            listener.on_epoch_end(epoch, metrics)
            if report is not None:
                report(epoch, metrics)
    finally:
        listener.on_train_end()
    return TrainResult(
        best_miou=state.best_miou,
        best_epoch=state.best_epoch,
        epochs_run=state.epoch,
        history=tuple(state.history),
        checkpoint=folder / BEST_NAME,
        stopped_early=state.stopped_early,
    )


@contextmanager
def _stopping_on_dead_loader_workers(stop: StopRequest, epoch: int) -> Iterator[None]:
    """A signal sent to the whole process group (Ctrl-C in a terminal, a scheduler's SIGTERM) also kills the
    DataLoader's worker processes, and the next batch then fails; with a stop requested, that is the stop."""
    try:
        yield
    except (RuntimeError, DatasetError, OSError):
        stop.raise_if_requested(epoch=epoch, resume_epoch=epoch - 1)
        raise


def _train_one_epoch(
    parts: TrainingParts,
    step: TrainStep,
    epoch: int,
    listener: TrainingListener,
    after_step: Callable[[], None],
) -> float:
    parts.model.train()
    parts.train_loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]

    def report(iteration: int, loss: float, lr: float) -> None:
        listener.on_iteration(epoch, iteration, loss, lr)

    losses = LossReadback(epoch, step.policy.loss_sync_every, report)
    for iteration, batch in enumerate(parts.train_loader, start=1):
        images, masks = parts.prepare_batch(batch)
        losses.add(iteration, step(images, masks), _head_lr(parts.optimizer))
        after_step()
    losses.flush()
    return losses.mean


def _advance(state: TrainingState, epoch: int, metrics: dict[str, float], config: TrainConfig) -> None:
    """Record an evaluated epoch: history, best so far, and the early-stopping counter."""
    miou = metrics["val/miou"]
    stopping = config.early_stopping
    # Patience counts epochs since the last gain of more than min_delta over the value at that gain, so
    # a run of small gains that add up still counts as progress.
    if miou > state.patience_reference + stopping.min_delta:
        state.epochs_without_improvement = 0
        state.patience_reference = miou
    else:
        state.epochs_without_improvement += 1
    if miou > state.best_miou:
        state.best_miou, state.best_epoch = miou, epoch
    state.epoch = epoch
    state.history.append({"epoch": float(epoch), **metrics})
    if stopping.patience is not None and state.epochs_without_improvement >= stopping.patience:
        state.stopped_early = True


def _save_best(parts: TrainingParts, config: TrainConfig, epoch: int, metrics: dict[str, float], path: Path) -> None:
    weights = {name: tensor.detach().cpu() for name, tensor in parts.model.state_dict().items()}
    save_checkpoint({"epoch": epoch, "model": weights, "config": config.to_dict(), "metrics": metrics}, path)


def _head_lr(optimizer: torch.optim.Optimizer) -> float:
    """The largest group learning rate: the head's, since the backbone runs at a multiple of it."""
    return max(float(group["lr"]) for group in optimizer.param_groups)
