"""Study-level plots and the trials table, logged on the study's parent run.

The plots are Optuna's own matplotlib visualisations: optimisation history, intermediate values (every
trial's learning curve, pruned ones included), parameter importances and parallel coordinates.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window

import matplotlib.pyplot as plt
import optuna
from optuna.trial import TrialState
from optuna.visualization import matplotlib as optuna_plots

from sweep.tracking import StudyTracker

logger = logging.getLogger(__name__)

PLOTS: dict[str, Callable[[optuna.Study], object]] = {
    "optimization_history": optuna_plots.plot_optimization_history,
    "intermediate_values": optuna_plots.plot_intermediate_values,
    "param_importances": optuna_plots.plot_param_importances,
    "parallel_coordinate": optuna_plots.plot_parallel_coordinate,
}


def write_plots(study: optuna.Study, out_dir: Path) -> list[Path]:
    """Write each plot that the study's trials allow as PNG; a plot that needs more trials is skipped."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, plot in PLOTS.items():
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


def log_study_summary(study: optuna.Study, tracker: StudyTracker, parent_run_id: str) -> None:
    """Log plots and `trials.csv` on the parent run; mark it FINISHED once no trial is running."""
    with tempfile.TemporaryDirectory(prefix="sweep-plots-") as scratch:
        folder = Path(scratch)
        for path in write_plots(study, folder / "plots"):
            tracker.client.log_artifact(parent_run_id, str(path), "plots")
        tracker.client.log_artifact(parent_run_id, str(write_trials_csv(study, folder / "trials.csv")))
    tracker.log_parent_best(parent_run_id, study)
    if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        tracker.client.set_terminated(parent_run_id, status="FINISHED")
