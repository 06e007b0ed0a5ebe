"""Options, arguments and error handling shared by the `sweep` commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource

from sweep.database_urls import StoreUrl, TrackingUri, describe_error, parse_storage_url, parse_tracking_uri
from sweep.errors import SweepError
from sweep.spec.study_file import StudySpec, load_study_spec
from trainer.console import ErrorHandlingGroup, exit_with_error
from trainer.errors import ConfigError

STUDY_ARGUMENT = click.argument("study_file", metavar="STUDY.yaml", type=click.Path(dir_okay=False))
_URLS_READ = "sweep.urls_read"
"""`ctx.meta` key: the store URLs this command has read, whose passwords `SweepErrorGroup` scrubs."""


def load_spec(study_file: str, **overrides: Any) -> StudySpec:
    spec = load_study_spec(study_file)
    spec = spec.with_overrides(**overrides) if any(v is not None for v in overrides.values()) else spec
    _remember(click.get_current_context(), spec.storage_url, spec.tracking_uri)
    return spec


def storage_options(command: Any) -> Any:
    """`--storage` and `--tracking-uri`, also read from the environment, where a password stays out of `ps`.

    Each is parsed where it enters, into the typed URL the command passes on; a bad one is a config error
    of `command line`, like a bad value in the study file.
    """
    command = click.option(
        "--storage",
        envvar="SWEEP_STORAGE",
        show_envvar=True,
        default=None,
        callback=_parsed_by(parse_storage_url, key="study.storage"),
        help="Optuna storage URL (overrides study.storage); prefer the variable when it holds a password.",
    )(command)
    return click.option(
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        show_envvar=True,
        default=None,
        callback=_parsed_by(parse_tracking_uri, key="tracking.uri"),
        help="MLflow tracking URI (overrides tracking.uri).",
    )(command)


def tracking_uri_option(ctx: click.Context, param: click.Parameter, value: str) -> TrackingUri:
    """`sweep predict --tracking-uri`: parsed where it enters; a bad one is a usage error."""
    try:
        uri = parse_tracking_uri(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    _remember(ctx, uri)
    return uri


def _parsed_by(
    parse: Callable[[str], StoreUrl], *, key: str
) -> Callable[[click.Context, click.Parameter, str | None], StoreUrl | None]:
    """An option callback that parses the URL with `parse` (raising `ConfigError` at `key` on a bad one)
    and warns when a password was typed on the command line, where `ps` shows it."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> StoreUrl | None:
        if value is None:
            return None
        try:
            url = parse(value)
        except ValueError as error:
            raise ConfigError(key, str(error), source="command line") from None
        _remember(ctx, url)
        if url.password is not None and ctx.get_parameter_source(str(param.name)) == ParameterSource.COMMANDLINE:
            click.secho(
                f"warning: a password on the command line is visible in `ps`; set {param.envvar} instead",
                fg="yellow",
                err=True,
            )
        return url

    return callback


def _remember(ctx: click.Context, *urls: StoreUrl) -> None:
    ctx.meta.setdefault(_URLS_READ, []).extend(urls)


def placement_options(command: Any) -> Any:
    """`--workers`, `--gpus` and `--workers-per-gpu`: where the worker processes of a study run go
    (`sweep.parallel.workers.plan_workers`), and `--timeout`, after which none starts another trial."""
    for option in reversed(
        [
            click.option(
                "--timeout",
                type=click.IntRange(min=1),
                default=None,
                help="Stop starting trials after this many seconds.",
            ),
            click.option(
                "--workers",
                type=click.IntRange(min=1),
                default=None,
                help="Worker processes on this machine, all on the study (default 1).",
            ),
            click.option(
                "--gpus",
                callback=gpu_list,
                default=None,
                metavar="0,1,...",
                help="One worker per listed GPU, pinned by CUDA_VISIBLE_DEVICES.",
            ),
            click.option(
                "--workers-per-gpu",
                type=click.IntRange(min=1),
                default=None,
                help="Pack this many workers onto each GPU of --gpus.",
            ),
        ]
    ):
        command = option(command)
    return command


def gpu_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    from sweep.parallel.workers import parse_gpus

    try:
        return None if value is None else parse_gpus(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


class SweepErrorGroup(ErrorHandlingGroup):
    """Also prints a `SweepError` (its exit code) and an unusable Optuna storage or MLflow server (1) as one
    line, with the password of every store URL the command read (its options, the environment, the study
    file) scrubbed."""

    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return super().invoke(ctx)
        except SweepError as error:
            exit_with_error(str(error), error.exit_code)
        except SQLAlchemyError as error:
            reason = describe_error(error, *ctx.meta.get(_URLS_READ, ()))
            exit_with_error(f"cannot use the Optuna storage: {error.__class__.__name__}: {reason}", 1)
        except Exception as error:
            if not _is_mlflow_error(error):
                raise
            exit_with_error(f"MLflow: {describe_error(error, *ctx.meta.get(_URLS_READ, ()))}", 1)


def _is_mlflow_error(error: Exception) -> bool:
    """Whether `error` is an `MlflowException`, without importing MLflow (2 s) for commands that never use it.

    An MlflowException can only have been raised once MLflow is imported.
    """
    exceptions = sys.modules.get("mlflow.exceptions")
    return exceptions is not None and isinstance(error, exceptions.MlflowException)
