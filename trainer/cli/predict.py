"""`trainer predict`: masks and overlays for images, from a checkpoint or an MLflow model URI."""

from __future__ import annotations

import os
from pathlib import Path

import click

from trainer.predict import load_model, predict_files
from trainer.runtime import resolve_device


@click.command("predict")
@click.option("--model", "reference", required=True, metavar="CHECKPOINT_OR_MODEL_URI", help="A best.pt/last.pt file, or models:/NAME@ALIAS, runs:/ID/PATH.")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder for <stem>.png masks and <stem>_overlay.png.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--tracking-uri", default=lambda: os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///runs/mlflow.db"), show_default="$MLFLOW_TRACKING_URI or sqlite:///runs/mlflow.db", help="MLflow tracking URI for models:/ URIs.")
def predict_command(reference: str, images: tuple[Path, ...], out_dir: Path, device: str, tracking_uri: str) -> None:
    """Segment IMAGES and write VOC palette masks and colour overlays to --out."""
    torch_device = resolve_device(device)
    model, _ = load_model(reference, torch_device, tracking_uri=tracking_uri)
    for prediction in predict_files(model, list(images), out_dir, torch_device):
        click.echo(f"{prediction.image} -> {prediction.mask}, {prediction.overlay}")
