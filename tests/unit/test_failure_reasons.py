"""Why a study gave up: the reasons its chains failed for good with, counted, the most common first."""

from __future__ import annotations

from typing import Any

from optuna.trial import FrozenTrial, TrialState, create_trial

from sweep.trials.failures import REASON_WIDTH, FailureReason, failure_reasons, summarise_failures

NO_SPACE = "CheckpointError: /runs/p/trials/ab12/trial-{}/last.pt: cannot save the checkpoint: no space left on device"


def failed(number: int, reason: str | None, *, for_good: bool = True, retry_of: int | None = None) -> FrozenTrial:
    user_attrs: dict[str, Any] = {} if reason is None else {"fail_reason": reason}
    if for_good:
        user_attrs["failed_for_good"] = "failed for good: ..."
    system_attrs = {} if retry_of is None else {"failed_trial": retry_of}
    trial = create_trial(state=TrialState.FAIL, user_attrs=user_attrs, system_attrs=system_attrs)
    trial.number = number
    return trial


def test_each_chain_failed_for_good_counts_once_with_its_last_attempts_reason() -> None:
    trials = [
        failed(0, "OSError: first attempt, retried", for_good=False),
        failed(1, NO_SPACE.format(1)),
        failed(2, NO_SPACE.format(0), retry_of=0),  # trial 0's retry: it keeps trial 0's folder
        failed(3, "DivergedError: loss is nan at epoch 1, step 1"),
        create_trial(state=TrialState.COMPLETE, value=0.4),
        failed(5, None),
    ]
    trials[4].number = 4
    reasons = failure_reasons(trials, max_retries=1)
    assert reasons == [
        FailureReason(NO_SPACE.format("N"), 2),
        FailureReason("DivergedError: loss is nan at epoch 1, step 1", 1),
        FailureReason("its worker died (process gone, or no heartbeat)", 1),
    ]


def test_a_chain_with_a_retry_to_come_has_not_failed_for_good() -> None:
    assert failure_reasons([failed(0, "OSError: flaky", for_good=False)], max_retries=2) == []


def test_a_long_or_many_line_reason_is_cut_to_one_short_line() -> None:
    (reason,) = failure_reasons([failed(0, "RuntimeError: " + "x " * 200 + "\nsecond line")], max_retries=0)
    assert reason.text.startswith("RuntimeError: x x") and reason.text.endswith("…")
    assert len(reason.text) <= REASON_WIDTH and "second line" not in reason.text


def test_the_summary_names_three_reasons_and_counts_the_rest() -> None:
    reasons = [FailureReason(f"E{index}: boom", count) for index, count in enumerate([3, 2, 1, 1, 1])]
    assert summarise_failures(reasons) == "3x E0: boom; 2x E1: boom; 1x E2: boom; 2x for other reasons"
    assert summarise_failures(reasons[:1]) == "3x E0: boom"
