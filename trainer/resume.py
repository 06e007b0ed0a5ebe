"""The progress of a training run, and saving and restoring it in `last.pt` (refusing checkpoints of another run)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainer.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state
from trainer.components import TrainingParts
from trainer.config import TrainConfig
from trainer.config_loading import flatten
from trainer.errors import CheckpointError

# Keys that may change between a run and its resume without changing the numbers it produces.
_RESUMABLE_CHANGES = ("checkpoint.", "data.num_workers", "device", "early_stopping.")


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


def load_training_state(
    path: Path, config: TrainConfig, parts: TrainingParts, scaler: torch.amp.GradScaler, device: torch.device
) -> TrainingState:
    """Load `path` into the live parts and return the progress it records.

    Optimizer state is mapped onto `device` (a checkpoint written on GPU resumes on CPU and back).
    """
    saved = load_checkpoint(path, map_location=device)
    _check_same_run(path, saved.get("config", {}), config)
    try:
        parts.model.load_state_dict(saved["model"])
        parts.optimizer.load_state_dict(saved["optimizer"])
        parts.scheduler.load_state_dict(saved["scheduler"])
        scaler.load_state_dict(saved["scaler"])
    except (KeyError, RuntimeError, ValueError) as error:
        raise CheckpointError(f"{path}: does not fit this model or optimizer ({error})") from error
    restore_rng_state(saved["rng"])
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
