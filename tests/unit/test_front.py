"""The accuracy–cost front (`sweep.results.front`) and the choice of a trial under a budget
(`sweep.results.within_budget`), against fronts and choices worked out by hand; `sweep best --front` on a
hand-made study. Whole studies: `tests/e2e/test_front_study.py`."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import study_document, unmade_data_train
from optuna.trial import TrialState, create_trial

from sweep.cli import cli
from sweep.results.front import MeasuredTrial, Point, front_of, measured_candidates, pareto_front
from sweep.results.front_pages import write_front_pages
from sweep.results.within_budget import best_within, budget_options, budget_tags, over_budget_reason
from sweep.spec.constraints import Constraints
from sweep.trials.record import NETWORK_COST_ATTR, RUN_ID_ATTR, WARM_START_ATTR
from sweep.trials.record_values import NetworkCost

# ---------------------------------------------------------------- the front


def numbers(points: list[Point]) -> list[int]:
    return [point.number for point in points]


def test_the_front_keeps_what_nothing_dominates_cheapest_first() -> None:
    # cost:  1    2    3    4    5    6
    # value: .50  .40  .70  .65  .90  .80  -> #0 (.50 @ 1), #2 (.70 @ 3), #4 (.90 @ 5)
    points = [
        Point(4, 0.90, 5.0),
        Point(1, 0.40, 2.0),
        Point(0, 0.50, 1.0),
        Point(5, 0.80, 6.0),
        Point(2, 0.70, 3.0),
        Point(3, 0.65, 4.0),
    ]
    front = pareto_front(points)
    assert numbers(front) == [0, 2, 4]
    assert [point.value for point in front] == [0.50, 0.70, 0.90], "values rise as costs do"


def test_an_equal_cost_keeps_the_best_value_and_an_equal_point_the_lowest_number() -> None:
    points = [
        Point(7, 0.60, 2.0),
        Point(3, 0.60, 2.0),  # the same point as #7: #3 stands for both
        Point(5, 0.55, 2.0),  # same cost, worse value
        Point(1, 0.60, 3.0),  # same value, dearer: dominated
        Point(2, 0.61, 3.0),
        Point(9, 0.61, 3.0),
    ]
    assert numbers(pareto_front(points)) == [3, 2]


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([], []),
        ([Point(0, 0.3, 9.0)], [0]),
        ([Point(0, 0.9, 1.0), Point(1, 0.8, 2.0), Point(2, 0.1, 3.0)], [0]),  # one point beats all
        ([Point(0, 0.1, 1.0), Point(1, 0.2, 2.0), Point(2, 0.3, 3.0)], [0, 1, 2]),  # every trade-off
    ],
    ids=["empty", "one", "one-dominates", "all-on-the-front"],
)
def test_small_fronts(points: list[Point], expected: list[int]) -> None:
    assert numbers(pareto_front(points)) == expected


def measured(
    number: int,
    value: float,
    *,
    latency_ms: float,
    params_m: float,
    gflops: float = 1.0,
    latency_reliable: bool = True,
) -> MeasuredTrial:
    cost = NetworkCost(
        params_m,
        gflops,
        latency_ms,
        "cpu float32 64px",
        latency_spread_ms=0.5,
        latency_reliable=latency_reliable,
    )
    return MeasuredTrial(number, value, cost, {"model.backbone": "b"}, f"run{number}")


TRIALS = [
    measured(0, 0.50, latency_ms=10.0, params_m=11.7),
    measured(1, 0.62, latency_ms=30.0, params_m=40.4),
    measured(2, 0.58, latency_ms=12.0, params_m=11.7),
    measured(3, 0.70, latency_ms=5.0, params_m=40.4, latency_reliable=False),
    measured(4, 0.66, latency_ms=45.0, params_m=59.3, gflops=9.0),
]


def test_a_latency_front_leaves_out_unreliable_latencies_and_a_params_front_ranks_them() -> None:
    latency = front_of(TRIALS, "latency_ms")
    assert [trial.number for trial in latency.trials] == [0, 2, 1, 4]
    assert latency.unreliable == [3]
    assert latency.unreliable_note() == (
        "left out 1 trials whose latency was recorded unreliable (measured under CPU contention): #3; --by "
        "params_m or --by gflops ranks them"
    )
    params = front_of(TRIALS, "params_m")
    assert [trial.number for trial in params.trials] == [2, 3], "11.7 M: #2 beats #0; 40.4 M: #3 beats #1"
    assert params.unreliable == [] and params.unreliable_note() is None


# ---------------------------------------------------------------- a budget


def budget(**maxima: float) -> Constraints:
    return Constraints.model_validate({key: {"max": limit} for key, limit in maxima.items()})


@pytest.mark.parametrize(
    ("maxima", "chosen"),
    [
        ({"params_m": 20}, 2),  # #0 and #2 fit; #2 is better
        ({"params_m": 40.4}, 3),  # a figure at its maximum keeps it
        ({"params_m": 100}, 3),  # everything fits: the best overall
        ({"latency_ms": 100}, 4),  # #3's 5 ms is unreliable: it keeps no latency budget
        ({"latency_ms": 11}, 0),
        ({"latency_ms": 40, "params_m": 30}, 2),  # combined: both must hold
        ({"gflops": 2, "latency_ms": 31}, 1),
    ],
)
def test_the_best_trial_within_a_budget(maxima: dict[str, float], chosen: int) -> None:
    best = best_within(TRIALS, budget(**maxima))
    assert best is not None and best.number == chosen


def test_equal_values_within_a_budget_go_to_the_cheapest_then_the_lowest_number() -> None:
    trials = [
        measured(5, 0.6, latency_ms=9.0, params_m=11.7),
        measured(6, 0.6, latency_ms=8.0, params_m=11.7),
        measured(2, 0.6, latency_ms=8.0, params_m=11.7),
    ]
    best = best_within(trials, budget(latency_ms=10))
    assert best is not None and best.number == 2


def test_no_trial_within_a_budget_names_it_and_the_cheapest_figures() -> None:
    tight = budget(latency_ms=4, params_m=5)
    assert best_within(TRIALS, tight) is None
    assert over_budget_reason(TRIALS, tight) == (
        "has no completed trial within --max-params-m 5 and --max-latency-ms 4: the cheapest params_m is 11.7 "
        "(trial #0); the cheapest reliable latency_ms is 10 (trial #0); raise the budget or run networks that fit it"
    )
    unreliable_only = [TRIALS[3]]
    assert over_budget_reason(unreliable_only, budget(latency_ms=4)) == (
        "has no completed trial within --max-latency-ms 4: no trial recorded a reliable latency_ms; raise the "
        "budget or run networks that fit it"
    )


def test_a_budget_as_options_and_as_registry_tags() -> None:
    combined = budget(gflops=2.5, latency_ms=25)
    assert budget_options(combined) == "--max-gflops 2.5 and --max-latency-ms 25", "in the order of FIGURES"
    assert budget_tags(combined) == {"sweep.budget.latency_ms": "25", "sweep.budget.gflops": "2.5"}


# ---------------------------------------------------------------- a study's candidates and `sweep best --front`


def cost_attr(params_m: float, latency_ms: float, *, reliable: bool = True) -> dict[str, Any]:
    return {
        "params_m": params_m,
        "gflops": params_m / 10,
        "latency_ms": latency_ms,
        "measured_on": "cpu float32 64px",
        "latency_spread_ms": 0.5,
        "latency_reliable": reliable,
    }


def completed(value: float, cost: dict[str, Any] | None, **attrs: Any) -> optuna.trial.FrozenTrial:
    user_attrs = {**attrs, **({} if cost is None else {NETWORK_COST_ATTR: cost})}
    return create_trial(state=TrialState.COMPLETE, value=value, user_attrs=user_attrs)


def hand_made_study(folder: Path) -> Path:
    """A study file and its storage in `folder`: six trials, of which #0, #1, #3 and #5 are measured
    candidates (#2 was copied by a warm start, #4 recorded no cost, #6 was pruned); #3's latency is
    unreliable."""
    study_file = folder / "study.yaml"
    study_file.write_text(yaml.safe_dump(study_document("front", n_trials=7, train=unmade_data_train())))
    (folder / "runs" / "front").mkdir(parents=True)
    study = optuna.create_study(
        study_name="front", storage=f"sqlite:///{folder}/runs/front/optuna.db", direction="maximize"
    )
    study.add_trials(
        [
            completed(0.50, cost_attr(11.7, 10.0), **{RUN_ID_ATTR: "a" * 32}),
            completed(0.62, cost_attr(40.4, 30.0), **{RUN_ID_ATTR: "b" * 32}),
            completed(0.99, cost_attr(1.0, 1.0), **{WARM_START_ATTR: {"study": "old", "trial": 0}}),
            completed(0.70, cost_attr(40.4, 5.0, reliable=False)),
            completed(0.95, None),
            completed(0.58, cost_attr(11.7, 12.0)),
            create_trial(state=TrialState.PRUNED, user_attrs={NETWORK_COST_ATTR: cost_attr(0.5, 0.5)}),
        ]
    )
    return study_file


def test_a_study_s_measured_candidates_are_its_own_completed_trials_with_a_cost(tmp_path: Path) -> None:
    hand_made_study(tmp_path)
    study = optuna.load_study(study_name="front", storage=f"sqlite:///{tmp_path}/runs/front/optuna.db")
    assert [trial.number for trial in measured_candidates(study)] == [0, 1, 3, 5]


def test_sweep_best_front_lists_the_front_as_json_and_says_what_it_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_file = hand_made_study(tmp_path)
    monkeypatch.chdir(tmp_path)
    shown = CliRunner().invoke(cli, ["best", str(study_file), "--front", "--json"])
    assert shown.exit_code == 0, shown.output
    front = json.loads(shown.stdout)
    assert [(trial["number"], trial["value"], trial["latency_ms"]) for trial in front] == [
        (0, 0.50, 10.0),
        (5, 0.58, 12.0),
        (1, 0.62, 30.0),
    ]
    assert front[0] == {
        "number": 0,
        "value": 0.5,
        **cost_attr(11.7, 10.0),
        "params": {},
        "mlflow_run_id": "a" * 32,
    }
    assert shown.stderr == (
        "note: left out 1 trials whose latency was recorded unreliable (measured under CPU contention): #3; --by "
        "params_m or --by gflops ranks them\n"
    )

    by_params = CliRunner().invoke(cli, ["best", str(study_file), "--front", "--by", "params_m"])
    assert by_params.exit_code == 0, by_params.output
    lines = by_params.stdout.splitlines()
    assert "study front: val mIoU against params_m" in lines[0]
    rows = [line.split("│")[1:8] for line in lines if line.startswith("│ ") and "#" not in line]
    assert [[cell.strip() for cell in row] for row in rows] == [
        ["5", "0.5800", "12.0", "11.70", "1.17", "", "-"],
        ["3", "0.7000", "5.0 (unreliable)", "40.40", "4.04", "", "-"],
    ]


def test_sweep_best_by_without_front_is_a_usage_error(tmp_path: Path) -> None:
    study_file = hand_made_study(tmp_path)
    refused = CliRunner().invoke(cli, ["best", str(study_file), "--by", "gflops"])
    assert refused.exit_code == 2
    assert "Error: --by chooses the figure of --front; add --front" in refused.output


# ---------------------------------------------------------------- the parent run's front pages


def test_the_front_pages_hold_each_front_as_a_table_and_a_chart(tmp_path: Path) -> None:
    hand_made_study(tmp_path)
    study = optuna.load_study(study_name="front", storage=f"sqlite:///{tmp_path}/runs/front/optuna.db")
    pages = write_front_pages(study, tmp_path / "front")
    assert [page.name for page in pages] == [
        "front.csv",
        "front_params_m.html",
        "front_gflops.html",
        "front_latency_ms.html",
    ]
    with pages[0].open() as file:
        rows = list(csv.DictReader(file))
    # params_m: 11.7 M keeps #5 (.58 beats #0's .50), 40.4 M keeps #3 (.70 beats #1's .62); gflops is params/10;
    # latency leaves out #3 (unreliable): 10 ms #0 (.50), 12 ms #5 (.58), 30 ms #1 (.62).
    assert [(row["front_by"], row["rank"], row["number"]) for row in rows] == [
        ("params_m", "1", "5"),
        ("params_m", "2", "3"),
        ("gflops", "1", "5"),
        ("gflops", "2", "3"),
        ("latency_ms", "1", "0"),
        ("latency_ms", "2", "5"),
        ("latency_ms", "3", "1"),
    ]
    assert rows[4]["mlflow_run_id"] == "a" * 32 and float(rows[4]["latency_ms"]) == 10.0
    latency_page = pages[3].read_text()
    assert "val mIoU against latency_ms: 3 of 3 trials on the front (1 left out: latency recorded unreliable)" in (
        latency_page
    )
    assert "trial #3" not in latency_page and "trial #3" in pages[1].read_text()


def test_a_study_without_measured_trials_has_no_front_pages(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trial(completed(0.5, None))
    assert write_front_pages(study, tmp_path / "front") == []
    assert not (tmp_path / "front").exists()
