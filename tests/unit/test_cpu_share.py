"""Each process's share of the CPUs (`trainer.cpu_share`), from fake affinity, cgroup files and environment,
and how it reaches torch, the log and the worker processes of `sweep run --workers`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from trainer.cpu_share import (
    CPU_SHARE_LOGGER,
    OPENMP_SPIN_COUNT,
    CpuFigure,
    CpuShare,
    available_cpus,
    bound_openmp_spinning,
    cgroup_cpu_quota,
    cpu_share,
)
from trainer.errors import ConfigError
from trainer.runtime import use_cpu_share


def _cgroup(tmp_path: Path, membership: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A fake `/sys/fs/cgroup` holding `files` (relative paths) and a fake `/proc/self/cgroup`."""
    root = tmp_path / "cgroup"
    root.mkdir()
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(membership)
    return root, proc


@pytest.mark.parametrize(
    ("membership", "files", "quota"),
    [
        ("0::/\n", {"cpu.max": "max 100000\n"}, None),  # v2, no limit
        ("0::/\n", {"cpu.max": "150000 100000\n"}, 1.5),  # v2 in a container: its own cgroup at the root
        # v2 seen from the host: the process's cgroup and its parent both limit, the tighter wins
        ("0::/jobs/a\n", {"jobs/cpu.max": "200000 100000", "jobs/a/cpu.max": "400000 100000"}, 2.0),
        # v1, with the quota on the cpu controller's mount
        ("2:cpu,cpuacct:/\n", {"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3.0),
        ("2:cpu,cpuacct:/\n", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        # v1 in a Docker container: /proc says /docker/<id>, the mount is that cgroup itself
        (
            "2:cpu:/docker/f00\n1:memory:/docker/f00\n",
            {"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"},
            0.5,
        ),  # fmt: skip
        ("2:cpu:/\n", {}, None),  # nothing to read
    ],
)
def test_cgroup_cpu_quota_v1_and_v2(
    tmp_path: Path, membership: str, files: dict[str, str], quota: float | None
) -> None:
    root, proc = _cgroup(tmp_path, membership, files)
    assert cgroup_cpu_quota(root, proc) == quota


@pytest.mark.parametrize(
    ("affinity", "cpu_max", "environ", "figure"),
    [
        (2, None, {}, CpuFigure(2, "affinity")),
        (16, "400000 100000", {}, CpuFigure(4, "cgroup quota 4")),
        (16, "250000 100000", {}, CpuFigure(2, "cgroup quota 2.5")),  # rounded down
        (16, "50000 100000", {}, CpuFigure(1, "cgroup quota 0.5")),  # never below one
        (16, "800000 100000", {"SLURM_CPUS_PER_TASK": "6"}, CpuFigure(6, "SLURM_CPUS_PER_TASK")),
        (4, "400000 100000", {"SLURM_CPUS_PER_TASK": "4"}, CpuFigure(4, "affinity")),  # equals: the first
    ],
)
def test_the_cpu_figure_is_the_smallest_limit(
    tmp_path: Path, affinity: int, cpu_max: str | None, environ: dict[str, str], figure: CpuFigure
) -> None:
    root, proc = _cgroup(tmp_path, "0::/\n", {"cpu.max": cpu_max} if cpu_max else {})
    assert available_cpus(environ, affinity=lambda: affinity, cgroup_root=root, proc_cgroup=proc) == figure


@pytest.mark.parametrize(
    ("affinity", "environ", "threads", "line"),
    [
        (2, {}, 2, "torch uses 2 threads: 2 CPUs (affinity)"),
        (2, {"TRAINER_CPU_WORKERS": "2"}, 1, "torch uses 1 thread: 2 CPUs (affinity) shared by 2 workers"),
        (2, {"TRAINER_CPU_WORKERS": "3"}, 1, "torch uses 1 thread: 2 CPUs (affinity) shared by 3 workers"),
        (16, {"TRAINER_CPU_WORKERS": "3"}, 5, "torch uses 5 threads: 16 CPUs (affinity) shared by 3 workers"),
        (
            16,
            {"SLURM_CPUS_PER_TASK": "8", "TRAINER_CPU_WORKERS": "4"},
            2,
            "torch uses 2 threads: 8 CPUs (SLURM_CPUS_PER_TASK) shared by 4 workers",
        ),  # fmt: skip
        # the user's OMP_NUM_THREADS is each process's own, whatever the workers
        (
            2,
            {"OMP_NUM_THREADS": "7", "TRAINER_CPU_WORKERS": "2"},
            7,
            "torch uses 7 threads: OMP_NUM_THREADS=7 (set in the environment)",
        ),  # fmt: skip
        (2, {"OMP_NUM_THREADS": "3,1"}, 3, "torch uses 3 threads: OMP_NUM_THREADS=3 (set in the environment)"),
        (2, {"OMP_NUM_THREADS": ""}, 2, "torch uses 2 threads: 2 CPUs (affinity)"),  # empty is unset
    ],
)
def test_cpu_share_and_its_line(
    tmp_path: Path, affinity: int, environ: dict[str, str], threads: int, line: str
) -> None:
    root, proc = _cgroup(tmp_path, "0::/\n", {})
    share = cpu_share(environ, affinity=lambda: affinity, cgroup_root=root, proc_cgroup=proc)
    assert share.threads == threads and share.text() == line


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OMP_NUM_THREADS", "0"),
        ("OMP_NUM_THREADS", "two"),
        ("TRAINER_CPU_WORKERS", "-1"),
        ("SLURM_CPUS_PER_TASK", "1.5"),
    ],
)
def test_a_malformed_variable_is_a_config_error_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{name}: '{value}' is not a positive whole number .*; set it to e\.g\. 2"):
        cpu_share({name: value})


@pytest.mark.parametrize(
    ("environ", "spin_count"),
    [
        ({}, str(OPENMP_SPIN_COUNT)),
        ({"GOMP_SPINCOUNT": "300000"}, "300000"),  # the user's choice stays
        ({"OMP_WAIT_POLICY": "ACTIVE"}, None),  # so does a wait policy, which libgomp maps to its own count
    ],
)
def test_openmp_spinning_is_bounded_unless_the_user_chose(environ: dict[str, str], spin_count: str | None) -> None:
    bound_openmp_spinning(environ)
    assert environ.get("GOMP_SPINCOUNT") == spin_count


def test_use_cpu_share_sets_torch_threads_and_logs_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("TRAINER_CPU_WORKERS", raising=False)  # which a parallel test run sets
    monkeypatch.setattr("trainer.runtime._logged_share", [])
    before = torch.get_num_threads()
    try:
        with caplog.at_level(logging.INFO, logger=CPU_SHARE_LOGGER):
            first = use_cpu_share()
            use_cpu_share()
            assert torch.get_num_threads() == 1
            monkeypatch.setenv("OMP_NUM_THREADS", "2")
            use_cpu_share()
    finally:
        torch.set_num_threads(before)
    assert first == CpuShare(1, first.figure, omp_num_threads=True)
    assert caplog.messages == [
        "torch uses 1 thread: OMP_NUM_THREADS=1 (set in the environment)",
        "torch uses 2 threads: OMP_NUM_THREADS=2 (set in the environment)",
    ], "once, and again only when the share changed"
