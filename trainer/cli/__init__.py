"""The `trainer` command line: thin click commands over the trainer library.

Expected failures (`TrainerError` and its subclasses) print one `error: ...` line on stderr and exit with
the error's code: 2 for usage and config errors, 1 for runtime failures.
"""

from __future__ import annotations

import click

from trainer.cli.data import data
from trainer.cli.predict import predict_command
from trainer.cli.train import cost_command, evaluate_command, train_command
from trainer.console import ErrorHandlingGroup, show_cpu_share_line


@click.group(cls=ErrorHandlingGroup)
@click.version_option(package_name="segsweep")
def cli() -> None:
    """Train DeepLabV3+ on Pascal VOC 2012 and manage its data."""


cli.add_command(data)
cli.add_command(train_command)
cli.add_command(predict_command)
cli.add_command(evaluate_command)
cli.add_command(cost_command)


def main() -> None:
    """Console-script entry point."""
    show_cpu_share_line()
    cli()
