"""`sweep promote`: register the best trial's model in the MLflow Model Registry under an alias.

The registered model is a code-based pyfunc (`sweep/serving.py`) whose artifact is the trial's `best.pt`,
bundled with the `trainer` package, so `models:/NAME@ALIAS` loads without unpickling and at any image
size. Promoting is idempotent: the version made from a trial's run is found again and reused.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import torch
import torchvision
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import Schema, TensorSpec
from optuna.trial import TrialState

import trainer
from sweep.spec import StudySpec
from sweep.study import load_existing_study
from sweep.tracking import RUN_ID_ATTR
from trainer.errors import TrainerError

SERVING_CODE = Path(__file__).with_name("serving.py")
SIGNATURE = ModelSignature(
    inputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, -1, -1, 3))]),
    outputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, -1, -1))]),
)
"""uint8 RGB images [N, H, W, 3] of any size in, uint8 VOC labels [N, H, W] out."""
MODEL_NAME_IN_RUN = "model"


class NothingToPromoteError(TrainerError):
    """The study has no completed trial, or its best trial has no MLflow run to take the model from."""


@dataclass(frozen=True)
class Promotion:
    """The registry entry that `promote` made or found."""

    name: str
    version: str
    alias: str
    run_id: str
    trial_number: int
    value: float
    created: bool

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}"


def promote(spec: StudySpec, *, alias: str = "champion", name: str | None = None) -> Promotion:
    """Register the best completed trial's model (once) and point `alias` at that version."""
    study = load_existing_study(spec)
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise NothingToPromoteError(
            f"study {spec.study.name!r} has no completed trial yet; run `sweep run {spec.source}` until one completes"
        )
    best = study.best_trial
    run_id = best.user_attrs.get(RUN_ID_ATTR)
    if run_id is None:
        raise NothingToPromoteError(f"best trial #{best.number} has no MLflow run id (user attr {RUN_ID_ATTR!r})")
    model_name = name or spec.registered_model_name
    client = MlflowClient(spec.tracking_uri)
    versions = client.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'")
    created = not versions
    version = versions[0].version if versions else _register(client, spec, model_name, str(run_id), best.number, float(best.value))
    client.set_registered_model_alias(model_name, alias, version)
    return Promotion(model_name, str(version), alias, str(run_id), best.number, float(best.value), created)


def _register(client: MlflowClient, spec: StudySpec, name: str, run_id: str, trial_number: int, value: float) -> str:
    with tempfile.TemporaryDirectory(prefix="sweep-promote-") as scratch:
        checkpoint = client.download_artifacts(run_id, "checkpoint/best.pt", scratch)
        # Logging a model into the trial's run needs MLflow's fluent API (it links the LoggedModel to
        # the run); whatever happens, the completed trial's run ends FINISHED as before.
        mlflow.set_tracking_uri(spec.tracking_uri)
        try:
            with mlflow.start_run(run_id=run_id), warnings.catch_warnings():
                # The signature is explicit; MLflow's advice about type hints and input examples is noise.
                warnings.simplefilter("ignore", UserWarning)
                info = mlflow.pyfunc.log_model(
                    name=MODEL_NAME_IN_RUN,
                    python_model=str(SERVING_CODE),
                    artifacts={"checkpoint": checkpoint},
                    code_paths=[str(Path(trainer.__file__).parent)],
                    pip_requirements=_requirements(),
                    signature=SIGNATURE,
                )
        finally:
            client.set_terminated(run_id, status="FINISHED")
    version = mlflow.register_model(
        info.model_uri,
        name,
        tags={"study": spec.study.name, "trial_number": str(trial_number), "val_miou": f"{value:.6f}", "run_id": run_id},
    )
    return str(version.version)


def _requirements() -> list[str]:
    """Pinned to what trained the model; given explicitly, since inferring them costs seconds per call."""
    return [
        f"torch=={torch.__version__.split('+')[0]}",
        f"torchvision=={torchvision.__version__.split('+')[0]}",
        f"mlflow=={mlflow.__version__}",
        "numpy",
        "pillow",
        "pydantic>=2",
        "pyyaml",
    ]
