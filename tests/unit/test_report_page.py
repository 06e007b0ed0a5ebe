"""The study report page, rendered from a real in-memory Optuna study: leaderboard order, links, escaping,
and nothing loaded from elsewhere."""

from __future__ import annotations

import re

import optuna
import pytest
from optuna.trial import TrialState

from sweep.results.report import StudyReport, leaderboard, render_report
from sweep.results.report_charts import CHARTS, svg_charts
from sweep.results.reports import status_rows, study_compute

RUN = "0123456789abcdef0123456789abcdef"
RUN_PAGE = f"http://127.0.0.1:5000/#/experiments/1/runs/{RUN}?workflowType=machine_learning"
VALUES = {0: 0.25, 1: 0.5, 3: 0.125}
"""Trial number -> objective of the completed trials; trial 2 is pruned after reporting 0.75 at epoch 1."""


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for number in range(4):
        trial = study.ask()
        trial.suggest_float("optim.lr", 1e-3, 1e-1, log=True)
        trial.suggest_categorical("model.backbone", ["resnet18", "<script>alert(1)</script>"])
        trial.set_user_attr("mlflow_run_id", RUN if number == 1 else None)
        trial.report(0.1, 0)
        if number == 2:
            trial.report(0.75, 1)
            study.tell(trial, state=TrialState.PRUNED)
        else:
            trial.report(VALUES[number], 1)
            study.tell(trial, VALUES[number])
    return study


def page_of(study: optuna.Study, name: str = "lr <sweep> & co") -> str:
    rows = status_rows(study)
    report = StudyReport(
        name=name,
        state="finished",
        n_trials=4,
        done=4,
        compute=study_compute(study),
        entries=leaderboard(rows, {RUN: RUN_PAGE}),
        param_names=["model.backbone", "optim.lr"],
        charts=svg_charts(study),
        runs_link=None,
    )
    return render_report(report)


def test_the_leaderboard_lists_completed_trials_best_first_then_the_others(study: optuna.Study) -> None:
    entries = leaderboard(status_rows(study), {})
    assert [(entry.row.number, entry.row.state) for entry in entries] == [
        (1, "COMPLETE"),
        (0, "COMPLETE"),
        (3, "COMPLETE"),
        (2, "PRUNED"),
    ]
    assert [entry.row.best_miou for entry in entries] == [0.5, 0.25, 0.125, 0.75]


def test_the_page_has_a_row_per_trial_with_its_objective_and_run_link(study: optuna.Study) -> None:
    page = page_of(study)
    assert re.findall(r'data-trial="(\d+)"', page) == ["1", "0", "3", "2"]
    best_row = page.partition('data-trial="1"')[2].partition("</tr>")[0]
    assert "0.5000" in best_row and f'<a href="{RUN_PAGE.replace("&", "&amp;")}"' in best_row
    assert f">{RUN[:12]}</a>" in best_row
    pruned_row = page.partition('data-trial="2"')[2].partition("</tr>")[0]
    assert ">PRUNED<" in pruned_row and "0.7500" in pruned_row and "<a " not in pruned_row


def test_every_value_is_escaped(study: optuna.Study) -> None:
    page = page_of(study)
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<h1>Study lr &lt;sweep&gt; &amp; co</h1>" in page


def test_the_page_draws_every_chart_inline_and_loads_nothing(study: optuna.Study) -> None:
    page = page_of(study)
    assert page.count("<svg") == len(CHARTS) and "<?xml" not in page
    for title in CHARTS.values():
        assert f"<h2>{title}</h2>" in page
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b|@import|url\((?!#)", page), "an external load"
    assert not re.search(r'\bsrc=|xlink:href="(?!#|data:image/png;base64,)', page), "only in-page references"


def test_a_chart_the_trials_cannot_make_says_so() -> None:
    empty = optuna.create_study(direction="maximize")
    page = page_of(empty)
    assert "<svg" not in page
    assert page.count("not drawn: the study's trials do not make this chart yet") == len(CHARTS)
    assert "<tbody>\n</tbody>" in page
