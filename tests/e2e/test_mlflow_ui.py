"""The MLflow UI, in headless Chromium, lists a study's parent run and every trial's child run, and compares them.

A two-trial study runs against the `mlflow server` of `.ci/start-services`; Chromium then loads the
experiment's pages, and the rendered DOM is checked against the runs that the REST API returns. MLflow 3.17
opens an experiment on its GenAI overview unless the URL asks for the model-training view
(`workflowType=machine_learning`), as the links that `sweep run` prints do: they open on the runs table.

By default the runs table nests child runs, collapsed, under their parent. MLflow lists them flat when the
table is sorted by anything other than the start time, so the page is sorted by the trials' objective metric
`best_val_miou`: best trial first, as `sweep run` links it. The screenshots land in docs/mlflow-runs.png and
docs/mlflow-compare.png (the compare view of the trial runs: parallel coordinates and the params that
differ, which are the searched ones only, since paths are tags), which the README shows.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from mlflow.tracking import MlflowClient
from PIL import Image
from services import StudyRun, chromium, render_in_chromium

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCREENSHOT = DOCS / "mlflow-runs.png"
COMPARE_SCREENSHOT = DOCS / "mlflow-compare.png"
WINDOW = (1600, 720)
COMPARE_WINDOW = (1600, 1200)
N_TRIALS = 2
MODEL_TRAINING = urlencode({"workflowType": "machine_learning"})
SORTED_BY_OBJECTIVE = urlencode(
    {"workflowType": "machine_learning", "orderByKey": "metrics.`best_val_miou`", "orderByAsc": "false"}
)


@pytest.fixture(scope="module")
def study(request: pytest.FixtureRequest) -> StudyRun:
    """The session's 2-trial `services_study` (tests/e2e/conftest.py), which test_services_mlflow checks too."""
    chromium()  # fail or skip before the study when there is no browser
    outcome: StudyRun = request.getfixturevalue("services_study")
    assert outcome.n_trials == N_TRIALS
    return outcome


def experiment_id(study: StudyRun) -> str:
    experiment = MlflowClient(study.tracking_uri).get_experiment_by_name(study.name)
    assert experiment is not None
    return str(experiment.experiment_id)


def render(url: str, profile: Path, *, screenshot: Path | None = None, window: tuple[int, int] = WINDOW) -> str:
    """The DOM after Chromium has run the page's scripts (and the page as a PNG at `screenshot`)."""
    return render_in_chromium(url, profile, window=window, screenshot=screenshot)


def listed_runs(dom: str, experiment: str) -> dict[str, str]:
    """Run id -> run name of every run-name link in the runs table."""
    link = rf'href="#/experiments/{experiment}/runs/([0-9a-f]{{32}})"[^>]*>(?:<[^>]+>)*([^<]+)<'
    return dict(re.findall(link, dom))


def text_of(dom: str) -> str:
    return re.sub(r"<[^>]+>", "", dom)


def test_the_experiment_opens_on_its_runs_table_in_the_model_training_view(study: StudyRun, tmp_path: Path) -> None:
    experiment = experiment_id(study)
    assert study.client().get_experiment(experiment).tags["mlflow.experimentKind"] == "custom_model_development"
    dom = render(f"{study.tracking_uri}/#/experiments/{experiment}?{MODEL_TRAINING}", tmp_path / "profile")
    parent = next(run for run in study.runs() if run.data.tags["sweep.role"] == "study")
    assert listed_runs(dom, experiment).get(parent.info.run_id) == study.name, "not the GenAI overview"
    assert f"{N_TRIALS + 1} matching runs" in text_of(dom)


def test_the_printed_best_run_link_opens_the_best_trial(study: StudyRun, tmp_path: Path) -> None:
    trials = {run.info.run_id: run for run in study.runs() if run.data.tags["sweep.role"] == "trial"}
    links = [line.removeprefix("best run: ") for line in study.stdout.splitlines() if line.startswith("best run: ")]
    assert not [line for line in study.stdout.splitlines() if "View run" in line], "MLflow's own links are off"
    assert len(links) == 1, study.stdout
    experiment = experiment_id(study)
    run_id = re.fullmatch(rf"{study.tracking_uri}/#/experiments/{experiment}/runs/(\w+)\?{MODEL_TRAINING}", links[0])
    assert run_id is not None, links[0]
    best = trials[run_id.group(1)]
    assert best.data.metrics["best_val_miou"] == max(run.data.metrics["best_val_miou"] for run in trials.values())
    text = text_of(render(links[0], tmp_path / "profile"))
    assert best.info.run_name in text and "best_val_miou" in text


def test_runs_page_shows_the_parent_run_and_counts_its_children(study: StudyRun, tmp_path: Path) -> None:
    experiment = experiment_id(study)
    dom = render(f"{study.tracking_uri}/#/experiments/{experiment}/runs", tmp_path / "profile")
    parent = next(run for run in study.runs() if run.data.tags["sweep.role"] == "study")
    assert listed_runs(dom, experiment).get(parent.info.run_id) == study.name
    assert f"{N_TRIALS + 1} matching runs" in text_of(dom)


def test_runs_sorted_by_the_objective_list_every_trial_best_first(study: StudyRun, tmp_path: Path) -> None:
    experiment = experiment_id(study)
    runs_page = f"{study.tracking_uri}/#/experiments/{experiment}/runs?{SORTED_BY_OBJECTIVE}"
    assert f"runs (best first): {runs_page}" in study.stdout.splitlines(), "the link `sweep run` prints"
    dom = render(runs_page, tmp_path / "profile", screenshot=SCREENSHOT)
    runs = study.runs()
    expected = {run.info.run_id: run.info.run_name for run in runs}
    assert sorted(expected.values()) == sorted([study.name, *(f"trial-{n}" for n in range(N_TRIALS))])
    listed = listed_runs(dom, experiment)
    assert listed == expected, "the table lists exactly the runs the REST API has"
    trials = [run for run in runs if run.data.tags["sweep.role"] == "trial"]
    best_first = sorted(trials, key=lambda run: -run.data.metrics["best_val_miou"])
    assert [run_id for run_id in listed if run_id in expected and expected[run_id] != study.name] == [
        run.info.run_id for run in best_first
    ]
    with Image.open(SCREENSHOT) as image:
        assert image.size == WINDOW
    assert SCREENSHOT.stat().st_size < 300_000


def test_compare_view_of_the_trials_diffs_only_the_searched_params(study: StudyRun, tmp_path: Path) -> None:
    experiment = experiment_id(study)
    trials = [run for run in study.runs() if run.data.tags["sweep.role"] == "trial"]
    assert {"checkpoint.dir", "data.root"} <= trials[0].data.tags.keys()
    query = urlencode(
        {"runs": json.dumps([run.info.run_id for run in trials]), "experiments": json.dumps([experiment])}
    )
    dom = render(
        f"{study.tracking_uri}/#/compare-runs?{query}",
        tmp_path / "profile",
        screenshot=COMPARE_SCREENSHOT,
        window=COMPARE_WINDOW,
    )
    text = text_of(dom)
    axes = re.search(r"Parameters:(.*?)Metrics:", text)
    assert axes is not None and axes.group(1).replace("&nbsp;", "").strip() == "optim.lr", "the searched param only"
    # The first metric axis is checked on an SQLite-backed server (test_study_report.py): this one keeps its
    # runs' metrics in PostgreSQL, which returns them in no set order.
    params_table = text.partition("ParametersShow diff only")[2].partition("MetricsShow diff only")[0]
    assert "optim.lr" in params_table and "checkpoint.dir" not in params_table, "paths are tags, not params"
    assert "best_val_miou" in text.partition("MetricsShow diff only")[2]
    with Image.open(COMPARE_SCREENSHOT) as image:
        assert image.size == COMPARE_WINDOW
    assert COMPARE_SCREENSHOT.stat().st_size < 400_000
