"""The study report: one self-contained HTML page to open first, on the study's parent run (`report.html`)
and from `sweep report`.

It shows the study's state, budget and compute, a leaderboard of every trial (what `sweep status` shows,
with each trial's network figures and a link to its MLflow run) and the charts of `report_charts` as inline
SVG. The page loads nothing: no script, no stylesheet, no font, so it draws the same from a file, offline,
and inside MLflow's sandboxed artifact view. Every value is escaped by the template engine (jinja2's
autoescape); the SVG charts are the one markup let through, and matplotlib escapes the text inside them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2
import optuna
from markupsafe import Markup
from optuna.trial import TrialState

from sweep.results.notes import trial_notes
from sweep.results.report_charts import Chart, svg_charts
from sweep.results.reports import TrialRow, status_rows, study_compute
from sweep.spec.study_file import StudySpec
from sweep.tracking import TrackingStore, run_links, ui_links
from sweep.trials.budget import BudgetTally, TrialBudget
from sweep.trials.compute import StudyCompute

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("sweep.results", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,  # a misspelt field fails the render instead of printing nothing
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class LeaderboardEntry:
    """One trial of the leaderboard: its `sweep status` row, its notes and its page in MLflow's UI (None when
    it has no run, or the tracking URI has no UI)."""

    row: TrialRow
    notes: str
    run_link: str | None


@dataclass(frozen=True)
class StudyReport:
    """What the page shows. `entries` are the completed trials best first, then every other trial by number;
    `param_names` the searched params that any trial sampled, in the order they are shown."""

    name: str
    state: str
    n_trials: int
    done: int
    compute: StudyCompute
    entries: list[LeaderboardEntry]
    param_names: list[str]
    charts: list[Chart]
    runs_link: str | None


def study_report(spec: StudySpec, study: optuna.Study, *, experiment_id: str | None = None) -> StudyReport:
    """The report of `study`, as its storage holds it now. The links go to its MLflow experiment,
    `experiment_id` when the caller knows it (the study's own tracker), else looked up by name."""
    rows = status_rows(study)
    if experiment_id is None:
        experiment_id = TrackingStore(spec.tracking_uri).find_experiment_id(spec.experiment_name)
    run_ids = [row.mlflow_run_id for row in rows if row.mlflow_run_id is not None]
    runs_link, by_run = _links(spec, experiment_id, run_ids)
    budget = TrialBudget.of(spec.study)
    counts = budget.tally(study)
    return StudyReport(
        name=spec.study.name,
        state=_state(budget, counts, study),
        n_trials=budget.n_trials,
        done=counts.done,
        compute=study_compute(study),
        entries=leaderboard(rows, by_run),
        param_names=sorted({name for row in rows for name in row.params}),
        charts=svg_charts(study),
        runs_link=runs_link,
    )


def leaderboard(rows: list[TrialRow], run_links: Mapping[str, str]) -> list[LeaderboardEntry]:
    """The completed trials best first (the objective is maximised), then every other trial by number, each
    with its notes and the link of its run in `run_links` (run id -> page)."""
    completed = sorted((row for row in rows if row.state == "COMPLETE"), key=lambda row: -(row.best_miou or 0.0))
    others = sorted((row for row in rows if row.state != "COMPLETE"), key=lambda row: row.number)
    return [
        LeaderboardEntry(row, trial_notes(row), None if row.mlflow_run_id is None else run_links.get(row.mlflow_run_id))
        for row in [*completed, *others]
    ]


def render_report(report: StudyReport) -> str:
    """The page of `report`."""
    charts = [(chart.title, None if chart.svg is None else Markup(chart.svg)) for chart in report.charts]
    return _TEMPLATES.get_template("report.html").render(report=report, charts=charts)


def write_report(spec: StudySpec, study: optuna.Study, path: Path, *, experiment_id: str | None = None) -> Path:
    """The report of `study` (`study_report`) as a page at `path` (its folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(study_report(spec, study, experiment_id=experiment_id)), encoding="utf-8")
    return path


def _state(budget: TrialBudget, counts: BudgetTally, study: optuna.Study) -> str:
    """`finished`; `gave up` (`max_failed_trials` reached); `running` (a trial of it runs now, anywhere); or
    `stopped with work left` (a retry waits or a place is free, and nothing runs: `sweep run` resumes it);
    `counts` is the budget's tally of the study now."""
    running = len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    if counts.failed >= budget.failure_limit:
        return f"gave up: {counts.failed} trials failed for good"
    if running:
        return f"running: {running} trials now"
    if counts.live or counts.waiting or counts.held < budget.n_trials:
        return "stopped with work left: `sweep run` resumes it"
    return "finished"


def _links(spec: StudySpec, experiment_id: str | None, run_ids: list[str]) -> tuple[str | None, dict[str, str]]:
    """The experiment's runs page and each run's page in MLflow's UI; nothing when the experiment does not
    exist or the tracking URI has no UI."""
    if experiment_id is None:
        return None, {}
    links = ui_links(spec.tracking_uri, experiment_id, None)
    return (None if links is None else links.runs), run_links(spec.tracking_uri, experiment_id, run_ids)
