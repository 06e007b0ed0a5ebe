"""`sweep status` says why each attempt stopped: the rows and the notes column, from the trials' attrs."""

from __future__ import annotations

from typing import Any

import pytest
from optuna.trial import TrialState, create_trial

from sweep.results.notes import trial_notes
from sweep.results.reports import TrialRow, trial_row


def row(state: TrialState, user_attrs: dict[str, Any], system_attrs: dict[str, Any] | None = None) -> TrialRow:
    value = 0.5 if state == TrialState.COMPLETE else None
    return trial_row(create_trial(state=state, value=value, user_attrs=user_attrs, system_attrs=system_attrs))


@pytest.mark.parametrize(
    ("state", "user_attrs", "system_attrs", "shown_state", "notes"),
    [
        (TrialState.COMPLETE, {}, None, "COMPLETE", ""),
        (TrialState.COMPLETE, {}, {"failed_trial": 3}, "COMPLETE", "retry of #3"),
        (
            TrialState.FAIL,
            {"interrupted": "SIGTERM during epoch 2; epoch 1 is saved; resumes at epoch 2"},
            None,
            "INTERRUPTED",
            "SIGTERM during epoch 2; epoch 1 is saved; resumes at epoch 2",
        ),
        (
            TrialState.FAIL,
            {"fail_reason": "CheckpointError: /x/best.pt: no space"},
            None,
            "FAIL",
            "CheckpointError: /x/best.pt: no space; retried",
        ),
        (
            TrialState.FAIL,
            {"fail_reason": "DivergedError: loss diverged", "failed_for_good": "failed for good: ..."},
            None,
            "FAIL",
            "DivergedError: loss diverged",
        ),
        (TrialState.FAIL, {}, None, "FAIL", "its worker died (process gone, or no heartbeat)"),
        (
            TrialState.PRUNED,
            {"pruned_at_step": 2, "pruned_value": 0.25, "pruned_against": 0.5, "pruned_compared_trials": 3},
            {"failed_trial": 1},
            "PRUNED",
            "retry of #1; pruned at epoch 2: val mIoU 0.2500 < median 0.5000 of 3 trials",
        ),
        (
            TrialState.PRUNED,
            {"pruned_at_step": 3, "pruned_value": 0.125, "pruned_bracket": 1, "pruned_rung": 0},
            None,
            "PRUNED",
            "pruned at epoch 3: val mIoU 0.1250; hyperband bracket 1, rung 0",
        ),
    ],
)
def test_each_way_an_attempt_ends_has_its_note(
    state: TrialState, user_attrs: dict[str, Any], system_attrs: dict[str, Any] | None, shown_state: str, notes: str
) -> None:
    shown = row(state, user_attrs, system_attrs)
    assert shown.state == shown_state
    assert trial_notes(shown) == notes
