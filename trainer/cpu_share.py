"""How many CPU threads this process's torch may use, and how its OpenMP threads wait.

A process that trains or measures a network takes its share of the CPUs it may use (`cpu_share`):
- the CPU figure is the smallest of the CPUs it may run on (`os.sched_getaffinity`), its cgroup's CPU
  quota (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`, of its own cgroup and every
  ancestor) and Slurm's `SLURM_CPUS_PER_TASK`; `os.cpu_count()` counts the machine, not what the process
  may use;
- that figure is divided between the `CPU_WORKERS_ENV` processes that a supervisor (`sweep run --workers`)
  says share it;
- `OMP_NUM_THREADS`, when set, is the user's own choice for each process and wins.

Two processes that know nothing of each other (two studies, a study beside the test suite) each take
every CPU, so their threads outnumber the cores. libgomp, the OpenMP runtime torch's CPU kernels run on,
then slows each 4 to 12 times rather than 2: a thread that finishes its part of a parallel region spins
up to `GOMP_SPINCOUNT` (300,000) times waiting for the others, on a core the other process needs, while
the thread it waits for may not be running at all. `bound_openmp_spinning` shortens that wait before
libgomp is loaded (docs/performance.md, "Processes side by side").
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from trainer.errors import ConfigError

CPU_SHARE_LOGGER = "trainer.cpu_share"
"""The logger of the one line per process that says which share was taken (`trainer.runtime.use_cpu_share`)."""
CPU_WORKERS_ENV = "TRAINER_CPU_WORKERS"
"""The number of processes started together that share this process's CPUs (set by `sweep run --workers`)."""
OPENMP_SPIN_COUNT = 1000
"""`GOMP_SPINCOUNT` unless the user set it or `OMP_WAIT_POLICY`: a waiting thread spins this many times
(tens of microseconds) before it sleeps. Measured with `benchmarks/concurrent_processes.py` on 2 cores: a
smoke-study trial alone trains about as fast as with libgomp's 300,000, two side by side slow each other
1.6-2.0x instead of 4.1-4.7x; 3,000 spins already slow a pair 3x, and fewer than 1,000 slow one alone."""
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True)
class CpuFigure:
    """How many CPUs the process may use, and what said so (`affinity`, `cgroup quota`, ...)."""

    cpus: int
    source: str


@dataclass(frozen=True)
class CpuShare:
    """The torch thread count of one process and why: `figure` shared by `workers`, or `OMP_NUM_THREADS`."""

    threads: int
    figure: CpuFigure
    workers: int = 1
    omp_num_threads: bool = False

    def text(self) -> str:
        """`torch uses 1 thread: 2 CPUs (affinity) shared by 2 workers`, the line logged once per process."""
        threads = f"torch uses {self.threads} thread{'s' if self.threads != 1 else ''}"
        if self.omp_num_threads:
            return f"{threads}: OMP_NUM_THREADS={self.threads} (set in the environment)"
        shared = f" shared by {self.workers} workers" if self.workers > 1 else ""
        return f"{threads}: {self.figure.cpus} CPUs ({self.figure.source}){shared}"


def cpu_share(
    environ: Mapping[str, str],
    *,
    affinity: Callable[[], int] | None = None,
    cgroup_root: Path = CGROUP_ROOT,
    proc_cgroup: Path = PROC_CGROUP,
) -> CpuShare:
    """This process's torch threads from `environ` and the CPUs it may use (see the module docstring).

    Raises `ConfigError` naming the variable when `OMP_NUM_THREADS` or `CPU_WORKERS_ENV` is not a positive
    whole number."""
    figure = available_cpus(environ, affinity=affinity, cgroup_root=cgroup_root, proc_cgroup=proc_cgroup)
    workers = _positive_int(environ, CPU_WORKERS_ENV, "the number of worker processes sharing the CPUs") or 1
    requested = _positive_int(environ, "OMP_NUM_THREADS", "the number of threads of each process")
    if requested is not None:
        return CpuShare(requested, figure, workers, omp_num_threads=True)
    return CpuShare(max(1, figure.cpus // workers), figure, workers)


def available_cpus(
    environ: Mapping[str, str],
    *,
    affinity: Callable[[], int] | None = None,
    cgroup_root: Path = CGROUP_ROOT,
    proc_cgroup: Path = PROC_CGROUP,
) -> CpuFigure:
    """The smallest of the affinity mask, the cgroup CPU quota and `SLURM_CPUS_PER_TASK` (the first of equals)."""
    figures = [CpuFigure((affinity or _affinity)(), "affinity")]
    quota = cgroup_cpu_quota(cgroup_root, proc_cgroup)
    if quota is not None:
        # Rounded down: a thread that the quota throttles holds up every barrier the others wait at.
        figures.append(CpuFigure(max(1, math.floor(quota)), f"cgroup quota {quota:g}"))
    slurm = _positive_int(environ, "SLURM_CPUS_PER_TASK", "the CPUs Slurm gave each task")
    if slurm is not None:
        figures.append(CpuFigure(slurm, "SLURM_CPUS_PER_TASK"))
    return min(figures, key=lambda figure: figure.cpus)


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The tightest CPU quota (CPUs, maybe fractional) on this process's cgroup or an ancestor, v2 or v1;
    None when there is none (no limit, or no cgroup file to read)."""
    quotas = [_v2_quota(folder) or _v1_quota(folder) for folder in _cgroup_folders(cgroup_root, proc_cgroup)]
    return min((quota for quota in quotas if quota is not None), default=None)


def bound_openmp_spinning(environ: MutableMapping[str, str]) -> None:
    """Set `GOMP_SPINCOUNT` to `OPENMP_SPIN_COUNT` unless the user chose how OpenMP threads wait.

    libgomp reads it once, when torch loads it: this must run before `import torch` to apply to this
    process (`import trainer` runs it); the processes it starts inherit it either way."""
    if "GOMP_SPINCOUNT" not in environ and "OMP_WAIT_POLICY" not in environ:
        environ["GOMP_SPINCOUNT"] = str(OPENMP_SPIN_COUNT)


def _affinity() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _cgroup_folders(cgroup_root: Path, proc_cgroup: Path) -> list[Path]:
    """The folders that may hold this process's CPU limits, innermost first: its cgroup and the ancestors,
    under the v2 root and the v1 `cpu` mount. In a container the mount is its own cgroup, which the paths
    in `proc_cgroup` (seen from the host) do not exist under, so the mount itself is always a candidate."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    folders = []
    for line in lines:
        _, controllers, path = line.split(":", 2)  # hierarchy-ID:controller-list:cgroup-path
        if controllers == "":
            mount = cgroup_root  # v2: "0::/path"
        elif "cpu" in controllers.split(","):
            mount = cgroup_root / "cpu"
        else:
            continue
        relative = Path(path.lstrip("/"))
        folders += [mount / parent for parent in (relative, *relative.parents)]
    folders += [cgroup_root, cgroup_root / "cpu"]
    return [folder for folder in dict.fromkeys(folders) if folder.is_dir()]


def _v2_quota(folder: Path) -> float | None:
    """`cpu.max` holds `QUOTA PERIOD` in microseconds, or `max PERIOD` for no limit."""
    try:
        quota, period = (folder / "cpu.max").read_text().split()
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _v1_quota(folder: Path) -> float | None:
    """`cpu.cfs_quota_us` is -1 for no limit."""
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def _positive_int(environ: Mapping[str, str], name: str, meaning: str) -> int | None:
    """`environ[name]` as a whole number of at least 1, None when unset or empty. Of a list such as
    `OMP_NUM_THREADS=4,2` (libgomp's threads per nesting level), the first number: torch's level."""
    text = environ.get(name, "").split(",")[0].strip()
    if not text:
        return None
    number = int(text) if text.isdecimal() else 0
    if number < 1:
        raise ConfigError(name, f"{text!r} is not a positive whole number ({meaning}); set it to e.g. 2, or unset it")
    return number
