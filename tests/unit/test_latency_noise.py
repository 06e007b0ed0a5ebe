"""A latency measured under contention is flagged, measured again, never cached, and not judged by a sweep
(`trainer.latency_noise`, `trainer.model_cost`, `sweep.trials.feasibility`)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch
from helpers import tiny_train

import trainer.model_cost as model_cost
from sweep.spec.constraints import Constraints
from sweep.trials.feasibility import copied_cost, judge_trial, unjudged_latency
from sweep.trials.record import INFEASIBLE_ATTR, NETWORK_COST_ATTR
from sweep.trials.record_values import NetworkCost
from trainer.config import TrainConfig
from trainer.latency_noise import LatencyMeasurement, interquartile_range, others_runnable
from trainer.model_cost import ModelCost, measure_model_cost

CONTENDED = "3 other runnable tasks beside its 2 threads on 2 CPUs"


@pytest.mark.parametrize(
    ("timings", "spread"),
    [
        ([100.0], 0.0),
        ([100.0, 140.0], 20.0),  # quartiles 110 and 130
        ([20.0, 200.0, 60.0], 90.0),  # 40 and 130: half the range for three passes
        ([10.0, 11.0, 12.0, 13.0, 50.0], 2.0),  # 11 and 13: one slow pass barely moves it
    ],
)
def test_interquartile_range_by_hand(timings: list[float], spread: float) -> None:
    assert interquartile_range(timings) == pytest.approx(spread)


@pytest.mark.parametrize(
    ("spread", "others", "threads", "warning"),
    [
        (20.0, 0, 2, None),  # 20% of the median is the largest spread trusted
        (20.5, None, 2, "the interquartile range of its passes, 20.5 ms, is more than 20% of their median, 100.0 ms"),
        (5.0, 1, 1, None),  # two workers of one thread each on 2 CPUs do not compete
        (5.0, 1, 2, "1 other runnable task beside its 2 threads on 2 CPUs"),
        (5.0, 2, 1, "2 other runnable tasks beside its 1 thread on 2 CPUs"),
        (
            30.0,
            3,
            2,
            f"the interquartile range of its passes, 30.0 ms, is more than 20% of their median, 100.0 ms; {CONTENDED}",
        ),
    ],
)
def test_a_measurement_is_noisy_when_it_spreads_or_competes(
    spread: float, others: int | None, threads: int, warning: str | None
) -> None:
    measured = LatencyMeasurement(median_ms=100.0, spread_ms=spread, others_runnable=others, threads=threads, cpus=2)
    assert measured.warning() == warning


def test_others_runnable_leaves_out_the_reading_thread(tmp_path: Path) -> None:
    loadavg = tmp_path / "loadavg"
    loadavg.write_text("1.90 1.41 0.79 4/185 29167\n")
    assert others_runnable(samples=2, interval_s=0, loadavg=loadavg) == [3, 3]
    assert others_runnable(samples=2, interval_s=0, loadavg=tmp_path / "absent") == [], "not Linux: unknown"


@pytest.fixture
def counted_measurements(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each latency measurement's thread count, and a fresh cache."""
    calls: list[int] = []
    real = model_cost.measure_latency_ms

    def counted(*args: object, **kwargs: object) -> float:
        calls.append(torch.get_num_threads())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(model_cost, "measure_latency_ms", counted)
    monkeypatch.setattr(model_cost, "_MEASURED", {})
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    return calls


def test_a_contended_latency_is_measured_twice_flagged_and_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counted_measurements: list[int]
) -> None:
    monkeypatch.setattr(model_cost, "others_runnable", lambda: [3, 3, 3])
    monkeypatch.setattr(model_cost.os, "cpu_count", lambda: 2)
    config = TrainConfig.model_validate(tiny_train(tmp_path))
    cost = measure_model_cost(config, image_size=32, warmup=0, repeats=1)
    assert counted_measurements == [2, 2], "taken once more before it is kept as unreliable"
    assert not cost.latency_reliable and cost.latency_warning == CONTENDED
    assert cost.latency_spread_ms == 0.0, "one pass"
    measure_model_cost(config, image_size=32, warmup=0, repeats=1)
    assert len(counted_measurements) == 4, "an unreliable latency is measured again next time"


def test_a_quiet_latency_is_cached_per_thread_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, counted_measurements: list[int]
) -> None:
    monkeypatch.setattr(model_cost, "others_runnable", lambda: [0, 0, 0])
    config = TrainConfig.model_validate(tiny_train(tmp_path))
    before = torch.get_num_threads()
    try:
        # one pass, so no spread: a few ms passes at 32 px spread too much to be a stable example
        cost = measure_model_cost(config, image_size=32, warmup=0, repeats=1)
        assert measure_model_cost(config, image_size=32, warmup=0, repeats=1) == cost
        monkeypatch.setenv("OMP_NUM_THREADS", "1")  # as a worker told it shares the CPUs
        measure_model_cost(config, image_size=32, warmup=0, repeats=1)
    finally:
        torch.set_num_threads(before)
    assert counted_measurements == [2, 1], "measured again only when the thread count changed"
    assert cost.latency_reliable and cost.latency_warning is None and cost.latency_spread_ms == 0.0


def _unreliable(latency_ms: float, params_m: float = 11.7) -> ModelCost:
    return ModelCost(params_m, 0.8, latency_ms, 64, 513, "cpu", "float32", 900.0, False, CONTENDED)


def test_an_unreliable_latency_is_recorded_but_not_judged() -> None:
    study = optuna.create_study(direction="maximize")
    bounds = Constraints.model_validate({"latency_ms": {"max": 25}, "params_m": {"max": 30}})
    assert judge_trial(study.ask(), _unreliable(2120.0), bounds) is None, "2120 ms > 25 ms, but not trusted"
    infeasible = judge_trial(study.ask(), _unreliable(2120.0, params_m=40.0), bounds)
    assert infeasible is not None and infeasible.text() == "params_m 40 > max 30", "other bounds still apply"
    quiet, too_big = study.trials
    assert quiet.user_attrs == {
        NETWORK_COST_ATTR: {
            "params_m": 11.7,
            "gflops": 0.8,
            "latency_ms": 2120.0,
            "measured_on": "cpu float32 513px",
            "latency_spread_ms": 900.0,
            "latency_reliable": False,
        }
    }
    assert quiet.constraints == pytest.approx({"params_m": -18.3}), "Optuna gets no latency value to judge by"
    assert too_big.user_attrs[INFEASIBLE_ATTR] == "params_m 40 > max 30"
    assert unjudged_latency(_unreliable(2120.0), bounds) == (
        f"latency 2120.0 ms is unreliable: {CONTENDED}; not judged against latency_ms max 25"
    )
    assert unjudged_latency(_unreliable(2120.0), Constraints()) == f"latency 2120.0 ms is unreliable: {CONTENDED}"
    assert unjudged_latency(ModelCost(11.7, 0.8, 180.0, 64, 513, "cpu", "float32", 4.0), bounds) is None


@pytest.mark.parametrize(
    ("record", "reliable", "copied_constraints"),
    [
        ({"latency_ms": 461.3}, True, {"latency_ms": 436.3, "params_m": -18.3}),  # written before the key existed
        (
            {"latency_ms": 461.3, "latency_spread_ms": 2.0, "latency_reliable": True},
            True,
            {"latency_ms": 436.3, "params_m": -18.3},
        ),  # fmt: skip
        ({"latency_ms": 461.3, "latency_spread_ms": 300.0, "latency_reliable": False}, False, {"params_m": -18.3}),
    ],
)
def test_a_copied_trial_is_judged_by_its_latency_only_when_it_was_reliable(
    record: dict[str, object], reliable: bool, copied_constraints: dict[str, float]
) -> None:
    cost = NetworkCost.of({"params_m": 11.7, "gflops": 0.8, "measured_on": "cpu float32 513px", **record})
    assert cost is not None and cost.latency_reliable is reliable
    bounds = Constraints.model_validate({"latency_ms": {"max": 25}, "params_m": {"max": 30}})
    copied = copied_cost(cost, bounds)
    assert not isinstance(copied, str)
    infeasible, constraints = copied
    assert constraints == pytest.approx(copied_constraints)
    assert (infeasible is not None) is reliable
