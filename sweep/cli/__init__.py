"""The `sweep` command line: validate, run, confirm, status, report, dashboard, best, promote and predict a study
declared in YAML.

Each command parses its options, calls one library function and prints. Config errors exit with 2 and
runtime failures with 1, each as one `error: ...` line.
"""

from __future__ import annotations

import os

import click

from sweep.cli.confirm import confirm
from sweep.cli.options import SweepErrorGroup
from sweep.cli.reports import best, dashboard, predict, promote, report, status
from sweep.cli.run import run, validate


@click.group(cls=SweepErrorGroup)
@click.version_option(package_name="segsweep")
def cli() -> None:
    """Hyperparameter sweeps of DeepLabV3+ with Optuna, tracked in MLflow."""


for command in (validate, run, confirm, status, report, dashboard, best, promote, predict):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # our output stays readable
    # MLflow prints two links at every end of a run on a tracking server, to the GenAI view; `sweep run`
    # prints the study's own links, to the model-training view, once at its end.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    cli()
