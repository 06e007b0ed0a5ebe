"""Turning expected errors into one line on stderr and an exit code, for every click command."""

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
