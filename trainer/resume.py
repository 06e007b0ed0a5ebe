"""The progress of a training run, and saving and restoring it in `last.pt` (refusing checkpoints of another run).

A `last.pt` whose content is no checkpoint (truncated, garbage, another program's file) cannot be resumed
and would otherwise fail every retry of the trial: it is discarded, with the `best.pt` of its timeline, and
training starts over. A readable checkpoint that does not fit (another configuration, format or model, or
no training state) is a user error and raises `CheckpointError`: it may be the only copy of a long run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from trainer.checkpoint import (
    BEST_NAME,
    LAST_NAME,
    capture_rng_state,
    delete_checkpoint,
    load_checkpoint,
    restore_rng_state,
)
from trainer.components import TrainingParts
from trainer.config import TrainConfig
from trainer.config_loading import flatten
from trainer.errors import CheckpointError, CorruptCheckpointError
from trainer.listener import TrainingListener

# Keys that may change between a run and its resume without changing the numbers it produces.
_RESUMABLE_CHANGES = ("checkpoint.", "data.num_workers", "device", "early_stopping.", "compile", "loss_sync_every")


@dataclass
class TrainingState:
    """Progress that a checkpoint carries across a restart."""

    epoch: int = 0
    best_miou: float = -math.inf
    best_epoch: int = 0
    patience_reference: float = -math.inf
    epochs_without_improvement: int = 0
    stopped_early: bool = False
    history: list[dict[str, float]] = field(default_factory=list)


# What `training_state_dict` writes; a checkpoint without all of it (a best.pt) cannot be resumed from.
_TRAINING_KEYS = {item.name for item in fields(TrainingState)} | {
    "model",
    "optimizer",
    "scheduler",
    "scaler",
    "config",
    "rng",
}


def training_state_dict(
    state: TrainingState, config: TrainConfig, parts: TrainingParts, scaler: torch.amp.GradScaler
) -> dict[str, Any]:
    """Everything needed to continue exactly after `state.epoch`."""
    return {
        **asdict(state),
        "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "config": config.to_dict(),
        "rng": capture_rng_state(),
    }


def resume_training_state(
    folder: Path,
    config: TrainConfig,
    parts: TrainingParts,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    listener: TrainingListener,
) -> TrainingState:
    """Load `folder`'s `last.pt` into the live parts and return its progress; a fresh state if there is none.

    A corrupt `last.pt` is deleted with `best.pt`, `listener.on_checkpoint_discarded` hears why, and the
    fresh state is returned; nothing of it has reached the parts. Otherwise `listener.on_resume` is called,
    and optimizer state is mapped onto `device` (a checkpoint written on GPU resumes on CPU and back).
    Raises `CheckpointError` for a checkpoint of another run or model, or one that cannot be read or deleted.
    """
    path = folder / LAST_NAME
    if not path.is_file():
        return TrainingState()
    try:
        saved = load_checkpoint(path, map_location=device)
    except CorruptCheckpointError as error:
        # best.pt first: if we are stopped in between, the corrupt last.pt is still there to be found again.
        delete_checkpoint(folder / BEST_NAME)
        delete_checkpoint(path)
        listener.on_checkpoint_discarded(path, str(error))
        return TrainingState()
    state = _restore(path, saved, config, parts, scaler)
    listener.on_resume(state.epoch, path)
    return state


def _restore(
    path: Path, saved: dict[str, Any], config: TrainConfig, parts: TrainingParts, scaler: torch.amp.GradScaler
) -> TrainingState:
    missing = sorted(_TRAINING_KEYS - saved.keys())
    if missing:
        raise CheckpointError(
            f"{path}: holds weights but no training state (missing: {', '.join(missing)}); "
            "resume only from a last.pt, or set checkpoint.resume=false to start over"
        )
    _check_same_run(path, saved["config"], config)
    try:
        parts.model.load_state_dict(saved["model"])
        parts.optimizer.load_state_dict(saved["optimizer"])
        parts.scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
        restore_rng_state(saved["rng"])
    except (KeyError, RuntimeError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: does not fit this model or optimizer ({error})") from error
    return TrainingState(
        epoch=int(saved["epoch"]),
        best_miou=float(saved["best_miou"]),
        best_epoch=int(saved["best_epoch"]),
        patience_reference=float(saved["patience_reference"]),
        epochs_without_improvement=int(saved["epochs_without_improvement"]),
        stopped_early=bool(saved["stopped_early"]),
        history=[dict(row) for row in saved["history"]],
    )


def _check_same_run(path: Path, saved: dict[str, Any], config: TrainConfig) -> None:
    old, new = flatten(saved), flatten(config.to_dict())
    changed = sorted(
        key
        for key in old.keys() | new.keys()
        if old.get(key) != new.get(key) and not key.startswith(_RESUMABLE_CHANGES)
    )
    if changed:
        raise CheckpointError(
            f"{path}: was written by a different configuration (changed: {', '.join(changed)}); "
            "point checkpoint.dir at a new folder, or set checkpoint.resume=false to start over"
        )
