"""Study-level plots and the trials table, written as files (the study logs them on its parent run).

The plots are Optuna's own visualisations: optimisation history, intermediate values (every trial's
learning curve, pruned ones included), parameter importances and parallel coordinates. Each is written
twice: a PNG (matplotlib), and an interactive HTML page (plotly; hover, zoom, pick axes), which MLflow's
artifact viewer shows in place. The page loads plotly.js from its CDN in the viewer's browser, as
`mlflow.log_figure` does: a page with plotly.js inside would weigh 4.8 MB, four of them on every study's
run. The PNGs need nothing.

A confirmation's study (`sweep confirm`) also gets `confirmation.png`: per candidate, its original value
and its retrains' values, with their mean.
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
import optuna.visualization as optuna_html
import plotly.graph_objects as go
from matplotlib.figure import Figure
from optuna.visualization import matplotlib as optuna_plots

from sweep.results.confirmation import Confirmation, confirmation_of

logger = logging.getLogger(__name__)

PLOTS: dict[str, Callable[[optuna.Study], object]] = {
    "optimization_history": optuna_plots.plot_optimization_history,
    "intermediate_values": optuna_plots.plot_intermediate_values,
    "param_importances": optuna_plots.plot_param_importances,
    "parallel_coordinate": optuna_plots.plot_parallel_coordinate,
}
HTML_PLOTS: dict[str, Callable[[optuna.Study], go.Figure]] = {
    "optimization_history": optuna_html.plot_optimization_history,
    "intermediate_values": optuna_html.plot_intermediate_values,
    "param_importances": optuna_html.plot_param_importances,
    "parallel_coordinate": optuna_html.plot_parallel_coordinate,
}
"""The same plots as plotly figures, for the HTML pages."""


MIN_TRIALS_FOR_IMPORTANCE = 10
"""Completed trials below which parameter importances are not plotted: fitted on a handful of points they
say little, and the first one costs a second of imports (Optuna's importance module pulls in
scikit-learn), 1.8% of the smoke study's wall time (benchmarks/sweep_overhead.py)."""


def write_plots(study: optuna.Study, out_dir: Path) -> list[Path]:
    """Write each plot that the study's trials allow as `<name>.png` and `<name>.html`; a plot that needs
    more trials is skipped."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in _plots_allowed(study):
        png = _write_png(study, name, out_dir / f"{name}.png")
        if png is not None:  # what the trials do not allow as PNG they do not allow as HTML either
            written += [png, _write_html(study, name, out_dir / f"{name}.html")]
    confirmation = confirmation_of(study)
    if confirmation.candidates:
        written.append(write_confirmation_plot(confirmation, out_dir / "confirmation.png"))
    return written


def write_confirmation_plot(confirmation: Confirmation, path: Path) -> Path:
    """Per candidate (best mean first, left to right): its original value (a red cross), each retrain's
    value (dots) and their mean (a bar), as a PNG at `path`."""
    figure, axes = plt.subplots(figsize=(1.6 + 1.2 * len(confirmation.candidates), 4.0))
    for position, candidate in enumerate(confirmation.candidates):
        axes.scatter([position] * len(candidate.values), candidate.values, color="tab:blue", zorder=3)
        axes.hlines(candidate.mean, position - 0.25, position + 0.25, color="tab:blue", linewidth=2)
        axes.scatter([position], [candidate.original_value], marker="x", s=80, color="tab:red", zorder=4)
    axes.set_xticks(range(len(confirmation.candidates)))
    axes.set_xticklabels([f"trial #{candidate.trial}" for candidate in confirmation.candidates])
    axes.set_xlim(-0.6, len(confirmation.candidates) - 0.4)
    axes.set_ylabel("val mIoU")
    axes.set_title(f"{confirmation.study_name}: original (x), retrains (dots) and their mean (bar)")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path


def _plots_allowed(study: optuna.Study) -> list[str]:
    """The names of the plots worth drawing: parameter importances wait for `MIN_TRIALS_FOR_IMPORTANCE`."""
    completed = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    if completed >= MIN_TRIALS_FOR_IMPORTANCE:
        return list(PLOTS)
    logger.info(
        "skipping plot param_importances: %d completed trials, fewer than %d", completed, MIN_TRIALS_FOR_IMPORTANCE
    )
    return [name for name in PLOTS if name != "param_importances"]


def _write_png(study: optuna.Study, name: str, path: Path) -> Path | None:
    """The matplotlib plot as PNG at `path`; None (and nothing written) when the study's trials cannot make it."""
    figure = draw(study, name)
    if figure is None:
        return None
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close("all")
    return path


def draw(study: optuna.Study, name: str) -> Figure | None:
    """The matplotlib figure of the plot `name` (a key of `PLOTS`); None when the study's trials cannot make
    it. The caller saves it, then closes it (`plt.close`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna flags its matplotlib backend as experimental
        try:
            axes = PLOTS[name](study)
        except (ValueError, RuntimeError, ZeroDivisionError) as error:
            logger.info("skipping plot %s: %s", name, error)
            return None
    figure = getattr(axes, "figure", None) or plt.gcf()
    if hasattr(axes, "flat"):
        figure = axes.flat[0].figure
    return figure


def _write_html(study: optuna.Study, name: str, path: Path) -> Path:
    """The plotly figure as an HTML page at `path` that loads plotly.js from the CDN."""
    figure = HTML_PLOTS[name](study)
    figure.write_html(path, include_plotlyjs="cdn", full_html=True)
    return path


def write_trials_csv(study: optuna.Study, path: Path) -> Path:
    """Every trial as a row: number, state, value, params, user attrs (MLflow run id) and timings."""
    study.trials_dataframe().to_csv(path, index=False)
    return path
