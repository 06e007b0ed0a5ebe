"""MLflow model URIs (`models:/NAME@ALIAS`, `runs:/ID/PATH`) resolved to the checkpoint file they hold.

The registry is the sweep layer's: `sweep promote` writes `models:/` URIs, and this module reads them back
for `sweep predict`. The trainer itself only ever sees the local checkpoint file.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from sweep.database_urls import TrackingUri, describe_error
from trainer.errors import CheckpointError

MODEL_URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")


def is_model_uri(reference: str | Path) -> bool:
    """True for an MLflow model or artifact URI, False for a file path."""
    return str(reference).startswith(MODEL_URI_SCHEMES)


def resolve_checkpoint(reference: str | Path, *, tracking_uri: TrackingUri | None = None) -> Path:
    """A local checkpoint path for `reference`: a file path as is, an MLflow URI by downloading its artifacts.

    Raises `CheckpointError` for an unknown model or alias, an unreachable store, or artifacts without a
    `.pt` file.
    """
    text = str(reference)
    if not is_model_uri(text):
        return Path(text)
    database = tracking_uri.sqlite_file if tracking_uri is not None else None
    if database is not None and not database.is_file():  # MLflow would create an empty store there
        raise CheckpointError(
            f"{text}: cannot download the model: no MLflow database at {database}; "
            "pass --tracking-uri (or set MLFLOW_TRACKING_URI) to the store that `sweep promote` wrote to"
        )
    import mlflow
    from mlflow.exceptions import MlflowException

    if tracking_uri is not None:
        mlflow.set_tracking_uri(tracking_uri.absolute())
    # One folder per URI, reused: repeated predictions do not pile up copies of the same model.
    downloads = Path(tempfile.gettempdir()) / "trainer-models"
    destination = downloads / hashlib.sha256(text.encode()).hexdigest()[:16]
    made = [folder for folder in (destination, downloads) if not folder.exists()]
    destination.mkdir(parents=True, exist_ok=True)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=text, dst_path=str(destination)))
    except (MlflowException, OSError) as error:  # an unknown model or alias, or an unreachable store
        if destination in made:  # a failed download leaves no folder behind
            shutil.rmtree(destination, ignore_errors=True)
        if downloads in made:
            _remove_if_empty(downloads)
        message = describe_error(error, *(() if tracking_uri is None else (tracking_uri,)))
        raise CheckpointError(
            f"{text}: cannot download the model ({message}); `sweep best STUDY.yaml` prints a study's model URIs"
        ) from error
    found = [local] if local.is_file() else sorted(local.rglob("*.pt"))
    if not found:
        raise CheckpointError(f"{text}: the model's artifacts hold no .pt checkpoint")
    return found[0]


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # another download has started in it meanwhile
        pass
