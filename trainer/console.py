"""What the trainer and sweep CLIs share: expected errors as one line and an exit code, the line that says
how many threads torch uses, and the prediction options of both `predict` commands.

It is no command-line module itself (nothing here defines a command), so both CLIs may import it while
the CLI packages stay imported by nothing.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from trainer.cpu_share import CPU_SHARE_LOGGER
from trainer.errors import TrainerError
from trainer.interrupt import Interrupted


class ErrorHandlingGroup(click.Group):
    """A click group that turns `TrainerError` into `error: ...` on stderr and the error's exit code.

    Exit codes: 2 for usage and config errors (click's own usage errors included), 1 for runtime
    failures, 128 + the signal's number when a signal stopped the command (`interrupted: ...`). Anything
    else is a bug and keeps its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Interrupted as error:
            click.secho(f"interrupted: {error}", fg="yellow", err=True)
            sys.exit(error.exit_code)
        except TrainerError as error:
            exit_with_error(str(error), error.exit_code)


def exit_with_error(message: str, code: int) -> NoReturn:
    """Print `error: message` on stderr and exit with `code`: the one format every command uses."""
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def show_cpu_share_line() -> None:
    """Print the line `trainer.runtime.use_cpu_share` logs once per process (`torch uses 2 threads: ...`) on
    stderr, as it is; the library alone logs it only where logging is configured."""
    logger = logging.getLogger(CPU_SHARE_LOGGER)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


Command = TypeVar("Command", bound=Callable[..., Any])


def prediction_options(command: Command) -> Command:
    """`IMAGES...`, `--out DIR` and `--device`: the inputs and outputs of `trainer predict` and `sweep predict`."""
    command = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")(command)
    command = click.option(
        "--out",
        "out_dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder for <stem>.png masks and <stem>_overlay.png.",
    )(command)
    return click.argument(
        "images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
    )(command)
