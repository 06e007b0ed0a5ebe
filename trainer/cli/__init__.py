"""The `trainer` command line: thin click commands over the trainer library.

Expected failures (`TrainerError` and its subclasses) print one `error: ...` line on stderr and exit with
the error's code: 2 for usage and config errors, 1 for runtime failures. Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from trainer.errors import TrainerError


class ErrorHandlingGroup(click.Group):
    """A click group that turns `TrainerError` into a one-line message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrainerError as error:
            click.secho(f"error: {error}", fg="red", err=True)
            sys.exit(error.exit_code)


@click.group(cls=ErrorHandlingGroup)
@click.version_option(package_name="segsweep")
def cli() -> None:
    """Train DeepLabV3+ on Pascal VOC 2012 and manage its data."""


def _register() -> None:
    from trainer.cli.data import data
    from trainer.cli.predict import predict_command
    from trainer.cli.train import train_command

    cli.add_command(data)
    cli.add_command(train_command)
    cli.add_command(predict_command)


_register()


def main() -> None:
    """Console-script entry point."""
    cli()
