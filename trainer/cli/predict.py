"""`trainer predict`: masks and overlays for images, from a checkpoint file."""

from __future__ import annotations

from pathlib import Path

import click

from trainer.console import prediction_options
from trainer.predict import check_images, load_model, predict_files
from trainer.runtime import resolve_device


@click.command("predict")
@click.option(
    "--model",
    "checkpoint",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A best.pt or last.pt file (for models:/NAME@ALIAS, use `sweep predict`).",
)
@prediction_options
def predict_command(checkpoint: Path, images: tuple[Path, ...], out_dir: Path, device: str) -> None:
    """Segment IMAGES and write VOC palette masks and colour overlays to --out."""
    check_images(images)
    torch_device = resolve_device(device)
    model, _ = load_model(checkpoint, torch_device)
    for prediction in predict_files(model, list(images), out_dir, torch_device):
        click.echo(f"{prediction.image} -> {prediction.mask}, {prediction.overlay}")
