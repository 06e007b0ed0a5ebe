"""Inference on whole images: load a model from a checkpoint file, write VOC masks and overlays.

The model is a local checkpoint (`best.pt` or `last.pt`); registered MLflow models (`models:/voc@champion`)
belong to the sweep layer, whose `sweep predict` resolves them to such a file. Weights load with
`weights_only=True`: nothing is unpickled.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn

from trainer.checkpoint import load_checkpoint
from trainer.components import build_network
from trainer.config import TrainConfig
from trainer.config_loading import config_from_dict
from trainer.data.transforms import normalize_images
from trainer.data.voc import read_image, voc_palette
from trainer.errors import CheckpointError, DatasetError

OVERLAY_ALPHA = 0.5
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/")  # two letters at least: C:/ is a Windows path


@dataclass(frozen=True)
class Prediction:
    """The files written for one input image."""

    image: Path
    mask: Path
    overlay: Path


def load_model(checkpoint: str | Path, device: torch.device) -> tuple[nn.Module, TrainConfig]:
    """Rebuild the network a checkpoint was trained as and load its weights; returns it in eval mode."""
    if _URI.match(str(checkpoint)):
        raise CheckpointError(
            f"{checkpoint}: a model URI, not a checkpoint file; `sweep predict --model {checkpoint}` "
            "resolves registered models, or pass the path of a best.pt"
        )
    path = Path(checkpoint)
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
    logits: torch.Tensor = model(normalize_images(image.unsqueeze(0).to(device)))
    labels: np.ndarray = logits.argmax(dim=1)[0].to(torch.uint8).cpu().numpy()
    return labels


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


def check_images(images: Sequence[Path]) -> None:
    """Raise `DatasetError` naming the first file that is not an image; only headers are read, so it is quick.

    Call it before loading a model: a wrong argument then fails at once, and nothing has been written.
    """
    for path in images:
        try:
            with Image.open(path):
                pass
        except (UnidentifiedImageError, OSError) as error:
            raise DatasetError(path, f"not an image ({error}); pass JPEG or PNG files") from None


def predict_files(model: nn.Module, images: list[Path], out_dir: Path, device: torch.device) -> list[Prediction]:
    """Write `<stem>.png` (VOC palette mask) and `<stem>_overlay.png` into `out_dir` for each image.

    `out_dir` is made once the first image has decoded, so an unreadable first image leaves nothing behind.
    """
    written = []
    for path in images:
        image = read_image(path)
        labels = predict_mask(model, image, device)
        out_dir.mkdir(parents=True, exist_ok=True)
        mask_path, overlay_path = out_dir / f"{path.stem}.png", out_dir / f"{path.stem}_overlay.png"
        colorize(labels).save(mask_path)
        overlay(image, labels).save(overlay_path)
        written.append(Prediction(path, mask_path, overlay_path))
    return written
