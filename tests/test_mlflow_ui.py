"""The MLflow UI, in headless Chromium, lists a study's parent run and every trial's child run.

A two-trial study runs against the `mlflow server` of `.ci/start-services`; Chromium then loads the
experiment's runs page (MLflow 3 opens an experiment on its GenAI overview, so the test goes to
`#/experiments/<id>/runs`), and the rendered DOM is checked against the runs that the REST API returns. The
screenshot lands in docs/mlflow-runs.png, which the README shows.

By default the runs table nests child runs, collapsed, under their parent. MLflow lists them flat when the
table is sorted by anything other than the start time, so the page is sorted by `val/miou`: best trial first.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlencode

import pytest
from mlflow.tracking import MlflowClient
from PIL import Image
from services import StudyRun, chromium, mlflow_uri, postgres_url, run_sweep_study

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "mlflow-runs.png"
WINDOW = (1600, 720)
N_TRIALS = 2
SORTED_BY_MIOU = urlencode({"orderByKey": "metrics.`val/miou`", "orderByAsc": "false"})


@pytest.fixture(scope="module")
def study(synth_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> StudyRun:
    chromium()  # fail or skip before the study when there is no browser
    name = f"tiny-sweep-{uuid.uuid4().hex[:4]}"  # the server outlives the tests: a fresh experiment each time
    outcome = run_sweep_study(
        name,
        synth_voc,
        tmp_path_factory.mktemp("ui"),
        n_trials=N_TRIALS,
        storage_url=postgres_url(),
        tracking_uri=mlflow_uri(),
    )
    assert outcome.returncode == 0, f"sweep run failed:\n{outcome.stdout}\n{outcome.stderr}"
    return outcome


def experiment_id(study: StudyRun) -> str:
    experiment = MlflowClient(study.tracking_uri).get_experiment_by_name(study.name)
    assert experiment is not None
    return str(experiment.experiment_id)


def render(url: str, profile: Path, *, screenshot: Path | None = None) -> str:
    """The DOM after Chromium has run the page's scripts (and the page as a PNG at `screenshot`)."""
    command = [
        chromium(),
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--hide-scrollbars",
        # Virtual time stands still while requests are pending, so 15 s of it is enough for the REST calls.
        "--virtual-time-budget=15000",
        *([f"--screenshot={screenshot}"] if screenshot else []),
        "--dump-dom",
        url,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def listed_runs(dom: str, experiment: str) -> dict[str, str]:
    """Run id -> run name of every run-name link in the runs table."""
    link = rf'href="#/experiments/{experiment}/runs/([0-9a-f]{{32}})"[^>]*>(?:<[^>]+>)*([^<]+)<'
    return dict(re.findall(link, dom))


def test_runs_page_shows_the_parent_run_and_counts_its_children(study: StudyRun, tmp_path: Path) -> None:
    experiment = experiment_id(study)
    dom = render(f"{study.tracking_uri}/#/experiments/{experiment}/runs", tmp_path / "profile")
    parent = next(run for run in study.runs() if run.data.tags["sweep.role"] == "study")
    assert listed_runs(dom, experiment).get(parent.info.run_id) == study.name
    assert f"{N_TRIALS + 1} matching runs" in re.sub(r"<[^>]+>", "", dom)


def test_runs_sorted_by_miou_list_the_parent_and_every_trial(study: StudyRun, tmp_path: Path) -> None:
    experiment = experiment_id(study)
    url = f"{study.tracking_uri}/#/experiments/{experiment}/runs?{SORTED_BY_MIOU}"
    dom = render(url, tmp_path / "profile", screenshot=SCREENSHOT)
    expected = {run.info.run_id: run.info.run_name for run in study.runs()}
    assert sorted(expected.values()) == sorted([study.name, *(f"trial-{n}" for n in range(N_TRIALS))])
    assert listed_runs(dom, experiment) == expected, "the table lists exactly the runs the REST API has"
    with Image.open(SCREENSHOT) as image:
        assert image.size == WINDOW
    assert SCREENSHOT.stat().st_size < 300_000
