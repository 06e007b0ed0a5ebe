"""Options, arguments and error handling shared by the `sweep` commands."""

from __future__ import annotations

import sys
from typing import Any

import click

from sweep.database_urls import TrackingUri, parse_tracking_uri
from sweep.errors import SweepError
from sweep.spec.study_file import StudySpec, load_study_spec
from trainer.console import ErrorHandlingGroup, exit_with_error

STUDY_ARGUMENT = click.argument("study_file", metavar="STUDY.yaml", type=click.Path(dir_okay=False))


def load_spec(study_file: str, **overrides: Any) -> StudySpec:
    spec = load_study_spec(study_file)
    return spec.with_overrides(**overrides) if any(v is not None for v in overrides.values()) else spec


def storage_options(command: Any) -> Any:
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


def tracking_uri_option(ctx: click.Context, param: click.Parameter, value: str) -> TrackingUri:
    """`sweep predict --tracking-uri`: parsed where it enters; a bad one is a usage error."""
    try:
        return parse_tracking_uri(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def gpu_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    from sweep.parallel.workers import parse_gpus

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
