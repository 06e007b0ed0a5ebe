"""Where a trial keeps its checkpoints: one folder per chain of attempts, under the study's namespace.

A trial's checkpoints live in `<artifacts_dir>/<namespace>/trial-<N>`, where N is the number of the
*original* trial: a retry (`sweep.trials.retries`) gets the same folder, so `trainer.train` resumes it.
`check_artifacts_dir` says before the first trial whether those folders can be made at all.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import optuna

from sweep.trials.record_view import checkpoint_namespace
from sweep.trials.record_writes import write_checkpoint_namespace
from sweep.trials.retries import first_attempt
from trainer.errors import CheckpointError


def stored_trial(trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    """The trial as stored now: its system attrs, params and intermediate values."""
    return trial.study.get_trials(deepcopy=False)[trial.number]


def trial_key(trial: optuna.Trial) -> int:
    """The number of the trial this one retries, or its own number when it is not a retry."""
    return first_attempt(stored_trial(trial))


def ensure_namespace(study: optuna.Study) -> str:
    """The study's checkpoint namespace, drawn now if it has none (done once by the study's creator)."""
    namespace = checkpoint_namespace(study)
    if namespace is None:
        write_checkpoint_namespace(study, uuid.uuid4().hex[:12])
        namespace = checkpoint_namespace(study)  # the one stored: the last writer's, when workers raced
    assert namespace is not None, "it was just written"
    return namespace


def trial_checkpoint_dir(artifacts_dir: Path, trial: optuna.Trial) -> Path:
    """`<artifacts_dir>/<study namespace>/trial-<original number>`.

    The namespace is a random token kept in the study's user attrs, so a study deleted and created
    again under the same name never picks up the old study's checkpoints, while a retried trial finds
    its original's. Read fresh for each trial, so workers that raced to set it agree afterwards.
    """
    return artifacts_dir / ensure_namespace(trial.study) / f"trial-{trial_key(trial)}"


def check_artifacts_dir(artifacts_dir: Path) -> None:
    """Raise `CheckpointError` naming `artifacts_dir` unless trials can make their folders in it; creates nothing.

    Asked of the nearest part of the path that exists (the folder itself once a study has run there): it must
    be a folder in which a file can be made. A temporary file with no name is made and dropped, so a
    read-only disk or an access list refuses here as it would refuse a checkpoint, where permission bits
    alone could tell otherwise.
    """
    existing = artifacts_dir
    while not (existing.exists() or existing.is_symlink()) and existing != existing.parent:
        existing = existing.parent
    fix = "point study.artifacts_dir at a folder this user can write"
    if not existing.is_dir():
        raise CheckpointError(
            f"study.artifacts_dir {artifacts_dir}: {existing} is in the way, not a folder; move it, or {fix}"
        )
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".sweep-write-check-"):
            pass
    except OSError as error:
        raise CheckpointError(
            f"study.artifacts_dir {artifacts_dir}: trials cannot write in {existing} ({error.strerror or error}); "
            f"fix its permissions, or {fix}"
        ) from None
