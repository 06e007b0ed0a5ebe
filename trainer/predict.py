"""Inference on whole images: load a model from a checkpoint or an MLflow model URI, write VOC masks.

A model reference is either a local checkpoint file (`best.pt` or `last.pt`) or an MLflow URI such as
`models:/voc@champion` or `runs:/<run id>/model`; the URI's artifacts are downloaded and the checkpoint in
them is used. Weights load with `weights_only=True`: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from trainer.checkpoint import load_checkpoint
from trainer.config import TrainConfig
from trainer.config_loading import config_from_dict
from trainer.data import read_image, voc_palette
from trainer.data.transforms import Normalize
from trainer.errors import CheckpointError
from trainer.components import build_network
from trainer.uris import absolute_sqlite_url

_URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/")
OVERLAY_ALPHA = 0.5


@dataclass(frozen=True)
class Prediction:
    """The files written for one input image."""

    image: Path
    mask: Path
    overlay: Path


def resolve_checkpoint(reference: str | Path, *, tracking_uri: str | None = None) -> Path:
    """A local checkpoint path for `reference`, downloading an MLflow model's artifacts when needed."""
    text = str(reference)
    if not text.startswith(_URI_SCHEMES):
        return Path(text)
    import mlflow
    from mlflow.exceptions import MlflowException

    if tracking_uri is not None:
        mlflow.set_tracking_uri(absolute_sqlite_url(tracking_uri))
    # One folder per URI, reused: repeated predictions do not pile up copies of the same model.
    destination = Path(tempfile.gettempdir()) / "trainer-models" / hashlib.sha256(text.encode()).hexdigest()[:16]
    destination.mkdir(parents=True, exist_ok=True)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=text, dst_path=str(destination)))
    except (MlflowException, OSError) as error:  # an unknown model or alias, or an unreachable store
        raise CheckpointError(f"{text}: cannot download the model ({error})") from error
    found = [local] if local.is_file() else sorted(local.rglob("*.pt"))
    if not found:
        raise CheckpointError(f"{text}: the model's artifacts hold no .pt checkpoint")
    return found[0]


def load_model(reference: str | Path, device: torch.device, *, tracking_uri: str | None = None) -> tuple[nn.Module, TrainConfig]:
    """Rebuild the network a checkpoint was trained as and load its weights; returns it in eval mode."""
    path = resolve_checkpoint(reference, tracking_uri=tracking_uri)
    state = load_checkpoint(path, map_location="cpu")
    config = config_from_dict(state["config"], source=path)
    model = build_network(config.model, initial_weights=False)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise CheckpointError(f"{path}: weights do not fit the configured model ({error})") from error
    return model.to(device).eval(), config


@torch.inference_mode()
def predict_mask(model: nn.Module, image: torch.Tensor, device: torch.device) -> np.ndarray:
    """Labels [H, W] (uint8, 0..20) for one uint8 image [3, H, W] at its own size."""
    normalized, _ = Normalize()(image, torch.empty(0))
    logits = model(normalized.unsqueeze(0).to(device))
    return logits.argmax(dim=1)[0].to(torch.uint8).cpu().numpy()


def colorize(labels: np.ndarray) -> Image.Image:
    """A palette PNG image whose indices are `labels`, coloured with the VOC colour map."""
    mask = Image.fromarray(labels, mode="P")
    mask.putpalette(voc_palette())
    return mask


def overlay(image: torch.Tensor, labels: np.ndarray, alpha: float = OVERLAY_ALPHA) -> Image.Image:
    """The image with each labelled pixel blended towards its class colour; background stays as is."""
    rgb = image.permute(1, 2, 0).numpy().astype(np.float32)
    colours = np.asarray(colorize(labels).convert("RGB"), dtype=np.float32)
    foreground = (labels > 0)[..., None]
    blended = np.where(foreground, (1 - alpha) * rgb + alpha * colours, rgb)
    return Image.fromarray(blended.round().astype(np.uint8), mode="RGB")


def predict_files(model: nn.Module, images: list[Path], out_dir: Path, device: torch.device) -> list[Prediction]:
    """Write `<stem>.png` (VOC palette mask) and `<stem>_overlay.png` into `out_dir` for each image."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in images:
        image = read_image(path)
        labels = predict_mask(model, image, device)
        mask_path, overlay_path = out_dir / f"{path.stem}.png", out_dir / f"{path.stem}_overlay.png"
        colorize(labels).save(mask_path)
        overlay(image, labels).save(overlay_path)
        written.append(Prediction(path, mask_path, overlay_path))
    return written
