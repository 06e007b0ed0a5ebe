"""Whether a latency measurement can be trusted: how far its passes spread, and what ran beside it.

A latency taken while other processes compete for the CPUs is too high, by 2x or by 20x (docs/performance.md,
"Processes side by side"), and says nothing about the network. Two signs of it are checked:
- the spread: the interquartile range of the timed passes above `MAX_RELATIVE_SPREAD` of their median;
- contention (CPU measurements only): more runnable tasks than the machine has CPUs, counting this
  process's torch threads and the tasks other processes had runnable just before and just after the passes
  (`/proc/loadavg`; Linux only, elsewhere only the spread is checked). A steady competitor slows every pass
  alike, so the spread alone misses it. The 1-minute load average is no use here: it counts this
  process's own training of the minute before, and lags.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_RELATIVE_SPREAD = 0.2
"""The largest interquartile range of the timed passes, as a share of their median, of a trusted latency."""
LOADAVG = Path("/proc/loadavg")


@dataclass(frozen=True)
class LatencyMeasurement:
    """One latency measurement: its median, its spread and what ran beside it (see the module docstring)."""

    median_ms: float
    spread_ms: float
    others_runnable: int | None
    """Tasks that other processes had runnable beside the measurement (None: not known, or not a CPU one)."""
    threads: int
    cpus: int
    """The CPUs of the whole machine, which `/proc/loadavg` counts for."""

    def warning(self) -> str | None:
        """Why the measurement is not to be trusted, or None when it is."""
        reasons = []
        if self.spread_ms > MAX_RELATIVE_SPREAD * self.median_ms:
            reasons.append(
                f"the interquartile range of its passes, {self.spread_ms:.1f} ms, is more than "
                f"{MAX_RELATIVE_SPREAD:.0%} of their median, {self.median_ms:.1f} ms"
            )
        others = self.others_runnable
        if others is not None and others + self.threads > self.cpus:
            tasks = f"{others} other runnable task{'s' if others != 1 else ''}"
            reasons.append(
                f"{tasks} beside its {self.threads} thread{'s' if self.threads != 1 else ''} on {self.cpus} CPUs"
            )
        return "; ".join(reasons) or None


def interquartile_range(timings: Sequence[float]) -> float:
    """The third quartile minus the first (inclusive method); 0 for a single timing."""
    if len(timings) < 2:
        return 0.0
    first, _, third = statistics.quantiles(timings, n=4, method="inclusive")
    return third - first


def others_runnable(samples: int = 3, interval_s: float = 0.01, loadavg: Path = LOADAVG) -> list[int]:
    """`samples` counts, `interval_s` apart, of the runnable tasks other than the thread reading them (the
    fourth field of `/proc/loadavg`, `runnable/total`, counts it); empty where there is no such file.

    The first count is taken after one interval, so that this process's own threads, which spin a while
    after a pass (`trainer.cpu_share.OPENMP_SPIN_COUNT`), have gone to sleep."""
    counts = []
    for _ in range(samples):
        time.sleep(interval_s)
        try:
            runnable = int(loadavg.read_text().split()[3].split("/")[0])
        except OSError:
            return []
        counts.append(max(0, runnable - 1))
    return counts
