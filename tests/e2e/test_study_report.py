"""The study report, `report.html`, drawn by headless Chromium from a file and inside the MLflow UI.

One 3-trial study runs against a private `mlflow server` (SQLite backend, proxied artifacts). Its parent run
must carry `report.html`, and `sweep report` must write the same leaderboard from the storage. Chromium then
loads the page from a file (the screenshot is docs/report.png, which docs/sweeps.md and the README show) and
through the UI's artifact view, which shows an HTML artifact in a sandboxed frame of a blob URL: the frame's
DOM is not in the dumped page, so the screenshot's pixels show that it drew, and the artifact the frame was
made of is read over REST. The report of the session's pruning study says why each trial was pruned or
failed, as `sweep status` does.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pytest
from PIL import Image
from services import MlflowServer, StudyRun, chromium, render_in_chromium, run_sweep_study, sweep_command

from sweep.results.notes import trial_notes
from sweep.results.reports import status_rows

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCREENSHOT = DOCS / "report.png"
WINDOW = (1400, 1100)
N_TRIALS = 3
COMPLETE_GREEN = (0x17, 0x6B, 0x1F)
"""The colour of the COMPLETE state in the leaderboard (report.html's stylesheet)."""


@pytest.fixture(scope="module")
def study(synth_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudyRun]:
    chromium()  # skip (or fail under CI) before the study when there is no browser
    server = MlflowServer(tmp_path_factory.mktemp("report-mlflow"))
    server.start()
    try:
        outcome = run_sweep_study(
            "report", synth_voc, tmp_path_factory.mktemp("report"), n_trials=N_TRIALS, tracking_uri=server.uri
        )
        assert outcome.returncode == 0, f"sweep run failed:\n{outcome.stdout}\n{outcome.stderr}"
        yield outcome
    finally:
        server.stop()


def parent_run_id(study: StudyRun) -> str:
    return next(run.info.run_id for run in study.runs() if run.data.tags["sweep.role"] == "study")


def trial_runs(study: StudyRun) -> dict[str, int]:
    """Run id -> trial number of each trial run."""
    runs = [run for run in study.runs() if run.data.tags["sweep.role"] == "trial"]
    return {run.info.run_id: int(run.info.run_name.removeprefix("trial-")) for run in runs}


def leaderboard(page: str) -> str:
    return page.partition("<tbody>")[2].partition("</tbody>")[0]


def listed_trials(page: str) -> dict[int, str]:
    """Trial number -> the run id its leaderboard row links to."""
    rows = re.findall(r'<tr class="\w+" data-trial="(\d+)">(.*?)</tr>', leaderboard(page), re.S)
    return {int(number): re.findall(r"/runs/([0-9a-f]{32})\?", cells)[0] for number, cells in rows}


def render(url: str, profile: Path, screenshot: Path) -> str:
    """The DOM after Chromium has run the page, and the page as a PNG at `screenshot`."""
    return render_in_chromium(url, profile, window=WINDOW, screenshot=screenshot)


def inked_fraction(png: Path) -> float:
    """The fraction of the pixels that are not white."""
    with Image.open(png) as image:
        grey = np.asarray(image.convert("L"))
    return float((grey < 245).mean())


def green_pixels(png: Path) -> int:
    """Pixels of about `COMPLETE_GREEN`: the state column of completed trials."""
    with Image.open(png) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    return int((np.abs(rgb - np.array(COMPLETE_GREEN)) <= 24).all(axis=-1).sum())


def test_the_parent_run_carries_the_report_and_sweep_report_writes_the_same(study: StudyRun) -> None:
    stored = Path(study.client().download_artifacts(parent_run_id(study), "report.html", str(study.workdir)))
    page = stored.read_text()
    assert "<h1>Study report</h1>" in page and '<dd id="state">finished</dd>' in page
    assert f'<dd id="budget">{N_TRIALS} of {N_TRIALS} trials done</dd>' in page
    assert {number: run for run, number in trial_runs(study).items()} == listed_trials(page)
    environment = {**os.environ, "MLFLOW_TRACKING_URI": study.tracking_uri}
    written = subprocess.run(
        [*sweep_command(), "report", "study.yaml", "--out", "local/report.html"],
        cwd=study.workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert (written.returncode, written.stdout, written.stderr) == (0, "report: local/report.html\n", "")
    assert leaderboard((study.workdir / "local" / "report.html").read_text()) == leaderboard(page)


def test_the_report_says_why_each_trial_was_pruned_or_failed(finished_study: dict[str, Any], tmp_path: Path) -> None:
    """The session's pruning study (tests/e2e/conftest.py): completed, pruned and diverged trials."""
    study, client = finished_study["study"], finished_study["client"]
    parent = study.user_attrs["mlflow_parent_run_id"]
    page = Path(client.download_artifacts(parent, "report.html", str(tmp_path))).read_text()
    rows = status_rows(study)
    assert {"COMPLETE", "PRUNED", "FAIL"} <= {row.state for row in rows}
    assert sorted(int(number) for number in re.findall(r'data-trial="(\d+)"', page)) == [row.number for row in rows]
    for row in rows:
        cells = page.partition(f'data-trial="{row.number}">')[2].partition("</tr>")[0]
        assert f'<td class="state">{row.state}</td>' in cells
        assert f"<td>{html.escape(trial_notes(row))}</td>" in cells
        assert row.state == "COMPLETE" or trial_notes(row), f"trial {row.number} {row.state} without a note"


def test_the_report_draws_from_a_file(study: StudyRun, tmp_path: Path) -> None:
    page = study.workdir / "from-file" / "report.html"
    page.parent.mkdir()
    study.client().download_artifacts(parent_run_id(study), "report.html", str(page.parent))
    dom = render(page.as_uri(), tmp_path / "profile", SCREENSHOT)
    assert sorted(listed_trials(dom)) == list(range(N_TRIALS)), "every trial in the rendered leaderboard"
    assert dom.count("<svg") == 3
    with Image.open(SCREENSHOT) as image:
        assert image.size == WINDOW
    assert inked_fraction(SCREENSHOT) > 0.05, "the charts and the table drew"
    assert green_pixels(SCREENSHOT) > 50, "the COMPLETE states drew"
    assert SCREENSHOT.stat().st_size < 400_000


def test_the_report_draws_in_the_mlflow_artifact_view(study: StudyRun, tmp_path: Path) -> None:
    run_id = parent_run_id(study)
    experiment = study.client().get_experiment_by_name(study.name)
    assert experiment is not None
    view = f"{study.tracking_uri}/#/experiments/{experiment.experiment_id}/runs/{run_id}/artifacts/report.html"
    shot = tmp_path / "artifact-view.png"
    # Headless Chromium sometimes takes its screenshot before the sandboxed frame has painted, on a busy
    # machine: a blank frame is looked at again, twice at most.
    for attempt in range(3):
        dom = render(f"{view}?{urlencode({'workflowType': 'machine_learning'})}", tmp_path / f"profile-{attempt}", shot)
        if green_pixels(shot) > 50:
            break
    assert re.search(r'<iframe src="blob:[^"]+" sandbox="allow-scripts" class="mlflow-html-iframe"', dom), dom[-3000:]
    assert green_pixels(shot) > 50, "the report's leaderboard drew inside the artifact frame"
    artifact = f"{study.tracking_uri}/get-artifact?{urlencode({'path': 'report.html', 'run_uuid': run_id})}"
    with urllib.request.urlopen(artifact, timeout=30) as response:
        served = response.read().decode()
    assert sorted(listed_trials(served)) == list(range(N_TRIALS))


def test_the_compare_view_opens_on_the_objective(study: StudyRun, tmp_path: Path) -> None:
    """The server keeps its runs in SQLite, which returns a run's metrics in the order they were first
    logged: the compare view's parallel coordinates then open on `best_val_miou` (`sweep.tracking.trial_run`)."""
    experiment = study.client().get_experiment_by_name(study.name)
    assert experiment is not None
    query = urlencode(
        {"runs": json.dumps(list(trial_runs(study))), "experiments": json.dumps([experiment.experiment_id])}
    )
    dom = render(f"{study.tracking_uri}/#/compare-runs?{query}", tmp_path / "profile", tmp_path / "compare.png")
    metric_axes = re.sub(r"<[^>]+>", "", dom).partition("Metrics:")[2].replace("&nbsp;", "").strip()
    assert metric_axes.startswith("best_val_miou"), f"the first metric axis: {metric_axes[:80]}"
