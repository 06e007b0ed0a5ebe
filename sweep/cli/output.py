"""How the `sweep` commands print trials: a rich table for people, JSON for scripts."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import optuna
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from sweep.results.notes import trial_notes
from sweep.trials.own_trials import own_best_value

if TYPE_CHECKING:  # the reports import MLflow, which a command loads only when it reads a study
    from sweep.results.confirmation import Confirmation
    from sweep.results.front import StudyFront
    from sweep.results.reports import BestSummary, TrialRow
    from sweep.trials.record_values import NetworkCost

_console = Console(highlight=False)
_UNBOUNDED_WIDTH = 100_000
"""Wider than any table of trials: the width a table is measured in when nothing should fold."""


def print_table(rows: list[TrialRow], *, title: str, console: Console | None = None) -> None:
    """Print one line per trial on `console` (stdout by default).

    On a terminal the table fits the terminal's width, folding long cells. Elsewhere (a CI log, a file,
    `| tee`) there is no width to fit: rich would take 80 columns (or `COLUMNS`) and cut params and fold a
    pruner's note over many lines, so the table is printed as wide as its longest cells instead, one line per
    trial, every value whole.
    """
    console = console or _console
    table = Table(title=title)
    for column in ("#", "state", "best mIoU", "epochs", "params", "ms", "MLflow run", "notes"):
        table.add_column(column)
    for row in rows:
        value = row.best_miou
        table.add_row(
            str(row.number),
            row.state,
            "-" if value is None else f"{value:.4f}",
            str(row.epochs_run),
            _params_text(row.params),
            _latency(row.cost),
            (row.mlflow_run_id or "-")[:12],
            trial_notes(row),
        )
    _show(console, table)


def print_front_table(front: StudyFront, *, title: str, console: Console | None = None) -> None:
    """Print one line per trial of `front`, cheapest first, as `print_table` prints (whole off a terminal)."""
    table = Table(title=title)
    for column in ("#", "val mIoU", "latency ms", "params M", "GFLOPs", "params", "MLflow run"):
        table.add_column(column)
    for trial in front.trials:
        cost = trial.cost
        table.add_row(
            str(trial.number),
            f"{trial.value:.4f}",
            f"{cost.latency_ms:.1f}" if cost.latency_reliable else f"{cost.latency_ms:.1f} (unreliable)",
            f"{cost.params_m:.2f}",
            f"{cost.gflops:.3g}",
            _params_text(trial.params),
            (trial.mlflow_run_id or "-")[:12],
        )
    _show(console or _console, table)


def print_confirmation_table(confirmation: Confirmation, *, title: str, console: Console | None = None) -> None:
    """Print one line per confirmed candidate, best mean first: its original value, its retrains' mean,
    sample standard deviation, count and values, and the retrain promoted in its place (the median)."""
    table = Table(title=title)
    for column in ("trial", "original", "mean", "std", "n", "retrains", "median retrain"):
        table.add_column(column)
    for candidate in confirmation.candidates:
        std = candidate.std
        table.add_row(
            f"#{candidate.trial}",
            f"{candidate.original_value:.4f}",
            f"{candidate.mean:.4f}",
            "-" if std is None else f"{std:.4f}",
            str(len(candidate.values)),
            ", ".join(f"{value:.4f}" for value in candidate.values),
            f"#{candidate.median_retrain.number}",
        )
    _show(console or _console, table)


def confirmation_json(confirmation: Confirmation) -> dict[str, Any]:
    """`sweep best --confirmed --json`: the confirmation study, its counts, and each candidate best mean
    first, with its retrains (trial number in the confirmation study, seed, value, MLflow run)."""
    return {
        "study": confirmation.study_name,
        "finished": confirmation.finished,
        "planned": confirmation.planned,
        "completed": confirmation.completed,
        "candidates": [
            {
                "trial": candidate.trial,
                "original_value": candidate.original_value,
                "mean": candidate.mean,
                "std": candidate.std,
                "n": len(candidate.values),
                "values": candidate.values,
                "median_retrain": candidate.median_retrain.number,
                "retrains": [dataclasses.asdict(retrain) for retrain in candidate.retrains],
            }
            for candidate in confirmation.candidates
        ],
    }


def _show(console: Console, table: Table) -> None:
    """Print `table` to fit a terminal, or unfolded anywhere else."""
    if console.is_terminal:
        console.print(table)
    else:
        _print_unfolded(console, table)


def _print_unfolded(console: Console, table: Table) -> None:
    """Print `table` at its natural width, whatever width `console` has."""
    natural = Measurement.get(console, console.options.update_width(_UNBOUNDED_WIDTH), table).maximum
    Console(file=console.file, width=natural, highlight=False, no_color=console.no_color).print(table)


def _latency(cost: NetworkCost | None) -> str:
    """The measured ms per image, or `-` for a trial whose network was not measured."""
    return "-" if cost is None else f"{cost.latency_ms:.1f}"


def _params_text(params: Mapping[str, Any]) -> str:
    """`lr=0.02 backbone=resnet50`: each param by its leaf name, floats to 3 significant digits."""
    return " ".join(f"{leaf(k)}={v:.3g}" if isinstance(v, float) else f"{leaf(k)}={v}" for k, v in params.items())


def leaf(path: str) -> str:
    """`optim.lr` -> `lr`: the table is for reading; `--json` keeps the full paths."""
    return path.rsplit(".", 1)[-1]


def best_value(study: optuna.Study) -> str:
    """The best feasible own trial's value (`sweep.trials.own_trials`), or why there is none."""
    best = own_best_value(study)
    return "- (no feasible completed trial)" if best is None else f"{best:.4f}"


def row_json(row: TrialRow) -> dict[str, Any]:
    """The row as `--json` prints it: its fields in order, the attempt's compute as `{epochs, wall_s, gpu_s}`
    and the network's cost as the trial stores it."""
    compute = row.compute
    shown = {field.name: getattr(row, field.name) for field in dataclasses.fields(row)}
    return {
        **shown,
        "params": dict(row.params),
        "compute": None
        if compute is None
        else {"epochs": compute.epochs, "wall_s": compute.wall_s, "gpu_s": compute.gpu_s},
        "cost": None if row.cost is None else row.cost.attr_value(),
    }


def best_json(best: BestSummary) -> dict[str, Any]:
    """`sweep best --json`: the best trial's row, then its metrics and where its model is."""
    return {
        **row_json(best.row),
        "metrics": dict(best.metrics),
        "best_epoch": best.best_epoch,
        "checkpoint_uri": best.checkpoint_uri,
        "registered_model_uris": list(best.registered_model_uris),
        "model_uri": best.model_uri,
    }


def front_json(front: StudyFront) -> list[dict[str, Any]]:
    """`sweep best --front --json`: each trial of the front, cheapest first, with its figures as recorded."""
    return [
        {
            "number": trial.number,
            "value": trial.value,
            **trial.cost.attr_value(),
            "params": dict(trial.params),
            "mlflow_run_id": trial.mlflow_run_id,
        }
        for trial in front.trials
    ]


def json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)
