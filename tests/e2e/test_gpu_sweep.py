"""benchmarks/gpu_sweep.sh: its figures follow from what the trials recorded, and its smoke run takes the
GPU run's whole path on the CPU (what CI runs, so that a typo cannot reach the GPU machine)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))  # the benchmark scripts import each other as top-level modules

from gpu_sweep_figures import ArmRecord, TrialRecord, arm_figures, speedups  # noqa: E402
from gpu_sweep_report import table  # noqa: E402

START = datetime(2026, 12, 1, 12, 0, 0)


def _trial(state: str, start_s: float, end_s: float | None, images: int, seconds: float | None) -> TrialRecord:
    end = None if end_s is None else START + timedelta(seconds=end_s)
    return TrialRecord(state, START + timedelta(seconds=start_s), end, images, seconds)


# Two at once: A and B start together; C starts as A ends, D as B ends, E (which recorded nothing) as C ends.
PACKED = ArmRecord(
    workers_per_gpu=2,
    study="packed",
    trials=(
        _trial("COMPLETE", 0, 10, 1600, 10.0),
        _trial("COMPLETE", 0, 12, 1600, 12.0),
        _trial("PRUNED", 10, 16, 800, 6.0),
        _trial("COMPLETE", 12, 22, 1600, 10.0),
        _trial("FAIL", 16, 17, 0, None),
    ),
    gpu_utilisation=(50.0, 100.0, 90.0),
    gpu_memory_mb=(1000.0, 3000.0),
)
# One at a time, no GPU samples (a CPU run).
SERIAL = ArmRecord(
    workers_per_gpu=1,
    study="serial",
    trials=tuple(
        _trial("COMPLETE", start, end, 1600, end - start) for start, end in ((0, 8), (8, 18), (18, 26), (26, 36))
    ),
    gpu_utilisation=(),
    gpu_memory_mb=(),
)


def test_an_arms_figures_by_hand() -> None:
    packed = arm_figures(PACKED)
    assert (packed.complete, packed.pruned, packed.failed, packed.most_at_once) == (3, 1, 1, 2)
    assert packed.train_images == 5600
    assert packed.figures == pytest.approx(
        {
            "wall_s": 22.0,  # the first start to the last end
            "trial_img_s": 5600 / 38,  # seconds 10 + 12 + 6 + 10; E recorded none
            "gpu_img_s": 5600 / 22,
            "trials_per_hour": 4 / 22 * 3600,  # complete and pruned
            "gpu_utilisation_mean": 80.0,
            "gpu_utilisation_max": 100.0,
            "gpu_memory_max_mb": 3000.0,
        }
    )
    assert packed.missing == {}


def test_the_speed_up_is_the_ratio_of_the_rates_over_the_fewest_workers_per_gpu() -> None:
    (gain,) = speedups([arm_figures(PACKED), arm_figures(SERIAL)])
    assert (gain.arm, gain.baseline) == (2, 1)
    assert gain.gpu_img_s == pytest.approx((5600 / 22) / (6400 / 36))
    assert gain.trials_per_hour == pytest.approx((4 / 22) / (4 / 36))
    assert gain.missing == {}


def test_a_figure_the_records_cannot_give_is_missing_with_its_reason() -> None:
    serial = arm_figures(SERIAL)
    gpu_reason = (
        "no system/gpu_0_utilization_percentage on any trial run: MLflow's system-metrics monitor saw no NVIDIA GPU"
    )
    assert serial.figures["gpu_utilisation_mean"] is None and serial.figures["gpu_memory_max_mb"] is None
    assert serial.missing["gpu_utilisation_max"].startswith(gpu_reason)
    assert serial.missing["gpu_memory_max_mb"].startswith("no system/gpu_0_memory_usage_megabytes on any trial run")
    running = arm_figures(ArmRecord(1, "running", (_trial("RUNNING", 0, None, 0, None),), (), ()))
    assert running.most_at_once == 1
    assert {name: running.figures[name] for name in ("wall_s", "trial_img_s", "gpu_img_s", "trials_per_hour")} == {
        "wall_s": None,
        "trial_img_s": None,
        "gpu_img_s": None,
        "trials_per_hour": None,
    }
    assert running.missing["gpu_img_s"] == "no trial of the study finished"
    assert running.missing["trial_img_s"] == "no trial recorded its compute figures (user attr attempt_wall_s)"
    (gain,) = speedups([arm_figures(PACKED), running])
    assert gain.gpu_img_s is None and gain.trials_per_hour is None
    assert gain.missing["gpu_img_s"] == "gpu_img_s is missing for 2 or 1 per GPU"


def test_the_table_prints_missing_where_a_figure_is_and_says_why_below() -> None:
    arms = [arm_figures(PACKED), arm_figures(SERIAL)]
    lines = table(arms, speedups(arms)).splitlines()
    assert (
        lines[2]
        == "| 2 per GPU (`packed`) | 3 / 1 / 1 | 2 | 22.0 | 5600 | 147.4 | 254.5 | 654.5 | 80.0 / 100.0 | 3000 |"
    )
    assert (
        lines[3]
        == "| 1 per GPU (`serial`) | 4 / 0 / 0 | 1 | 36.0 | 6400 | 177.8 | 177.8 | 400.0 | missing / missing | missing |"
    )
    assert "speed-up of 2 per GPU over 1: 1.43x img/s of the GPU, 1.64x trials/h" in lines
    assert (
        "missing for 1 per GPU: gpu_utilisation_mean, gpu_utilisation_max: no system/gpu_0_utilization_percentage "
        "on any trial run: MLflow's system-metrics monitor saw no NVIDIA GPU (or tracking.system_metrics is off)"
    ) in lines


def test_the_report_refuses_an_arm_that_is_not_a_number_of_trials_per_gpu() -> None:
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu_sweep_report.py", "--arm", "two", "study.yaml"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "--arm takes a number of trials per GPU and a study file, got [['two', 'study.yaml']]" in done.stderr


def test_the_installer_names_its_arguments() -> None:
    done = subprocess.run(["bash", "benchmarks/install-gpu-sweep-wheels.sh"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == "usage: bash benchmarks/install-gpu-sweep-wheels.sh PYTHON VENV\n"


@pytest.mark.slow
def test_smoke_run_sweeps_both_arms_and_reports_them(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    out = tmp_path / "out"
    out.mkdir()
    # The arms' loader workers open sockets under TMPDIR: a pytest-xdist tmp_path is too deep for them
    # (trainer.data.worker_sockets), so the scratch folder is a short one.
    scratch = Path(tempfile.mkdtemp(prefix="gpu-sweep-test-"))
    request.addfinalizer(lambda: shutil.rmtree(scratch, ignore_errors=True))
    env = {**os.environ, "OUT": str(out), "TMPDIR": str(scratch), "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        ["bash", "benchmarks/gpu_sweep.sh", "--smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "gpu_sweep.json").read_text())
    # 2 trials of 2 epochs of 16 images (4 batches of 4) in each arm; the CPU has no GPU to sample.
    expected_missing = {"gpu_utilisation_mean", "gpu_utilisation_max", "gpu_memory_max_mb"}
    for arm, workers in zip(report["arms"], (2, 1), strict=True):
        assert arm["workers_per_gpu"] == workers and arm["study"] == f"gpu-sweep-{workers}-per-gpu"
        assert (arm["complete"], arm["pruned"], arm["failed"], arm["most_at_once"]) == (2, 0, 0, workers)
        assert arm["train_images"] == 64
        assert set(arm["missing"]) == expected_missing
        assert all(arm["figures"][name] is None for name in expected_missing)
        assert arm["figures"]["gpu_img_s"] == pytest.approx(64 / arm["figures"]["wall_s"])
    (gain,) = report["speedups"]
    assert (gain["arm"], gain["baseline"]) == (2, 1) and gain["gpu_img_s"] > 0
    assert "| 2 per GPU (`gpu-sweep-2-per-gpu`) | 2 / 0 / 0 | 2 |" in done.stdout
    assert "command: bash benchmarks/gpu_sweep.sh --smoke" in done.stdout
    assert list(scratch.iterdir()) == []  # the data, stores and checkpoints went with the scratch folder
