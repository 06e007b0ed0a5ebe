"""Turning expected errors into one line on stderr and an exit code: shared by the trainer and sweep CLIs.

It is no command-line module itself (nothing here defines a command), so both CLIs may import it while
the CLI packages stay imported by nothing.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from trainer.errors import TrainerError


class ErrorHandlingGroup(click.Group):
    """A click group that turns `TrainerError` into `error: ...` on stderr and the error's exit code.

    Exit codes: 2 for usage and config errors (click's own usage errors included), 1 for runtime
    failures. Anything else is a bug and keeps its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrainerError as error:
            exit_with_error(str(error), error.exit_code)


def exit_with_error(message: str, code: int) -> NoReturn:
    """Print `error: message` on stderr and exit with `code`: the one format every command uses."""
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)
