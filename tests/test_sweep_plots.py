"""Which study plots are written, from a real Optuna study."""

from __future__ import annotations

from pathlib import Path

import optuna

from sweep.plots import MIN_TRIALS_FOR_IMPORTANCE, write_plots


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
    assert "param_importances.png" not in few
    assert {"optimization_history.png", "intermediate_values.png", "parallel_coordinate.png"} <= few
    enough = {path.name for path in write_plots(_study(MIN_TRIALS_FOR_IMPORTANCE), tmp_path / "enough")}
    assert "param_importances.png" in enough
    assert (tmp_path / "enough" / "param_importances.png").stat().st_size > 1000
