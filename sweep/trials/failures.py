"""Why a study's trials failed for good, grouped, for the one line that says why a study gave up.

Each chain of attempts that failed for good (`sweep.trials.retries`) counts once, with the reason of its last
attempt: the `TypeName: message` the objective stored (`fail_reason`), or that its worker died when it stored
none. A message that names the trial's own checkpoint folder (`.../trial-3/last.pt`) is the same error in
every trial, so the folder's number is written `trial-N` before the reasons are counted.
"""

from __future__ import annotations

import re
import textwrap
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from optuna.trial import FrozenTrial

from sweep.trials.record_view import TrialRecord
from sweep.trials.retries import ChainState, chain_state, chains

WORKER_DIED = "its worker died (process gone, or no heartbeat)"
"""The reason of a chain whose last attempt stored none: its process ended before it could."""
REASON_WIDTH = 160
"""Characters of one reason in the summary: enough for a checkpoint path and the fix that follows it."""
REASONS_SHOWN = 3
"""The most common reasons the summary names; the rest are counted together."""

_TRIAL_FOLDER = re.compile(r"\btrial-\d+\b")


@dataclass(frozen=True)
class FailureReason:
    """One reason and how many chains failed for good with it."""

    text: str
    count: int


def failure_reasons(trials: Sequence[FrozenTrial], max_retries: int) -> list[FailureReason]:
    """The reasons of the chains that failed for good, the most common first (ties: the earliest first)."""
    reasons = Counter(
        _reason(attempts[-1])
        for attempts in chains(trials).values()
        if chain_state(attempts, max_retries) == ChainState.FAILED
    )
    return [FailureReason(text, count) for text, count in reasons.most_common()]


def summarise_failures(reasons: Sequence[FailureReason]) -> str:
    """`2x CheckpointError: ...; 1x DivergedError: ...`: the `REASONS_SHOWN` most common, then the others' count."""
    shown = [f"{reason.count}x {reason.text}" for reason in reasons[:REASONS_SHOWN]]
    others = sum(reason.count for reason in reasons[REASONS_SHOWN:])
    return "; ".join(shown + ([f"{others}x for other reasons"] if others else []))


def _reason(attempt: FrozenTrial) -> str:
    stored = (TrialRecord.of(attempt).attempt.fail_reason or "").strip()
    if not stored:
        return WORKER_DIED
    first_line = stored.splitlines()[0]
    return textwrap.shorten(_TRIAL_FOLDER.sub("trial-N", first_line), REASON_WIDTH, placeholder="…")
