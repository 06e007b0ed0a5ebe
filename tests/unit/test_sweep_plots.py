"""Which study plots are written, from a real Optuna study."""

from __future__ import annotations

from pathlib import Path

import optuna

from sweep.results.plots import MIN_TRIALS_FOR_IMPORTANCE, write_plots

DRAWN = ("optimization_history", "intermediate_values", "parallel_coordinate")
"""The plots of a study with fewer than `MIN_TRIALS_FOR_IMPORTANCE` completed trials."""


def _study(completed: int) -> optuna.Study:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(completed):
        trial = study.ask()
        lr = trial.suggest_float("lr", 1e-3, 1e-1, log=True)
        momentum = trial.suggest_float("momentum", 0.5, 0.99)
        trial.report(lr, step=1)
        study.tell(trial, lr * momentum)
    return study


def test_importances_wait_for_enough_completed_trials(tmp_path: Path) -> None:
    few = {path.name for path in write_plots(_study(MIN_TRIALS_FOR_IMPORTANCE - 1), tmp_path / "few")}
    assert few == {f"{name}.{kind}" for name in DRAWN for kind in ("png", "html")}
    enough = {path.name for path in write_plots(_study(MIN_TRIALS_FOR_IMPORTANCE), tmp_path / "enough")}
    assert enough == few | {"param_importances.png", "param_importances.html"}
    assert (tmp_path / "enough" / "param_importances.png").stat().st_size > 1000


def test_html_plots_are_small_plotly_pages(tmp_path: Path) -> None:
    study = _study(3)
    write_plots(study, tmp_path)
    page = (tmp_path / "parallel_coordinate.html").read_text()
    assert page.startswith("<!doctype html>") and "Plotly.newPlot" in page
    assert 'src="https://cdn.plot.ly/plotly-' in page and len(page) < 200_000, "plotly.js from the CDN, not inside"
    assert '"momentum"' in page and '"lr"' in page, "the searched params are axes"
