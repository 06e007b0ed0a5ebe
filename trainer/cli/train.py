"""`trainer train CONFIG.yaml`: one training run from a YAML file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from trainer.cli.progress import RichTrainingProgress
from trainer.config_loading import load_config
from trainer.engine import train
from trainer.evaluation import evaluate_checkpoint

SET_OPTION = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key, e.g. optim.lr=0.01 (repeatable).",
)


@click.command("train")
@click.argument("config_path", metavar="CONFIG.yaml", type=click.Path(dir_okay=False))
@SET_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary as the last line of stdout.")
@click.option("--print-config", is_flag=True, help="Print the fully resolved config as YAML and exit.")
def train_command(config_path: str, overrides: tuple[str, ...], as_json: bool, print_config: bool) -> None:
    """Train DeepLabV3+ as CONFIG.yaml says; resumes from the checkpoint folder's last.pt if present."""
    config = load_config(config_path, overrides)
    if print_config:
        import yaml

        click.echo(yaml.safe_dump(config.to_dict(), sort_keys=False))
        return
    result = train(config, listener=RichTrainingProgress())
    summary = result.summary()
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"best val mIoU {result.best_miou:.4f} at epoch {result.best_epoch} "
            f"({result.epochs_run} epochs run); best checkpoint: {result.checkpoint}"
        )


@click.command("evaluate")
@click.argument("config_path", metavar="CONFIG.yaml", type=click.Path(dir_okay=False))
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Weights to evaluate (default: the untrained network).",
)
@SET_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print every val metric as JSON.")
def evaluate_command(config_path: str, checkpoint: Path | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Val metrics of a checkpoint, or of the untrained network, on CONFIG.yaml's val split."""
    metrics = evaluate_checkpoint(load_config(config_path, overrides), checkpoint)
    if as_json:
        click.echo(json.dumps(metrics))
    else:
        click.echo(f"val mIoU {metrics['val/miou']:.4f}  pixel accuracy {metrics['val/pixel_accuracy']:.4f}")
