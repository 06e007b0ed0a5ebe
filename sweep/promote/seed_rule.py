"""The rule that decides whether a confirmed candidate beats the champion, given the spread over seeds.

Both sides are samples of val mIoU over training seeds: the candidate's retrains (`sweep confirm`), and
the champion's retrains when its registry version recorded them (`CONFIRM_VALUES_TAG`, on the same val
split) or else its single value. The candidate wins when a one-sided Welch's t-test (unequal variances:
one network's spread over seeds says nothing of another's) says that its mean is greater at level
`ALPHA`. Against a single champion value, which has no spread to estimate, Welch's statistic is the
one-sample t-test of the candidate's values against that value. With a single retrain there is no spread
either, and no test: the candidate wins on its value alone, and the rule says so.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

ALPHA = 0.05
"""The test's level: a candidate as good as the champion is promoted by chance at most 5% of the time."""
RULE = f"one-sided Welch's t-test, alpha {ALPHA}"


@dataclass(frozen=True)
class SeedTest:
    """The test of the candidate's values against the champion's: `t` and `p` (None when no test could
    run), and whether the candidate is better by the rule."""

    rule: str
    t: float | None
    p: float | None
    better: bool

    def text(self) -> str:
        """The rule and its outcome in a line: `one-sided Welch's t-test, alpha 0.05: t = 3.10, p = 0.021`."""
        if self.t is None or self.p is None:
            return self.rule
        return f"{self.rule}: t = {self.t:.3g}, p = {self.p:.3g}"


def seed_test(candidate: Sequence[float], champion: Sequence[float]) -> SeedTest:
    """Whether the `candidate`'s values beat the `champion`'s (one value or more) by the module's rule."""
    if not candidate or not champion:
        raise ValueError("both sides need at least one value")
    if len(candidate) < 2:
        better = candidate[0] > max(champion)
        return SeedTest("a single retrain: no spread to test, the higher value wins", None, None, better)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's precision note on near-equal values
        if len(champion) < 2:
            result = stats.ttest_1samp(candidate, champion[0], alternative="greater")
            rule = f"{RULE} against the champion's single value (the one-sample t-test)"
        else:
            result = stats.ttest_ind(candidate, champion, equal_var=False, alternative="greater")
            rule = RULE
    t, p = float(result.statistic), float(result.pvalue)
    if math.isnan(p):  # no spread on either side and equal means: the test is undefined, and none is better
        return SeedTest(f"{rule}: no spread on either side and equal means, so not better", None, None, False)
    return SeedTest(rule, t, p, p < ALPHA)
