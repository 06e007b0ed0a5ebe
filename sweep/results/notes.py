"""Why a trial stopped, in words: the notes column of `sweep status` and of the study report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sweep.trials.failures import WORKER_DIED

if TYPE_CHECKING:  # the reports import MLflow, which `sweep status` loads only once it reads a study
    from sweep.results.reports import TrialRow

FAIL_REASON_WIDTH = 70
"""Characters of an error message that a note keeps."""


def trial_notes(row: TrialRow) -> str:
    """Where the trial came from (`enqueued`, `copied from ...`), `retry of #3`, and why the attempt stopped:
    the constraints its network broke, the signal, the error and whether it is retried, or what the pruner
    compared."""
    notes = [] if row.origin is None else [row.origin]
    notes += [] if row.retry_of is None else [f"retry of #{row.retry_of}"]
    if row.infeasible:
        notes.append(row.infeasible)
    if row.pruned_because:
        notes.append(row.pruned_because)
    elif row.state == "INTERRUPTED":
        notes.append(str(row.note))
    elif row.fail_reason:
        notes.append(_shorten(row.fail_reason, FAIL_REASON_WIDTH) + ("" if row.note else "; retried"))
    elif row.state == "FAIL":
        notes.append(WORKER_DIED)
    return "; ".join(notes)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
