"""The `sweep` command line: validate, run, status, best, promote and predict a study declared in YAML.

Each command parses its options, calls one library function and prints. Config errors exit with 2 and
runtime failures with 1, each as one `error: ...` line.
"""

from __future__ import annotations

import os
import sys

import click

from sweep.cli.options import SweepErrorGroup
from sweep.cli.reports import best, predict, promote, status
from sweep.cli.run import run, validate
from trainer.console import show_cpu_share_line


@click.group(cls=SweepErrorGroup)
@click.version_option(package_name="segsweep")
def cli() -> None:
    """Hyperparameter sweeps of DeepLabV3+ with Optuna, tracked in MLflow."""


for command in (validate, run, status, best, promote, predict):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # our output stays readable
    # MLflow prints two links at every end of a run on a tracking server, to the GenAI view; `sweep run`
    # prints the study's own links, to the model-training view, once at its end.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # `sweep run` (and each of its workers) trains and measures: it says once how many threads torch takes.
    # `promote` evaluates a checkpoint too, but briefly, and its stderr stays free for its one error line.
    if sys.argv[1:2] == ["run"]:
        show_cpu_share_line()
    cli()
