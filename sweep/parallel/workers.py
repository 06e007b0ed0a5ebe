"""Planning the worker processes of `sweep run --workers N` / `--gpus 0,1 --workers-per-gpu K`.

Pure functions, so that the plan can be checked without a GPU: which workers, which GPU each one sees,
and the environment and command line it is started with. The storage and tracking URLs, which may hold
passwords, travel in the environment (`SWEEP_STORAGE`, `MLFLOW_TRACKING_URI`), never on a command line
that `ps` shows.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sweep.spec.study_file import StudySpec
from trainer.cpu_share import CPU_WORKERS_ENV

STORAGE_ENV = "SWEEP_STORAGE"
TRACKING_ENV = "MLFLOW_TRACKING_URI"
_GPU_ID = re.compile(r"\d+|(GPU|MIG)-[0-9A-Za-z-]+")


@dataclass(frozen=True)
class StudyLaunch:
    """What one `sweep run` was asked to run, built once by the CLI: the study file as given (each worker
    loads it again), the spec loaded from it with every override applied, and the `--n-trials` and
    `--timeout` overrides that the workers' command lines repeat (None: the study file's own).

    `command` is the `sweep` command each worker runs with `options` after the study file: `run`, or
    `confirm --top K --seeds N`, whose workers derive the confirmation's study as the parent did."""

    study_file: str
    spec: StudySpec
    n_trials: int | None = None
    timeout: int | None = None
    command: str = "run"
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkerPlan:
    """Worker `index` and the GPU it is pinned to (`CUDA_VISIBLE_DEVICES`), or None to inherit the parent's."""

    index: int
    gpu: str | None = None


def parse_gpus(text: str) -> list[str]:
    """`"0,1,2,3"` -> `["0", "1", "2", "3"]`; CUDA indices or `GPU-…`/`MIG-…` UUIDs, each at most once."""
    gpus = [part.strip() for part in text.split(",")]
    for gpu in gpus:
        if not _GPU_ID.fullmatch(gpu):
            raise ValueError(f"--gpus {text!r}: {gpu!r} is not a GPU index or UUID; e.g. --gpus 0,1,2,3")
    duplicates = sorted({gpu for gpu in gpus if gpus.count(gpu) > 1})
    if duplicates:
        raise ValueError(f"--gpus {text!r} lists {', '.join(duplicates)} twice; use --workers-per-gpu to share a GPU")
    return gpus


def plan_workers(
    *, workers: int | None = None, gpus: Sequence[str] | None = None, workers_per_gpu: int | None = None
) -> list[WorkerPlan]:
    """One worker per GPU times `workers_per_gpu` (assigned round-robin), or `workers` that inherit the GPUs."""
    if gpus is None:
        if workers_per_gpu is not None:
            raise ValueError("--workers-per-gpu needs --gpus (the GPUs to pack the workers onto)")
        return [WorkerPlan(index) for index in range(workers or 1)]
    per_gpu = workers_per_gpu or 1
    count = len(gpus) * per_gpu
    if workers is not None and workers != count:
        raise ValueError(
            f"--workers {workers} contradicts --gpus with {len(gpus)} GPUs x {per_gpu} per GPU = {count} workers; "
            "leave --workers out"
        )
    return [WorkerPlan(index, gpus[index % len(gpus)]) for index in range(count)]


def worker_environment(
    plan: WorkerPlan,
    base: Mapping[str, str],
    *,
    storage_url: str,
    tracking_uri: str,
    workers: int,
) -> dict[str, str]:
    """The parent's environment plus the URLs, the worker's GPU and how many workers share the CPUs.

    Each worker's torch then takes its share of the CPUs it may use (`trainer.cpu_share`: affinity,
    cgroup quota, Slurm), rather than a thread per core that all the workers would fight over;
    `OMP_NUM_THREADS`, when the user set it, still gives each worker that many threads.
    """
    environment = dict(base)
    environment[STORAGE_ENV] = storage_url
    environment[TRACKING_ENV] = tracking_uri
    environment["PYTHONUNBUFFERED"] = "1"
    if plan.gpu is not None:
        environment["CUDA_VISIBLE_DEVICES"] = plan.gpu
    environment[CPU_WORKERS_ENV] = str(workers)
    return environment


def worker_command(launch: StudyLaunch, plan: WorkerPlan, events_fd: int) -> list[str]:
    """`python -m sweep.cli run STUDY.yaml --worker-index I --events-fd FD [...]`; no URL, no secret."""
    command = [sys.executable, "-m", "sweep.cli", launch.command, launch.study_file, *launch.options]
    command += ["--worker-index", str(plan.index)]
    command += ["--events-fd", str(events_fd), "--quiet"]
    if launch.n_trials is not None:
        command += ["--n-trials", str(launch.n_trials)]
    if launch.timeout is not None:
        command += ["--timeout", str(launch.timeout)]
    return command
