"""Files logged on a completed trial's run: best checkpoint, per-class IoU table and val overlays."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sweep.tracking import TrialRun
from trainer.config import DataConfig
from trainer.constants import VOC_CLASSES
from trainer.data import VOCSegmentation
from trainer.engine import TrainResult
from trainer.predict import colorize, load_model, predict_mask

CHECKPOINT_FOLDER = "checkpoint"
"""The run's artifact folder of the best checkpoint."""
OVERLAY_IMAGES = 3
"""How many val images (the first ones of the split, the same for every trial) get an overlay."""


def log_trial_artifacts(run: TrialRun, result: TrainResult, data: DataConfig) -> str:
    """Log `checkpoint/best.pt`, `per_class_iou.csv` and `overlays/<id>.png` (image | truth | prediction);
    returns the logged checkpoint's URI, `runs:/<run id>/checkpoint/best.pt`, which outlives the local file."""
    run.log_artifact(result.checkpoint, CHECKPOINT_FOLDER)
    with tempfile.TemporaryDirectory(prefix="sweep-artifacts-") as scratch:
        folder = Path(scratch)
        table = write_per_class_iou(result, folder / "per_class_iou.csv")
        run.log_artifact(table)
        overlays = folder / "overlays"
        write_overlays(result.checkpoint, data, overlays)
        for path in sorted(overlays.iterdir()):
            run.log_artifact(path, "overlays")
    return f"runs:/{run.run_id}/{CHECKPOINT_FOLDER}/{result.checkpoint.name}"


def write_per_class_iou(result: TrainResult, path: Path) -> Path:
    """CSV of `class,iou` at the best epoch; classes absent from val and prediction have an empty IoU."""
    best = result.history[result.best_epoch - 1]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["class", "iou"])
        for name in VOC_CLASSES:
            value = best.get(f"val/iou/{name}", float("nan"))
            writer.writerow([name, "" if np.isnan(value) else f"{value:.6f}"])
    return path


def write_overlays(checkpoint: Path, data: DataConfig, out_dir: Path, count: int = OVERLAY_IMAGES) -> list[Path]:
    """Side-by-side PNGs of the first `count` val images: the image, its ground truth, the prediction."""
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device("cpu")
    model, _ = load_model(checkpoint, device)
    dataset = VOCSegmentation(data.root, data.val_split)
    written = []
    for index in range(min(count, len(dataset))):
        image, mask = dataset[index]
        predicted = predict_mask(model, image, device)
        panels = [
            Image.fromarray(image.permute(1, 2, 0).numpy(), mode="RGB"),
            colorize(mask.numpy().astype(np.uint8)).convert("RGB"),
            colorize(predicted).convert("RGB"),
        ]
        width, height = panels[0].size
        sheet = Image.new("RGB", (3 * width, height))
        for position, panel in enumerate(panels):
            sheet.paste(panel, (position * width, 0))
        path = out_dir / f"{dataset.ids[index]}.png"
        sheet.save(path)
        written.append(path)
    return written
