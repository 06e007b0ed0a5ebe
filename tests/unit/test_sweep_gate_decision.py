"""`sweep.promote.gate.decide`: which way the alias goes, for every kind of candidate (no training, no MLflow)."""

from __future__ import annotations

import pytest

from sweep.promote.gate import Champion, Decision, decide


@pytest.mark.parametrize(
    ("candidate", "champion", "same_version", "force", "expected"),
    [
        (0.40, None, False, False, "promoted"),  # no model on the alias yet
        (0.41, Champion("3", 0.40), False, False, "promoted"),
        (0.40, Champion("3", 0.40), False, False, "challenger"),  # a tie is not better
        (0.39, Champion("3", 0.40), False, False, "challenger"),
        (0.39, Champion("3", 0.40), False, True, "forced"),
        (0.40, None, True, False, "unchanged"),  # the alias is on the candidate's version already
        (0.40, None, True, True, "unchanged"),
    ],
)
def test_the_alias_moves_only_to_a_strictly_better_model(
    candidate: float, champion: Champion | None, same_version: bool, force: bool, expected: Decision
) -> None:
    assert decide(candidate, champion, same_version=same_version, force=force) == expected
