"""`trainer train CONFIG.yaml`: one training run from a YAML file."""

from __future__ import annotations

import json

import click

from trainer.cli.progress import RichTrainingProgress
from trainer.config_loading import load_config
from trainer.engine import train


@click.command("train")
@click.argument("config_path", metavar="CONFIG.yaml", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key, e.g. optim.lr=0.01 (repeatable).")
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
