"""`sweep promote`: register the best trial's model in the MLflow Model Registry under an alias.

The registered model is a code-based pyfunc (`sweep/serving.py`) whose artifact is the trial's `best.pt`,
bundled with the `trainer` package, so `models:/NAME@ALIAS` loads without unpickling and at any image
size. Promoting is idempotent: the version made from a trial's run is found again and reused.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec

import trainer
from sweep.errors import NothingToPromoteError
from sweep.own_trials import own_best_trial
from sweep.requirements import pip_requirements
from sweep.spec import StudySpec
from sweep.study_lookup import load_existing_study
from sweep.tracking import RUN_ID_ATTR, TrackingStore

SERVING_CODE = Path(__file__).with_name("serving.py")
TRAINER_CODE = Path(trainer.__file__).parent
"""The registered model's code: the pyfunc in `serving.py`, and the `trainer` package bundled with it."""
SIGNATURE = ModelSignature(
    inputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, -1, -1, 3))]),
    outputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, -1, -1))]),
)
"""uint8 RGB images [N, H, W, 3] of any size in, uint8 VOC labels [N, H, W] out."""
MODEL_NAME_IN_RUN = "model"
CHECKPOINT_ARTIFACT = "checkpoint/best.pt"
"""Where each completed trial's run holds its best checkpoint."""

__all__ = ["NothingToPromoteError", "Promotion", "model_requirements", "promote"]


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
    best = own_best_trial(study)
    if best is None:
        raise NothingToPromoteError(
            f"study {spec.study.name!r} has no completed trial yet (copies from a warm start have no model "
            f"here); run `sweep run {spec.source}` until one completes"
        )
    assert best.value is not None  # the best trial is a completed one
    run_id = best.user_attrs.get(RUN_ID_ATTR)
    if run_id is None:
        raise NothingToPromoteError(f"best trial #{best.number} has no MLflow run id (user attr {RUN_ID_ATTR!r})")
    model_name = name or spec.registered_model_name
    store = TrackingStore(spec.tracking_uri)
    versions = store.model_versions_for_run(model_name, str(run_id))
    created = not versions
    if versions:
        version = versions[0]
    else:
        tags = {"study": spec.study.name, "trial_number": str(best.number), "val_miou": f"{best.value:.6f}"}
        version = _register(store, model_name, str(run_id), tags, trial_number=best.number)
    store.set_model_alias(model_name, alias, version)
    return Promotion(model_name, version, alias, str(run_id), best.number, best.value, created)


def _register(store: TrackingStore, name: str, run_id: str, tags: dict[str, str], *, trial_number: int) -> str:
    """Log the trial's `best.pt` as a code-based pyfunc into its run and register it; returns the version."""
    with tempfile.TemporaryDirectory(prefix="sweep-promote-") as scratch:
        try:
            checkpoint = store.download_artifact(run_id, CHECKPOINT_ARTIFACT, Path(scratch))
        except (MlflowException, OSError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise NothingToPromoteError(
                f"best trial #{trial_number}: its checkpoint runs:/{run_id}/{CHECKPOINT_ARTIFACT} cannot be read "
                f"({reason}); nothing was registered. Restore the run's artifacts, or run the study again under a "
                "new study.name"
            ) from None
        model_uri = store.log_model_to_run(
            run_id,
            name=MODEL_NAME_IN_RUN,
            python_model=SERVING_CODE,
            artifacts={"checkpoint": str(checkpoint)},
            code_paths=[TRAINER_CODE],
            pip_requirements=model_requirements(),
            signature=SIGNATURE,
        )
    return store.register_model(model_uri, name, {**tags, "run_id": run_id})


def model_requirements() -> list[str]:
    """What the model's code imports, pinned to the installed versions (those that trained the model)."""
    return pip_requirements([SERVING_CODE, TRAINER_CODE], bundled={TRAINER_CODE.name})
