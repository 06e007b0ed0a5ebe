"""What a trial records: `TrialRecord.of` reads every user attr typed, the writers store each in the format it
reads back, and a retry inherits the record but not the attempt. The attr names and formats are spelled out
here, not imported: a study recorded by an older version must read the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from sweep.spec.constraints import Infeasible
from sweep.trials.prune_explanation import PruneExplanation
from sweep.trials.record_values import AttemptCompute, NetworkCost, WarmStartOrigin, WorkerProcess
from sweep.trials.record_view import Attempt, Origin, TrialRecord, checkpoint_namespace
from sweep.trials.record_writes import (
    copied_attrs,
    enqueued_attrs,
    retry_attrs,
    write_checkpoint_dir,
    write_checkpoint_namespace,
    write_compute,
    write_fail_reason,
    write_failed_for_good,
    write_infeasible,
    write_interruption,
    write_network_cost,
    write_prune_explanation,
    write_result,
    write_run_id,
    write_sampler_stream,
    write_surplus,
    write_worker,
)
from sweep.trials.retries import chains, enqueue_retry

optuna.logging.set_verbosity(optuna.logging.WARNING)

COST = {"params_m": 40.351925, "gflops": 144.4, "latency_ms": 461.3, "measured_on": "cpu float32 513px"}
THE_TRIALS = {  # what a trial keeps for every attempt of its chain
    "enqueued": {"optim.lr": 0.01},
    "sampler_stream": 4,
    "network_cost": COST,
    "infeasible": "params_m 40.35 > max 30",
    "pruned_at_step": 2,
    "pruned_value": 0.25,
    "pruned_against": 0.5,
    "pruned_compared_trials": 3,
    "epochs_run": 3,
    "best_epoch": 2,
    "checkpoint": "runs:/0123456789abcdef0123456789abcdef/checkpoint/best.pt",
    "checkpoint_dir": "/runs/t/trial-1",
    "mlflow_run_id": "0123456789abcdef0123456789abcdef",
}
THE_ATTEMPTS = {  # what one attempt keeps to itself
    "worker": "gpu-host:4242",
    "worker_process": {"host": "gpu-host", "pid": 4242, "started": 1700000000.5},
    "fail_reason": "CheckpointError: /runs/t/trial-1/last.pt: no space",
    "failed_for_good": "failed for good: it failed 3 times (study.max_retries: 2)",
    "interrupted": "SIGTERM during epoch 3; epoch 2 is saved; resumes at epoch 3",
    "attempt_epochs": 2,
    "attempt_wall_s": 30.5,
    "attempt_gpu_s": 30.5,
    "attempt_planned_epochs": 4,
}
ORIGIN = {
    "warm_start_origin": {"study": "a", "storage": "sqlite:///a.db", "trial": 7},
    "surplus": "created after all 4",
}
NOTHING_RECORDED = TrialRecord(
    origin=Origin(enqueued=None, warm_start=None, retry_of=None, sampler_stream=None),
    attempt=Attempt(None, None, None, None, None, None),
    surplus=None,
    network_cost=None,
    infeasible=None,
    prune_explanation=None,
    epochs_run=None,
    best_epoch=None,
    checkpoint_uri=None,
    checkpoint_dir=None,
    mlflow_run_id=None,
)


def test_every_attr_reads_as_its_typed_field() -> None:
    attrs = {**THE_TRIALS, **THE_ATTEMPTS, **ORIGIN}
    record = TrialRecord.of(create_trial(state=TrialState.FAIL, user_attrs=attrs, system_attrs={"failed_trial": 1}))
    assert record == TrialRecord(
        origin=Origin(
            enqueued={"optim.lr": 0.01},
            warm_start=WarmStartOrigin("a", "sqlite:///a.db", 7),
            retry_of=1,
            sampler_stream=4,
        ),
        attempt=Attempt(
            worker="gpu-host:4242",
            process=WorkerProcess("gpu-host", 4242, 1700000000.5),
            fail_reason="CheckpointError: /runs/t/trial-1/last.pt: no space",
            failed_for_good="failed for good: it failed 3 times (study.max_retries: 2)",
            interrupted="SIGTERM during epoch 3; epoch 2 is saved; resumes at epoch 3",
            compute=AttemptCompute(epochs=2, wall_s=30.5, gpu_s=30.5, planned_epochs=4),
        ),
        surplus="created after all 4",
        network_cost=NetworkCost(params_m=40.351925, gflops=144.4, latency_ms=461.3, measured_on="cpu float32 513px"),
        infeasible="params_m 40.35 > max 30",
        prune_explanation=PruneExplanation(step=2, value=0.25, against=0.5, compared_trials=3),
        epochs_run=3,
        best_epoch=2,
        checkpoint_uri="runs:/0123456789abcdef0123456789abcdef/checkpoint/best.pt",
        checkpoint_dir=Path("/runs/t/trial-1"),
        mlflow_run_id="0123456789abcdef0123456789abcdef",
    )
    assert record.is_copied
    assert record.network_cost is not None and record.network_cost.figures() == {
        "params_m": 40.351925,
        "gflops": 144.4,
        "latency_ms": 461.3,
    }


def test_a_trial_that_recorded_nothing_reads_none_in_every_field() -> None:
    record = TrialRecord.of(create_trial(state=TrialState.COMPLETE, value=0.5))
    assert record == NOTHING_RECORDED and not record.is_copied


@pytest.mark.parametrize(
    ("attrs", "field", "expected"),
    [
        # Before `network_cost` was one attr, the figures were four attrs, which no reader has read since.
        ({"params_m": 40.35, "gflops": 2.0, "latency_ms": 12.0, "latency_device": "cpu"}, "network_cost", None),
        ({"network_cost": {"params_m": 40.35}}, "network_cost", None),
        ({"attempt_epochs": 2, "attempt_wall_s": 30.5}, "compute", None),  # killed between two of the four writes
        ({"worker_process": "gpu-host:4242"}, "process", None),
        ({"worker_process": {"host": "gpu-host", "pid": 4242}}, "process", None),
        ({"warm_start_origin": {"trial": 3}}, "warm_start", WarmStartOrigin(None, None, 3)),
        ({"warm_start_origin": {"study": "a", "trial": 0}}, "warm_start", WarmStartOrigin("a", None, 0)),
        ({"pruned_at_step": 3, "pruned_value": 0.125}, "prune_explanation", PruneExplanation(step=3, value=0.125)),
        ({"pruned_value": 0.125}, "prune_explanation", None),
    ],
)
def test_old_or_partial_records_read_what_they_hold(attrs: dict[str, Any], field: str, expected: Any) -> None:
    record = TrialRecord.of(create_trial(state=TrialState.PRUNED, user_attrs=attrs))
    parts = {**vars(record), **vars(record.origin), **vars(record.attempt)}
    assert parts[field] == expected
    assert record.is_copied == (field == "warm_start"), "any origin, whole or not, marks a copy"


class RecordingTrial:
    """Stands in for an `optuna.Trial` and keeps each `set_user_attr` call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def set_user_attr(self, key: str, value: Any) -> None:
        self.calls.append((key, value))


WRITES = [
    (
        lambda t: write_worker(t, WorkerProcess("gpu-host", 4242, 1700000000.5)),
        [("worker", "gpu-host:4242"), ("worker_process", {"host": "gpu-host", "pid": 4242, "started": 1700000000.5})],
    ),
    (
        lambda t: write_network_cost(t, NetworkCost(40.351925, 144.4, 461.3, "cpu float32 513px")),
        [("network_cost", COST)],
    ),
    (
        lambda t: write_infeasible(t, Infeasible({"params_m": (40.351925, 30.0)})),
        [("infeasible", "params_m 40.35 > max 30")],
    ),
    (
        lambda t: write_prune_explanation(t, PruneExplanation(2, 0.25, against=0.5, compared_trials=3)),
        [("pruned_at_step", 2), ("pruned_value", 0.25), ("pruned_against", 0.5), ("pruned_compared_trials", 3)],
    ),
    (
        lambda t: write_compute(t, AttemptCompute(2, 30.5, 0.0, 4)),
        [("attempt_epochs", 2), ("attempt_wall_s", 30.5), ("attempt_gpu_s", 0.0), ("attempt_planned_epochs", 4)],
    ),
    (lambda t: write_fail_reason(t, OSError("x" * 2000)), [("fail_reason", "OSError: " + "x" * 991)]),
    (lambda t: write_failed_for_good(t, "failed for good: why"), [("failed_for_good", "failed for good: why")]),
    (lambda t: write_interruption(t, "SIGINT during epoch 1"), [("interrupted", "SIGINT during epoch 1")]),
    (
        lambda t: write_result(t, best_epoch=2, epochs_run=3, checkpoint_uri="runs:/0123abcd/checkpoint/best.pt"),
        [("best_epoch", 2), ("epochs_run", 3), ("checkpoint", "runs:/0123abcd/checkpoint/best.pt")],
    ),
    (lambda t: write_checkpoint_dir(t, Path("/r/trial-1")), [("checkpoint_dir", "/r/trial-1")]),
    (lambda t: write_run_id(t, "0123abcd"), [("mlflow_run_id", "0123abcd")]),
    (lambda t: write_surplus(t, "created after all 4"), [("surplus", "created after all 4")]),
    (lambda t: write_sampler_stream(t, 4), [("sampler_stream", 4)]),
]


@pytest.mark.parametrize(("write", "calls"), WRITES)
def test_each_writer_stores_the_format_of_before_in_the_calls_of_before(write: Any, calls: list[Any]) -> None:
    """One call per attr, so the network's figures are one call: a killed worker leaves all or none."""
    trial = RecordingTrial()
    write(trial)
    assert trial.calls == calls


def test_what_the_writers_store_reads_back_as_written() -> None:
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    for write, _ in WRITES:
        write(trial)
    study.tell(trial, state=TrialState.FAIL)
    write_checkpoint_namespace(study, "0a1b2c3d4e5f")
    record = TrialRecord.of(study.trials[0])
    assert record.origin == Origin(enqueued=None, warm_start=None, retry_of=None, sampler_stream=4)
    assert record.attempt == Attempt(
        worker="gpu-host:4242",
        process=WorkerProcess("gpu-host", 4242, 1700000000.5),
        fail_reason="OSError: " + "x" * 991,
        failed_for_good="failed for good: why",
        interrupted="SIGINT during epoch 1",
        compute=AttemptCompute(2, 30.5, 0.0, 4),
    )
    assert (record.network_cost, record.infeasible) == (
        NetworkCost(40.351925, 144.4, 461.3, "cpu float32 513px"),
        "params_m 40.35 > max 30",
    )
    assert record.prune_explanation == PruneExplanation(2, 0.25, against=0.5, compared_trials=3)
    assert (record.epochs_run, record.best_epoch, record.checkpoint_uri) == (3, 2, "runs:/0123abcd/checkpoint/best.pt")
    assert (record.checkpoint_dir, record.mlflow_run_id, record.surplus) == (
        Path("/r/trial-1"),
        "0123abcd",
        "created after all 4",
    )
    assert checkpoint_namespace(study) == "0a1b2c3d4e5f" and study.user_attrs == {
        "checkpoint_namespace": "0a1b2c3d4e5f"
    }
    assert checkpoint_namespace(optuna.create_study()) is None


def test_a_new_trial_starts_with_its_origin_or_its_chains_record() -> None:
    assert enqueued_attrs({"optim.lr": 0.01}) == {"enqueued": {"optim.lr": 0.01}}
    origin = WarmStartOrigin("a", "sqlite:///a.db", 7)
    assert copied_attrs(origin, None, None) == {
        "warm_start_origin": {"study": "a", "storage": "sqlite:///a.db", "trial": 7}
    }
    assert copied_attrs(
        origin, NetworkCost(40.351925, 144.4, 461.3, "cpu float32 513px"), Infeasible({"params_m": (40.35, 30.0)})
    ) == {
        "warm_start_origin": {"study": "a", "storage": "sqlite:///a.db", "trial": 7},
        "network_cost": COST,
        "infeasible": "params_m 40.35 > max 30",
    }
    failed = create_trial(state=TrialState.FAIL, user_attrs={**THE_TRIALS, **THE_ATTEMPTS, "a_later_version's": 1})
    assert retry_attrs(failed) == {**THE_TRIALS, "a_later_version's": 1}, "every attr but the attempt's own"


def test_a_retry_chain_keeps_the_trials_record_and_each_attempt_its_own() -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={**THE_TRIALS, **THE_ATTEMPTS}))
    assert enqueue_retry(study, study.trials[0]) == 1
    second = study.ask()  # the queued retry
    write_interruption(second, "SIGTERM during epoch 4; epoch 3 is saved; resumes at epoch 4")
    write_compute(second, AttemptCompute(1, 9.0, 9.0, 4))
    study.tell(second, state=TrialState.FAIL)
    assert enqueue_retry(study, study.trials[1]) == 2
    first, retry, again = (TrialRecord.of(trial) for trial in study.trials)

    assert [record.origin.retry_of for record in (first, retry, again)] == [None, 0, 0], "each names the first"
    for inherited in (retry, again):
        assert (inherited.mlflow_run_id, inherited.checkpoint_dir) == (first.mlflow_run_id, first.checkpoint_dir)
        assert (inherited.origin.enqueued, inherited.network_cost) == (first.origin.enqueued, first.network_cost)
    assert retry.attempt == Attempt(
        None,
        None,
        None,
        None,
        "SIGTERM during epoch 4; epoch 3 is saved; resumes at epoch 4",
        AttemptCompute(1, 9.0, 9.0, 4),
    )
    assert again.attempt == NOTHING_RECORDED.attempt, "nothing of either earlier attempt"
    assert list(chains(study.trials)) == [0] and len(chains(study.trials)[0]) == 3
