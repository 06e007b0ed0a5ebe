"""The study report's charts: Optuna's matplotlib plots as inline SVG, which a browser draws with nothing else.

The text of an SVG written with matplotlib's default `svg.fonttype` ("path") is drawn as outlines, so the
chart needs no font; the XML prologue is dropped, since the markup goes inside an HTML page.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib.pyplot as plt
import optuna
from optuna.trial import TrialState

from sweep.results.plots import draw

CHARTS = {
    "optimization_history": "Optimisation history",
    "intermediate_values": "Learning curves (val mIoU per epoch)",
    "parallel_coordinate": "Parallel coordinates",
}
"""The report's charts: the name of an Optuna plot (`sweep.results.plots.PLOTS`) -> its heading."""


@dataclass(frozen=True)
class Chart:
    """One chart of the report: its heading and its `<svg>` element; `svg` is None when the study's trials
    cannot make it yet (too few trials, or none with the values it plots)."""

    title: str
    svg: str | None


def svg_charts(study: optuna.Study) -> list[Chart]:
    """Every chart of `CHARTS`, in order; one without the values it plots is not drawn (Optuna would draw
    empty axes)."""
    trials = study.get_trials(deepcopy=False)
    has_values = {
        "optimization_history": any(trial.state == TrialState.COMPLETE for trial in trials),
        "intermediate_values": any(trial.intermediate_values for trial in trials),
        "parallel_coordinate": any(trial.state == TrialState.COMPLETE for trial in trials),
    }
    return [Chart(title, _svg(study, name) if has_values[name] else None) for name, title in CHARTS.items()]


def _svg(study: optuna.Study, name: str) -> str | None:
    figure = draw(study, name)
    if figure is None:
        return None
    buffer = io.StringIO()
    try:
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    finally:
        plt.close("all")
    markup = buffer.getvalue()
    return markup[markup.index("<svg") :]
