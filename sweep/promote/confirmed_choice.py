"""What `sweep promote` takes from a confirmation: the winner by mean, its median retrain, and the tags.

With a finished confirmation (`sweep.results.confirmation`), the candidate is the best mean's original
trial and the model registered is its median retrain's checkpoint, not the original's (which may owe its
rank to a lucky seed). The registry version records the rule and the figures it was judged on
(`CONFIRM_TAG_PREFIX`), and `CONFIRMED_TAG` says whether the promotion was confirmed at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sweep.errors import NothingToPromoteError
from sweep.promote.seed_rule import SeedTest
from sweep.results.confirmation import CandidateConfirmation, Confirmation, RetrainResult, load_confirmation
from sweep.spec.study_file import StudySpec

CONFIRMED_TAG = "sweep.confirmed"
"""`true` on a version promoted from a confirmation, `false` on one promoted from a single training run."""
CONFIRM_TAG_PREFIX = "sweep.confirm."
"""The tags of the confirmation a version was promoted from: rule, mean, std, n, values, original_trial."""
CONFIRM_VALUES_TAG = f"{CONFIRM_TAG_PREFIX}values"
"""The retrains' val mIoU as a JSON list: what a later candidate is tested against."""
STALE_TAG_PREFIX = "sweep.confirm"
"""Covers `CONFIRMED_TAG` and every `CONFIRM_TAG_PREFIX` tag: what a new promotion of a version replaces."""


@dataclass(frozen=True)
class ConfirmedChoice:
    """The confirmation's winner (best mean) and the retrain promoted in its place."""

    confirmation: Confirmation
    winner: CandidateConfirmation

    @property
    def retrain(self) -> RetrainResult:
        return self.winner.median_retrain


def confirmed_choice(spec: StudySpec) -> ConfirmedChoice | None:
    """The winner of `spec`'s confirmation, or None when it was never confirmed; `NothingToPromoteError`
    while retrains still wait or run, or when none completed."""
    confirmation = load_confirmation(spec)
    if confirmation is None:
        return None
    resume = f"`sweep confirm {spec.source}`"
    if not confirmation.finished:
        raise NothingToPromoteError(
            f"study {confirmation.study_name!r} is not finished: {confirmation.unfinished} of its "
            f"{confirmation.planned} retrains wait or run; run {resume} to finish it, then promote"
        )
    if not confirmation.candidates:
        raise NothingToPromoteError(
            f"study {confirmation.study_name!r}: none of its {confirmation.planned} retrains completed "
            f"(`sweep status` on it says why); run {resume} again once the cause is fixed"
        )
    return ConfirmedChoice(confirmation, confirmation.candidates[0])


def champion_values(tags: dict[str, str], evaluated: float, val_split_checksum: str) -> list[float]:
    """What the champion is tested on: its recorded retrains' values when its version has them and was
    judged on the same val split (`gate.val_split_checksum`), else its value `evaluated` on this split."""
    recorded = tags.get(CONFIRM_VALUES_TAG)
    if recorded is None or tags.get("gate.val_split_checksum") != val_split_checksum:
        return [evaluated]
    return [float(value) for value in json.loads(recorded)]


def confirm_tags(choice: ConfirmedChoice | None, test: SeedTest | None) -> dict[str, str]:
    """The version's tags of how it was chosen: `sweep.confirmed`, and with a confirmation the rule (or,
    with no champion to test against, that none was needed), mean, std, n, values and original trial."""
    if choice is None:
        return {CONFIRMED_TAG: "false"}
    winner = choice.winner
    rule = "no champion: nothing to test against" if test is None else test.text()
    return {
        CONFIRMED_TAG: "true",
        f"{CONFIRM_TAG_PREFIX}rule": rule,
        f"{CONFIRM_TAG_PREFIX}mean": f"{winner.mean:.6f}",
        f"{CONFIRM_TAG_PREFIX}std": "none" if winner.std is None else f"{winner.std:.6f}",
        f"{CONFIRM_TAG_PREFIX}n": str(len(winner.values)),
        CONFIRM_VALUES_TAG: json.dumps([round(value, 6) for value in winner.values]),
        f"{CONFIRM_TAG_PREFIX}original_trial": str(winner.trial),
        f"{CONFIRM_TAG_PREFIX}study": choice.confirmation.study_name,
    }
