"""The `sweep` command line: validate, run, status, best and promote a study declared in YAML.

Each command parses its options, calls one library function and prints. Config errors exit with 2 and
runtime failures with 1, each as one `error: ...` line.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.table import Table

from sweep.errors import NothingToPromoteError, SweepError
from sweep.settings import DEFAULT_TRACKING_URI
from sweep.space import describe_space
from sweep.spec import StudySpec, load_study_spec
from trainer.console import ErrorHandlingGroup, exit_with_error

STUDY_ARGUMENT = click.argument("study_file", metavar="STUDY.yaml", type=click.Path(dir_okay=False))
_console = Console(highlight=False)


def _load(study_file: str, **overrides: Any) -> StudySpec:
    spec = load_study_spec(study_file)
    return spec.with_overrides(**overrides) if any(v is not None for v in overrides.values()) else spec


def _storage_options(command: Any) -> Any:
    """`--storage` and `--tracking-uri`, also read from the environment, where a password stays out of `ps`."""
    command = click.option(
        "--storage",
        envvar="SWEEP_STORAGE",
        show_envvar=True,
        default=None,
        callback=_warn_if_password_on_command_line,
        help="Optuna storage URL (overrides study.storage); prefer the variable when it holds a password.",
    )(command)
    return click.option(
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        show_envvar=True,
        default=None,
        callback=_warn_if_password_on_command_line,
        help="MLflow tracking URI (overrides tracking.uri).",
    )(command)


def _warn_if_password_on_command_line(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from click.core import ParameterSource
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if value is None or ctx.get_parameter_source(str(param.name)) != ParameterSource.COMMANDLINE:
        return value
    try:
        has_password = make_url(value).password is not None
    except ArgumentError:  # not a database URL (e.g. http://): MLflow reads its credentials from the environment
        return value
    if has_password:
        variable = "SWEEP_STORAGE" if param.name == "storage" else "MLFLOW_TRACKING_URI"
        click.secho(
            f"warning: a password on the command line is visible in `ps`; set {variable} instead", fg="yellow", err=True
        )
    return value


def _gpu_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    from sweep.workers import parse_gpus

    try:
        return None if value is None else parse_gpus(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


class SweepErrorGroup(ErrorHandlingGroup):
    """Also prints a `SweepError` (its exit code) and an unusable Optuna storage or MLflow server (1) as one line."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return super().invoke(ctx)
        except SweepError as error:
            exit_with_error(str(error), error.exit_code)
        except SQLAlchemyError as error:
            exit_with_error(
                f"cannot use the Optuna storage: {error.__class__.__name__}: {str(error).splitlines()[0]}", 1
            )
        except Exception as error:
            if not _is_mlflow_error(error):
                raise
            exit_with_error(f"MLflow: {str(error).splitlines()[0]}", 1)


def _is_mlflow_error(error: Exception) -> bool:
    """Whether `error` is an `MlflowException`, without importing MLflow (2 s) for commands that never use it.

    An MlflowException can only have been raised once MLflow is imported.
    """
    exceptions = sys.modules.get("mlflow.exceptions")
    return exceptions is not None and isinstance(error, exceptions.MlflowException)


@click.group(cls=SweepErrorGroup)
@click.version_option(package_name="segsweep")
def cli() -> None:
    """Hyperparameter sweeps of DeepLabV3+ with Optuna, tracked in MLflow."""


@cli.command()
@STUDY_ARGUMENT
def validate(study_file: str) -> None:
    """Check STUDY.yaml and print the resolved study and its search space; creates nothing."""
    spec = load_study_spec(study_file)
    click.echo(yaml.safe_dump(spec.resolved(), sort_keys=False), nl=False)
    click.echo("search space:")
    for line in describe_space(spec.search):
        click.echo(f"  {line}")


@cli.command()
@STUDY_ARGUMENT
@click.option(
    "--n-trials", type=click.IntRange(min=1), default=None, help="The study's total trials (overrides study.n_trials)."
)
@click.option(
    "--timeout", type=click.IntRange(min=1), default=None, help="Stop starting trials after this many seconds."
)
@_storage_options
@click.option("--quiet", is_flag=True, help="Plain progress lines (for CI logs), no live bar.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes on this machine, all on the study (default 1).",
)
@click.option(
    "--gpus",
    callback=_gpu_list,
    default=None,
    metavar="0,1,...",
    help="One worker per listed GPU, pinned by CUDA_VISIBLE_DEVICES.",
)
@click.option(
    "--workers-per-gpu",
    type=click.IntRange(min=1),
    default=None,
    help="Pack this many workers onto each GPU of --gpus.",
)
@click.option("--worker-index", type=int, default=None, hidden=True)
@click.option("--events-fd", type=int, default=None, hidden=True)
def run(
    study_file: str,
    n_trials: int | None,
    timeout: int | None,
    storage: str | None,
    tracking_uri: str | None,
    quiet: bool,
    workers: int | None,
    gpus: list[str] | None,
    workers_per_gpu: int | None,
    worker_index: int | None,
    events_fd: int | None,
) -> None:
    """Run the trials STUDY.yaml still lacks; a finished study runs nothing.

    With --workers N (or --gpus), N worker processes share the study and one view shows them all.
    Several `sweep run` on several hosts may share one study too: point --storage (PostgreSQL) and
    --tracking-uri (an MLflow server) at the same places, through SWEEP_STORAGE and MLFLOW_TRACKING_URI.
    """
    from sweep.progress import LiveSweepProgress, SweepProgress
    from sweep.study import run_study
    from sweep.workers import plan_workers

    spec = _load(study_file, n_trials=n_trials, timeout=timeout, storage=storage, tracking_uri=tracking_uri)
    if worker_index is not None:
        _run_worker(spec, events_fd)
        return
    try:
        plans = plan_workers(workers=workers, gpus=gpus, workers_per_gpu=workers_per_gpu)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    console = Console(stderr=True, highlight=False)
    live = not quiet and console.is_terminal
    if len(plans) == 1 and plans[0].gpu is None:
        progress = LiveSweepProgress(console) if live else SweepProgress(console)
        outcome = run_study(spec, progress)
    else:
        from sweep.supervisor import run_parallel

        outcome = run_parallel(spec, study_file, plans, console=console, live=live, n_trials=n_trials, timeout=timeout)
    _print_outcome(spec, outcome)


def _run_worker(spec: StudySpec, events_fd: int | None) -> None:
    """One worker of `sweep run --workers`: the single-process loop, its progress sent as events."""
    from sweep.events import EventProgress
    from sweep.study import run_study

    if events_fd is None:
        raise click.UsageError("--worker-index needs --events-fd (both are set by `sweep run --workers`)")
    with os.fdopen(events_fd, "w", buffering=1) as stream:
        progress = EventProgress(stream)
        outcome = run_study(spec, progress, summarise=False)
        progress.finished(outcome.ran)


def _print_outcome(spec: StudySpec, outcome: Any) -> None:
    from sweep.reports import status_rows

    rows = status_rows(outcome.study)
    _print_table(rows, title=f"study {spec.study.name}")
    states = [row["state"] for row in rows]
    best = _best_value(outcome.study)
    click.echo(
        f"ran {outcome.ran} trials in {outcome.wall_seconds:.1f} s; study has {states.count('COMPLETE')} complete, "
        f"{states.count('PRUNED')} pruned, {states.count('FAIL')} failed; best val mIoU {best}"
    )


@cli.command()
@STUDY_ARGUMENT
@_storage_options
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def status(study_file: str, storage: str | None, tracking_uri: str | None, as_json: bool) -> None:
    """Show every trial: number, state, best mIoU, epochs run, params and MLflow run id."""
    from sweep.reports import status_rows
    from sweep.study import load_existing_study

    spec = _load(study_file, storage=storage, tracking_uri=tracking_uri)
    rows = status_rows(load_existing_study(spec))
    if as_json:
        click.echo(json.dumps(rows, default=_json_default))
    else:
        _print_table(rows, title=f"study {spec.study.name}")


@cli.command()
@STUDY_ARGUMENT
@_storage_options
@click.option("--json", "as_json", is_flag=True, help="Print the best trial as JSON.")
def best(study_file: str, storage: str | None, tracking_uri: str | None, as_json: bool) -> None:
    """Show the best completed trial: params, metrics at its best epoch and model URIs."""
    from sweep.reports import best_summary
    from sweep.study import load_existing_study

    spec = _load(study_file, storage=storage, tracking_uri=tracking_uri)
    summary = best_summary(spec, load_existing_study(spec))
    if summary is None:
        raise NothingToPromoteError(f"study {spec.study.name!r} has no completed trial yet")
    if as_json:
        click.echo(json.dumps(summary, default=_json_default))
        return
    click.echo(
        f"best trial #{summary['number']}: val mIoU {summary['best_miou']:.4f} (epoch {summary.get('best_epoch')})"
    )
    for key, value in summary["params"].items():
        click.echo(f"  {key} = {value}")
    for key, value in summary["metrics"].items():
        click.echo(f"  {key}: {value:.4f}")
    click.echo(f"model: {summary.get('model_uri')}")


@cli.command()
@STUDY_ARGUMENT
@click.option("--alias", default="champion", show_default=True, help="Registry alias to point at the best model.")
@click.option("--name", default=None, help="Registered model name (default: tracking.registered_model).")
@_storage_options
def promote(study_file: str, alias: str, name: str | None, storage: str | None, tracking_uri: str | None) -> None:
    """Register the best trial's model in the MLflow registry and set ALIAS on it (idempotent)."""
    from sweep.registry import promote as promote_best

    spec = _load(study_file, storage=storage, tracking_uri=tracking_uri)
    promotion = promote_best(spec, alias=alias, name=name)
    verb = "registered" if promotion.created else "already registered as"
    click.echo(
        f"trial #{promotion.trial_number} (val mIoU {promotion.value:.4f}) {verb} {promotion.name} version "
        f"{promotion.version}; alias {promotion.alias!r} -> {promotion.uri}"
    )


@cli.command()
@click.option(
    "--model",
    "reference",
    required=True,
    metavar="MODEL_URI_OR_CHECKPOINT",
    help="models:/NAME@ALIAS, runs:/ID/PATH, or a best.pt file.",
)
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for <stem>.png masks and <stem>_overlay.png.",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--tracking-uri",
    default=lambda: os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI),
    show_default=f"$MLFLOW_TRACKING_URI or {DEFAULT_TRACKING_URI}",
    help="MLflow tracking URI that holds the model.",
)
def predict(reference: str, images: tuple[Path, ...], out_dir: Path, device: str, tracking_uri: str) -> None:
    """Segment IMAGES with a registered model and write VOC palette masks and colour overlays to --out."""
    from sweep.model_uris import resolve_checkpoint
    from trainer.predict import check_images, load_model, predict_files
    from trainer.runtime import resolve_device

    check_images(images)
    torch_device = resolve_device(device)
    model, _ = load_model(resolve_checkpoint(reference, tracking_uri=tracking_uri), torch_device)
    for prediction in predict_files(model, list(images), out_dir, torch_device):
        click.echo(f"{prediction.image} -> {prediction.mask}, {prediction.overlay}")


def _print_table(rows: list[dict[str, Any]], *, title: str) -> None:
    table = Table(title=title)
    for column in ("#", "state", "best mIoU", "epochs", "params", "MLflow run"):
        table.add_column(column)
    for row in rows:
        value = row["best_miou"]
        params = " ".join(
            f"{_leaf(k)}={v:.3g}" if isinstance(v, float) else f"{_leaf(k)}={v}" for k, v in row["params"].items()
        )
        table.add_row(
            str(row["number"]),
            row["state"],
            "-" if value is None else f"{value:.4f}",
            str(row["epochs_run"]),
            params,
            (row["mlflow_run_id"] or "-")[:12],
        )
    _console.print(table)


def _leaf(path: str) -> str:
    """`optim.lr` -> `lr`: the table is for reading; `--json` keeps the full paths."""
    return path.rsplit(".", 1)[-1]


def _best_value(study: Any) -> str:
    try:
        return f"{study.best_value:.4f}"
    except ValueError:
        return "- (no completed trial)"


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # our output stays readable
    cli()


if __name__ == "__main__":  # `python -m sweep.cli`: how `sweep run --workers` starts its workers
    main()
