"""The figures of each arm of the GPU sweep, worked out from what its trials recorded, and the speed-up of
packing more trials onto the GPU. Pure arithmetic: `gpu_sweep_report.py` reads the records.

A figure the records cannot give is None, and `missing` says why (no trial finished, no compute figures,
no GPU samples); nothing is estimated in its place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

GPU_UTILISATION = "system/gpu_0_utilization_percentage"
GPU_MEMORY = "system/gpu_0_memory_usage_megabytes"
NO_GPU_SAMPLES = (
    "no {metric} on any trial run: MLflow's system-metrics monitor saw no NVIDIA GPU (or tracking.system_metrics "
    "is off)"
)


@dataclass(frozen=True)
class TrialRecord:
    """One trial attempt: its Optuna state name, when it started and ended (None: not yet), the training
    images it went through (images an epoch times epochs trained) and its seconds (`attempt_wall_s`; None when
    it recorded no compute figures)."""

    state: str
    start: datetime | None
    end: datetime | None
    images: int
    seconds: float | None


@dataclass(frozen=True)
class ArmRecord:
    """One arm: `workers_per_gpu` trials on the GPU at once, its study's name, its trials, and every sample of
    the GPU's utilisation (%) and memory use (MB) that MLflow's monitor logged on their runs."""

    workers_per_gpu: int
    study: str
    trials: tuple[TrialRecord, ...]
    gpu_utilisation: tuple[float, ...]
    gpu_memory_mb: tuple[float, ...]


@dataclass(frozen=True)
class ArmFigures:
    """What one arm achieved. `figures` maps each name of `FIGURES` to its value, None where `missing` says why."""

    workers_per_gpu: int
    study: str
    complete: int
    pruned: int
    failed: int
    most_at_once: int
    train_images: int
    figures: dict[str, float | None]
    missing: dict[str, str] = field(default_factory=dict)


FIGURES = (
    "wall_s",
    "trial_img_s",
    "gpu_img_s",
    "trials_per_hour",
    "gpu_utilisation_mean",
    "gpu_utilisation_max",
    "gpu_memory_max_mb",
)
"""wall_s: first trial's start to last trial's end; trial_img_s: training images / trial seconds (one trial's
rate: its seconds also hold the network measurement, validation and checkpoints); gpu_img_s: training images
/ wall_s (the whole GPU's rate); trials_per_hour: finished (complete or pruned) trials per hour of wall_s;
the GPU figures: over every sample of the arm's trial runs."""


def arm_figures(arm: ArmRecord) -> ArmFigures:
    """The figures of `arm`, each one that its records cannot give None, with the reason in `missing`."""
    states = [trial.state for trial in arm.trials]
    finished = states.count("COMPLETE") + states.count("PRUNED")
    images = sum(trial.images for trial in arm.trials)
    timed = [trial for trial in arm.trials if trial.seconds is not None]
    wall_s = _wall_seconds(arm.trials)
    figures: dict[str, float | None] = dict.fromkeys(FIGURES)
    missing: dict[str, str] = {}
    if wall_s is None:
        for name in ("wall_s", "gpu_img_s", "trials_per_hour"):
            missing[name] = "no trial of the study finished"
    else:
        figures.update(wall_s=wall_s, gpu_img_s=images / wall_s, trials_per_hour=finished / wall_s * 3600)
    trial_seconds = sum(trial.seconds or 0.0 for trial in timed)
    if trial_seconds > 0:
        figures["trial_img_s"] = sum(trial.images for trial in timed) / trial_seconds
    else:
        missing["trial_img_s"] = "no trial recorded its compute figures (user attr attempt_wall_s)"
    if arm.gpu_utilisation:
        figures["gpu_utilisation_mean"] = sum(arm.gpu_utilisation) / len(arm.gpu_utilisation)
        figures["gpu_utilisation_max"] = max(arm.gpu_utilisation)
    else:
        reason = NO_GPU_SAMPLES.format(metric=GPU_UTILISATION)
        missing.update(gpu_utilisation_mean=reason, gpu_utilisation_max=reason)
    if arm.gpu_memory_mb:
        figures["gpu_memory_max_mb"] = max(arm.gpu_memory_mb)
    else:
        missing["gpu_memory_max_mb"] = NO_GPU_SAMPLES.format(metric=GPU_MEMORY)
    return ArmFigures(
        workers_per_gpu=arm.workers_per_gpu,
        study=arm.study,
        complete=states.count("COMPLETE"),
        pruned=states.count("PRUNED"),
        failed=states.count("FAIL"),
        most_at_once=_most_at_once(arm.trials),
        train_images=images,
        figures=figures,
        missing=missing,
    )


@dataclass(frozen=True)
class Speedup:
    """How many times `arm`'s rates are `baseline`'s (None where either lacks the figure, with the reason)."""

    arm: int
    baseline: int
    gpu_img_s: float | None
    trials_per_hour: float | None
    missing: dict[str, str]


def speedups(arms: Sequence[ArmFigures]) -> list[Speedup]:
    """Each arm's rates over those of the arm with the fewest workers per GPU (which gets no entry)."""
    if not arms:
        return []
    baseline = min(arms, key=lambda arm: arm.workers_per_gpu)
    result = []
    for arm in arms:
        if arm is baseline:
            continue
        ratios: dict[str, float | None] = {}
        missing: dict[str, str] = {}
        for name in ("gpu_img_s", "trials_per_hour"):
            value, reference = arm.figures[name], baseline.figures[name]
            if value is None or not reference:
                ratios[name] = None
                missing[name] = f"{name} is missing for {arm.workers_per_gpu} or {baseline.workers_per_gpu} per GPU"
            else:
                ratios[name] = value / reference
        result.append(
            Speedup(
                arm.workers_per_gpu, baseline.workers_per_gpu, ratios["gpu_img_s"], ratios["trials_per_hour"], missing
            )
        )
    return result


def _wall_seconds(trials: Sequence[TrialRecord]) -> float | None:
    starts = [trial.start for trial in trials if trial.start is not None]
    ends = [trial.end for trial in trials if trial.end is not None]
    if not starts or not ends:
        return None
    return (max(ends) - min(starts)).total_seconds()


def _most_at_once(trials: Sequence[TrialRecord]) -> int:
    """The most trials that ran at the same time (a trial that has not ended counts as running on)."""
    events = []
    for trial in trials:
        if trial.start is not None:
            events.append((trial.start, 1))
            if trial.end is not None:
                events.append((trial.end, -1))
    running, most = 0, 0
    for _, change in sorted(events):  # an end sorts before a start at the same instant
        running += change
        most = max(most, running)
    return most
