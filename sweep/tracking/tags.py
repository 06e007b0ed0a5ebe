"""Names that link Optuna to MLflow, and the tags every run of a study carries.

The Optuna trial keeps its run id in the user attr `mlflow_run_id` (and, once completed, its best epoch in
`best_epoch`) and the study its parent run id in
`mlflow_parent_run_id` (`mlflow_parent_pending_since` while its creator is still making it, None after);
the runs carry `optuna.study_name`, `optuna.storage` (password masked) and `optuna.trial_number`, so each
side can be found from the other.

A trial's run records its whole training config, split in two (`config_params_and_tags`): what shapes
training becomes params, and bookkeeping (where files are) becomes tags. A param that differs in every
trial, such as the checkpoint folder, would fill the compare view's "Show diff only" and its
parallel-coordinates axes with noise.
"""

from __future__ import annotations

import socket
import subprocess

import mlflow
import optuna
import torch

from sweep.trials.record_view import TrialRecord
from trainer.config import TrainConfig
from trainer.config_loading import flatten

PARENT_RUN_ATTR = "mlflow_parent_run_id"
PARENT_PENDING_ATTR = "mlflow_parent_pending_since"
"""Set (to the time) by the process that created the study, until it records the parent run; then None,
which readers take as unset (Optuna cannot delete a user attr)."""
CONFIRMS_TRIAL_TAG = "sweep.confirms_trial"
"""On a confirmation's retrain run: the number of the original trial it trains again (`sweep.spec.confirm`)."""
CONFIRM_SEED_TAG = "sweep.confirm_seed"
"""On a confirmation's retrain run: the retrain's seed, the one value it changes."""
BOOKKEEPING_KEYS = frozenset({"checkpoint.dir", "checkpoint.resume", "data.root", "model.weights_path"})
"""Config keys that say where files are, not how training goes: tags on a trial's run, never params."""


def config_params_and_tags(config: TrainConfig) -> tuple[dict[str, object], dict[str, str]]:
    """The flattened config (dotted keys) as `(params, tags)`: `BOOKKEEPING_KEYS` are the tags."""
    flat = flatten(config.to_dict())
    params = {key: value for key, value in flat.items() if key not in BOOKKEEPING_KEYS}
    tags = {key: str(value) for key, value in flat.items() if key in BOOKKEEPING_KEYS}
    return params, tags


def retrain_tags(record: TrialRecord) -> dict[str, str]:
    """The tags that link a confirmation's retrain run to its original trial; none for any other trial."""
    confirms = record.origin.confirms
    if confirms is None:
        return {}
    return {CONFIRMS_TRIAL_TAG: str(confirms.trial), CONFIRM_SEED_TAG: str(confirms.seed)}


def runtime_tags() -> dict[str, str]:
    """Versions, host and git commit of the code doing the work."""
    tags = {
        "host": socket.gethostname(),
        "torch.version": torch.__version__,
        "optuna.version": optuna.__version__,
        "mlflow.version": mlflow.__version__,
    }
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
        tags["git.commit"] = commit.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass  # not a git checkout, or git missing: the tag is simply absent
    return tags
