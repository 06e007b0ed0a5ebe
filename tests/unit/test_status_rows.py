"""The typed row `sweep status` shows of each trial, read from its record, and the JSON that `sweep status
--json` and `sweep best --json` print of it: the keys, order and values of before, byte for byte."""

from __future__ import annotations

import json
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from sweep.cli.output import best_json, json_default, row_json
from sweep.results.reports import BestSummary, TrialRow, status_rows, trial_row
from sweep.trials.record_values import AttemptCompute, NetworkCost

COST = {"params_m": 40.351925, "gflops": 144.4, "latency_ms": 461.3, "measured_on": "cpu float32 513px"}
SPENT = {"attempt_epochs": 3, "attempt_wall_s": 36.0, "attempt_gpu_s": 36.0, "attempt_planned_epochs": 3}
LR = {"optim.lr": FloatDistribution(1e-4, 1.0, log=True)}


def stored(trial: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
    """`trial` as a study keeps it: trial #0."""
    study = optuna.create_study(direction="maximize")
    study.add_trial(trial)
    return study.trials[0]


def completed() -> optuna.trial.FrozenTrial:
    attrs = {"epochs_run": 3, "mlflow_run_id": "0123abcd", "enqueued": {"optim.lr": 0.01}, "network_cost": COST}
    return stored(
        create_trial(
            value=0.625,
            params={"optim.lr": 0.01},
            distributions=LR,
            intermediate_values={1: 0.5, 2: 0.625, 3: 0.6},
            user_attrs={**attrs, **SPENT},
        )
    )


def test_a_completed_trials_row_holds_its_record() -> None:
    assert trial_row(completed()) == TrialRow(
        number=0,
        state="COMPLETE",
        best_miou=0.625,
        epochs_run=3,
        params={"optim.lr": 0.01},
        mlflow_run_id="0123abcd",
        fail_reason=None,
        retry_of=None,
        note=None,
        origin="enqueued",
        pruned_because=None,
        compute=AttemptCompute(epochs=3, wall_s=36.0, gpu_s=36.0, planned_epochs=3),
        cost=NetworkCost(params_m=40.351925, gflops=144.4, latency_ms=461.3, measured_on="cpu float32 513px"),
        infeasible=None,
    )


@pytest.mark.parametrize(
    ("state", "attrs", "system_attrs", "shown"),
    [
        (
            TrialState.PRUNED,
            {"pruned_at_step": 2, "pruned_value": 0.25, "pruned_against": 0.5, "pruned_compared_trials": 3},
            {"failed_trial": 1},
            {
                "state": "PRUNED",
                "epochs_run": 2,
                "retry_of": 1,
                "pruned_because": "pruned at epoch 2: val mIoU 0.2500 < median 0.5000 of 3 trials",
            },
        ),
        (
            TrialState.PRUNED,
            {"infeasible": "params_m 40.35 > max 30", "network_cost": COST},
            None,
            {"state": "INFEASIBLE", "infeasible": "params_m 40.35 > max 30"},
        ),
        (
            TrialState.FAIL,
            {"interrupted": "SIGTERM during epoch 3", "fail_reason": "KeyboardInterrupt: "},
            None,
            {"state": "INTERRUPTED", "note": "SIGTERM during epoch 3", "fail_reason": "KeyboardInterrupt: "},
        ),
        (
            TrialState.FAIL,
            {"fail_reason": "DivergedError: loss is nan", "failed_for_good": "failed for good: the same params"},
            None,
            {"state": "FAIL", "note": "failed for good: the same params", "fail_reason": "DivergedError: loss is nan"},
        ),
        (
            TrialState.COMPLETE,
            {"warm_start_origin": {"study": "a", "storage": "sqlite:///a.db", "trial": 7}},
            None,
            {"state": "COMPLETE", "best_miou": 0.9, "origin": "copied from study 'a' trial 7"},
        ),
    ],
)
def test_the_row_says_how_an_attempt_ended_and_where_it_came_from(
    state: TrialState, attrs: dict[str, Any], system_attrs: dict[str, Any] | None, shown: dict[str, Any]
) -> None:
    """A row without `epochs_run` shows the epochs the trial reported, and one not COMPLETE the best mIoU it
    reported (0.25 of 0.1 and 0.25)."""
    value = 0.9 if state == TrialState.COMPLETE else None
    trial = create_trial(
        state=state, value=value, intermediate_values={1: 0.1, 2: 0.25}, user_attrs=attrs, system_attrs=system_attrs
    )
    row = trial_row(trial)
    unset = {"best_miou": 0.25, "epochs_run": 2, "retry_of": None, "note": None, "fail_reason": None, "origin": None}
    expected = {**unset, "pruned_because": None, "infeasible": None, **shown}
    assert {key: getattr(row, key) for key in expected} == expected


def test_the_json_of_a_row_and_of_the_best_trial_is_that_of_before() -> None:
    row = trial_row(completed())
    assert json.dumps(row_json(row), default=json_default) == (
        '{"number": 0, "state": "COMPLETE", "best_miou": 0.625, "epochs_run": 3, "params": {"optim.lr": 0.01}, '
        '"mlflow_run_id": "0123abcd", "fail_reason": null, "retry_of": null, "note": null, "origin": "enqueued", '
        '"pruned_because": null, "compute": {"epochs": 3, "wall_s": 36.0, "gpu_s": 36.0}, "cost": {"params_m": '
        '40.351925, "gflops": 144.4, "latency_ms": 461.3, "measured_on": "cpu float32 513px"}, "infeasible": null}'
    )
    uris = ["models:/segsweep@champion", "models:/segsweep/1"]
    best = BestSummary(row, {"val/miou": 0.625}, 2, "runs:/0123abcd/checkpoint/best.pt", uris, uris[0])
    assert json.dumps(best_json(best), default=json_default) == json.dumps(row_json(row))[:-1] + (
        ', "metrics": {"val/miou": 0.625}, "best_epoch": 2, "checkpoint_uri": "runs:/0123abcd/checkpoint/best.pt", '
        '"registered_model_uris": ["models:/segsweep@champion", "models:/segsweep/1"], "model_uri": '
        '"models:/segsweep@champion"}'
    )
    never_run = trial_row(stored(create_trial(state=TrialState.FAIL)))
    assert json.dumps(row_json(never_run)) == (
        '{"number": 0, "state": "FAIL", "best_miou": null, "epochs_run": 0, "params": {}, "mlflow_run_id": null, '
        '"fail_reason": null, "retry_of": null, "note": null, "origin": null, "pruned_because": null, '
        '"compute": null, "cost": null, "infeasible": null}'
    )


def test_status_rows_leave_out_the_surplus_trials() -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(value=0.5))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"surplus": "created after all 1"}))
    study.add_trial(create_trial(state=TrialState.WAITING, user_attrs={"enqueued": {}}))
    assert [(row.number, row.state, row.origin) for row in status_rows(study)] == [
        (0, "COMPLETE", None),
        (2, "WAITING", "enqueued"),
    ]
