"""`trainer train CONFIG.yaml`: one training run from a YAML file; `evaluate` and `cost` read the same file."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from trainer.cli.progress import RichTrainingProgress
from trainer.config_loading import load_config
from trainer.constants import LATENCY_IMAGE_SIZE
from trainer.engine import train
from trainer.evaluation import evaluate_checkpoint
from trainer.interrupt import Interrupted, TrainingInterrupted, stop_on_signals
from trainer.model_cost import measure_model_cost

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
    """Train DeepLabV3+ as CONFIG.yaml says; resumes from the checkpoint folder's last.pt if present.

    SIGINT (Ctrl-C) or SIGTERM stops after the current step with exit code 130 or 143; run the same
    command again to resume. A second signal exits at once.
    """
    config = load_config(config_path, overrides)
    if print_config:
        import yaml

        click.echo(yaml.safe_dump(config.to_dict(), sort_keys=False))
        return
    try:
        with stop_on_signals() as stop:
            result = train(config, listener=RichTrainingProgress(), stop=stop)
    except TrainingInterrupted as error:
        how = (
            f"run the same command again to resume at epoch {error.resume_epoch + 1}"
            if config.checkpoint.resume and error.resume_epoch
            else "run the same command again to start over"
        )
        raise Interrupted(error.signal_number, f"{error}; {how}") from None
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


@click.command("cost")
@click.argument("config_path", metavar="CONFIG.yaml", type=click.Path(dir_okay=False))
@SET_OPTION
@click.option(
    "--image-size",
    type=click.IntRange(min=32),
    default=LATENCY_IMAGE_SIZE,
    show_default=True,
    help="Side of the square image whose latency is measured.",
)
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True, help="Untimed passes first.")
@click.option("--repeats", type=click.IntRange(min=1), default=10, show_default=True, help="Timed passes (median).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def cost_command(
    config_path: str, overrides: tuple[str, ...], image_size: int, warmup: int, repeats: int, as_json: bool
) -> None:
    """Parameters, GFLOPs at the crop size and inference latency of CONFIG.yaml's network on its device.

    The numbers a sweep's `constraints` bound (README, section Sweeps); nothing is trained or downloaded.
    A latency measured while other processes competed for the CPUs is flagged unreliable, with a warning
    (in the JSON: `latency_reliable` and `latency_warning`)."""
    cost = measure_model_cost(
        load_config(config_path, overrides), image_size=image_size, warmup=warmup, repeats=repeats
    )
    if as_json:
        click.echo(json.dumps(asdict(cost)))
        return
    click.echo(
        f"{cost.params_m:.2f} M params, {cost.gflops:.1f} GFLOPs at {cost.crop_size}², "
        f"{cost.latency_ms:.1f} ms per {cost.latency_image_size}² image on {cost.device} ({cost.precision}), "
        f"interquartile range {cost.latency_spread_ms:.1f} ms"
    )
    if not cost.latency_reliable:
        click.secho(
            f"warning: the latency is unreliable: {cost.latency_warning}; measure again on a quiet machine",
            fg="yellow",
            err=True,
        )
