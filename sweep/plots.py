"""Study-level plots and the trials table, written as files (the study logs them on its parent run).

The plots are Optuna's own matplotlib visualisations: optimisation history, intermediate values (every
trial's learning curve, pruned ones included), parameter importances and parallel coordinates.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window

import matplotlib.pyplot as plt
import optuna
from optuna.visualization import matplotlib as optuna_plots

logger = logging.getLogger(__name__)

PLOTS: dict[str, Callable[[optuna.Study], object]] = {
    "optimization_history": optuna_plots.plot_optimization_history,
    "intermediate_values": optuna_plots.plot_intermediate_values,
    "param_importances": optuna_plots.plot_param_importances,
    "parallel_coordinate": optuna_plots.plot_parallel_coordinate,
}


MIN_TRIALS_FOR_IMPORTANCE = 10
"""Completed trials below which parameter importances are not plotted: fitted on a handful of points they
say little, and the first one costs a second of imports (Optuna's importance module pulls in
scikit-learn), 1.8% of the smoke study's wall time (benchmarks/sweep_overhead.py)."""


def write_plots(study: optuna.Study, out_dir: Path) -> list[Path]:
    """Write each plot that the study's trials allow as PNG; a plot that needs more trials is skipped."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    completed = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    for name, plot in PLOTS.items():
        if name == "param_importances" and completed < MIN_TRIALS_FOR_IMPORTANCE:
            logger.info(
                "skipping plot %s: %d completed trials, fewer than %d", name, completed, MIN_TRIALS_FOR_IMPORTANCE
            )
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna flags its matplotlib backend as experimental
            try:
                axes = plot(study)
            except (ValueError, RuntimeError, ZeroDivisionError) as error:
                logger.info("skipping plot %s: %s", name, error)
                continue
        figure = getattr(axes, "figure", None) or plt.gcf()
        if hasattr(axes, "flat"):
            figure = axes.flat[0].figure
        path = out_dir / f"{name}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close("all")
        written.append(path)
    return written


def write_trials_csv(study: optuna.Study, path: Path) -> Path:
    """Every trial as a row: number, state, value, params, user attrs (MLflow run id) and timings."""
    study.trials_dataframe().to_csv(path, index=False)
    return path
