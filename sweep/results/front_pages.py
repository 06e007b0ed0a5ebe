"""The accuracy–cost front as files for the study's parent run: `front.csv`, the table of each front, and
`front_<figure>.html`, an interactive chart per measured figure of the network.

A chart plots every measured candidate (val mIoU against the figure, hover for the trial, its params and
figures) and joins the front's trials in a step line, cheapest first. Like the study plots
(`sweep.results.plots`) it loads plotly.js from its CDN in the viewer's browser. Candidates whose latency was
recorded unreliable are left out of the latency chart and the table, as `sweep best --front` leaves them out.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import optuna
import plotly.graph_objects as go

from sweep.results.front import MeasuredTrial, StudyFront, front_of, measured_candidates
from sweep.spec.constraints import FIGURES, Figure

TABLE_COLUMNS = ("front_by", "rank", "number", "value", "params_m", "gflops", "latency_ms", "mlflow_run_id", "params")


def write_front_pages(study: optuna.Study, out_dir: Path) -> list[Path]:
    """`front.csv` and one `front_<figure>.html` per figure some candidate can be ranked by, in `out_dir`;
    nothing (an empty list) when no candidate recorded its network's cost."""
    candidates = measured_candidates(study)
    fronts = [front_of(candidates, figure) for figure in FIGURES]
    fronts = [front for front in fronts if front.trials]
    if not fronts:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = [_write_chart(front, candidates, out_dir / f"front_{front.figure}.html") for front in fronts]
    return [write_front_table(fronts, out_dir / "front.csv"), *pages]


def write_front_table(fronts: Sequence[StudyFront], path: Path) -> Path:
    """One row per trial of each front (`TABLE_COLUMNS`), cheapest first within a front; params as JSON."""
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(TABLE_COLUMNS)
        for front in fronts:
            for rank, trial in enumerate(front.trials, start=1):
                figures = trial.cost.figures()
                writer.writerow(
                    [
                        front.figure,
                        rank,
                        trial.number,
                        trial.value,
                        *(figures[figure] for figure in ("params_m", "gflops", "latency_ms")),
                        trial.mlflow_run_id or "",
                        json.dumps(dict(trial.params), sort_keys=True),
                    ]
                )
    return path


def front_figure(front: StudyFront, candidates: Sequence[MeasuredTrial]) -> go.Figure:
    """The plotly chart of `front` over the `candidates` it could rank."""
    ranked = [trial for trial in candidates if trial.ranks_by(front.figure)]
    on_front = {trial.number for trial in front.trials}
    others = [trial for trial in ranked if trial.number not in on_front]
    figure = go.Figure()
    figure.add_trace(_scatter(others, front.figure, "other trials", mode="markers", color="#9aa0a6"))
    figure.add_trace(_scatter(front.trials, front.figure, "front", mode="lines+markers", color="#1a73e8"))
    figure.update_traces(selector={"name": "front"}, line_shape="hv")
    title = f"val mIoU against {front.figure}: {len(front.trials)} of {len(ranked)} trials on the front"
    if front.unreliable:
        title += f" ({len(front.unreliable)} left out: latency recorded unreliable)"
    figure.update_layout(title=title, xaxis_title=_axis_title(front.figure), yaxis_title="best val mIoU")
    return figure


def _write_chart(front: StudyFront, candidates: Sequence[MeasuredTrial], path: Path) -> Path:
    front_figure(front, candidates).write_html(path, include_plotlyjs="cdn", full_html=True)
    return path


def _scatter(trials: Sequence[MeasuredTrial], figure: Figure, name: str, *, mode: str, color: str) -> go.Scatter:
    hover = [
        f"trial #{trial.number}<br>val mIoU {trial.value:.4f}<br>"
        + "<br>".join(f"{key} {value:g}" for key, value in trial.cost.figures().items())
        + "".join(f"<br>{key}={value}" for key, value in trial.params.items())
        for trial in trials
    ]
    return go.Scatter(
        x=[trial.figure(figure) for trial in trials],
        y=[trial.value for trial in trials],
        mode=mode,
        name=name,
        marker={"color": color, "size": 9},
        hovertext=hover,
        hoverinfo="text",
    )


def _axis_title(figure: Figure) -> str:
    return {"latency_ms": "latency (ms per image)", "params_m": "parameters (M)", "gflops": "GFLOPs per image"}[figure]
