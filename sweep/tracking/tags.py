"""Names that link Optuna to MLflow, and the tags every run of a study carries.

The Optuna trial keeps its run id in the user attr `mlflow_run_id` and the study its parent run id in
`mlflow_parent_run_id` (`mlflow_parent_pending_since` while its creator is still making it); the runs carry `optuna.study_name`, `optuna.storage` (password masked) and
`optuna.trial_number`, so each side can be found from the other.
"""

from __future__ import annotations

import socket
import subprocess

import mlflow
import optuna
import torch

RUN_ID_ATTR = "mlflow_run_id"
PARENT_RUN_ATTR = "mlflow_parent_run_id"
PARENT_PENDING_ATTR = "mlflow_parent_pending_since"
"""Set (to the time) by the process that created the study, until it records the parent run."""


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
