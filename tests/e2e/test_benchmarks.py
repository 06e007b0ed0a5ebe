"""The benchmark scripts run (their smoke modes), and their verdicts follow from the figures they read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest

from trainer.cpu_share import cpu_share

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], out: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _stdout_of_passing(script: str, out: Path, timeout: float) -> str:
    """Run `python benchmarks/<script> --smoke`, assert exit 0 (showing its output if not), return stdout."""
    result = _run([sys.executable, f"benchmarks/{script}", "--smoke"], out, timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
def test_gpu_script_smoke_runs_every_part_on_the_cpu(tmp_path: Path) -> None:
    result = _run(["bash", "benchmarks/gpu.sh", "--smoke"], tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "train_step.jsonl").read_text().splitlines()]
    assert [(row["backbone"], row["mode"]) for row in rows] == [
        ("mobilenet_v3_large", "fp32"),
        ("mobilenet_v3_large", "fp32-nhwc"),
    ]
    for row in rows:
        assert row["img_s"]["ours"] > 0 and row["img_s"]["smp"] > 0
        assert row["ratio_overall"] == pytest.approx(row["img_s"]["ours"] / row["img_s"]["smp"])
        assert row["tflops"]["ours"] > 0
    loader_rows = [json.loads(line) for line in (tmp_path / "data_loader.jsonl").read_text().splitlines()]
    assert loader_rows and all(row["ours_img_s"] > 0 and row["device_img_s"] > 0 for row in loader_rows)
    assert "| mobilenet_v3_large | fp32-nhwc |" in result.stdout
    assert "bottleneck: " in result.stdout
    (latency,) = [json.loads(line) for line in (tmp_path / "latency.jsonl").read_text().splitlines()]
    assert latency["backbone"] == "mobilenet_v3_large" and latency["cost"]["params_m"] == pytest.approx(11.727397)
    assert latency["cost"]["latency_image_size"] == 64 and latency["cost"]["device"] == "cpu"


def _write_rows(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _train_row(mode: str, ours: float, smp: float, tflops: float) -> dict[str, object]:
    return {
        "backbone": "resnet50",
        "mode": mode,
        "img_s": {"ours": ours, "smp": smp},
        "tflops": {"ours": tflops, "smp": 0.0},
        "device": "NVIDIA H100",
        "peak_tflops": 800.0,
    }


def test_bottleneck_verdict_from_hand_written_figures(tmp_path: Path) -> None:
    train = _write_rows(
        tmp_path / "train.jsonl",
        [_train_row("fp32", 100.0, 80.0, 30.0), _train_row("bf16-nhwc", 420.0, 300.0, 126.0)],
    )
    loader = _write_rows(
        tmp_path / "loader.jsonl", [{"workers": 4, "ours_img_s": 150.0}, {"workers": 14, "ours_img_s": 390.0}]
    )
    result = subprocess.run(
        [sys.executable, "benchmarks/gpu_verdict.py", str(train), str(loader)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    # 420 / 80 = 5.25x smp's float32 loop; 126 / 800 = 15.75% of the peak; 390 < 420 img/s.
    assert "ours fastest in bf16-nhwc at 420.0 img/s" in result.stdout
    assert "5.25x, meets the 1.3x goal" in result.stdout
    assert "15.8% of bf16 peak, meets the 15% goal" in result.stdout
    assert "bottleneck: the CPU loader (390 < 420 img/s)" in result.stdout


def test_train_step_rejects_a_size_smp_cannot_take() -> None:
    result = subprocess.run(
        [sys.executable, "benchmarks/train_step.py", "--size", "100"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "--size 100 is not divisible by 16" in result.stderr


@pytest.mark.slow
def test_sweep_overhead_smoke_accounts_for_the_wall_time(tmp_path: Path) -> None:
    stdout = _stdout_of_passing("sweep_overhead.py", tmp_path, timeout=600)
    assert "| **wall time (`run_study`)** | 1 |" in stdout
    assert "| **overhead (outside training)** |" in stdout


@pytest.mark.slow
def test_pruning_smoke_gives_both_arms_the_same_params(tmp_path: Path) -> None:
    stdout = _stdout_of_passing("pruning.py", tmp_path, timeout=900)
    assert "same params in both arms: True" in stdout
    # 3 trials of 2 epochs, none pruned in the no-pruning arm: exactly 6 epochs.
    assert "| no pruning | 0 | 6 |" in stdout


@pytest.mark.slow
def test_concurrent_processes_smoke_shows_the_threads_each_arm_took(tmp_path: Path) -> None:
    stdout = _stdout_of_passing("concurrent_processes.py", tmp_path, timeout=600)
    alone = cpu_share({}).threads
    assert f"| trainer default | {alone} | " in stdout, "the thread count its processes logged"
    assert "the target of at most 2.5x" in stdout and "each process: trainer train " in stdout


@pytest.mark.slow
def test_record_curves_smoke_writes_each_configuration_once_and_resumes(tmp_path: Path) -> None:
    output = tmp_path / "curves.json"
    command = [sys.executable, "benchmarks/record_curves.py", "--smoke", "--output", str(output)]
    first = _run([*command, "--lock", str(tmp_path / "cpu.lock")], tmp_path, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "0 configurations recorded already, 2 to go" in first.stdout
    recording = json.loads(output.read_text())
    assert recording["grid"] == {"optim.lr": [0.01, 0.1], "optim.schedule": ["cosine"]}
    assert (recording["epochs"], recording["seed"], recording["host_cpus"]) == (2, 0, os.cpu_count())
    assert [entry["params"] for entry in recording["configurations"]] == [
        {"optim.lr": 0.01, "optim.schedule": "cosine"},
        {"optim.lr": 0.1, "optim.schedule": "cosine"},
    ]
    for entry in recording["configurations"]:
        assert len(entry["miou"]) == len(entry["seconds"]) == 2 and not entry["diverged"]
        assert all(0.0 <= miou <= 1.0 for miou in entry["miou"]) and all(s > 0 for s in entry["seconds"])
    second = _run(command, tmp_path, timeout=600)
    assert second.returncode == 0 and "2 configurations recorded already, 0 to go" in second.stdout
    assert json.loads(output.read_text()) == recording, "a finished recording is left as it was"


def _first_random_configuration(grid: dict[str, list[Any]], seed: int) -> dict[str, Any]:
    """What RandomSampler(seed) suggests first: numeric grid keys by index, the others as categoricals."""
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
    return {
        key: values[trial.suggest_int(key, 0, len(values) - 1)]
        if all(isinstance(value, (int, float)) for value in values)
        else trial.suggest_categorical(key, values)
        for key, values in grid.items()
    }


@pytest.mark.slow
def test_search_smoke_replays_every_combination_on_the_recorded_curves(tmp_path: Path) -> None:
    report = tmp_path / "search.json"
    result = _run([sys.executable, "benchmarks/search.py", "--smoke", "--json", str(report)], tmp_path, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    combinations = json.loads(report.read_text())["combinations"]
    expected = [(s, p, w) for s in ("random", "tpe") for p in ("none", "median") for w in (1, 4)]
    assert [(c["sampler"], c["pruner"], c["workers"]) for c in combinations] == expected
    for sampler, pruner, workers in expected:
        assert f"| {sampler} | {pruner} | {workers} | 2 | " in result.stdout
    for combination in combinations:
        for repetition in combination["repetitions"]:
            spent = [point[0] for point in repetition["points"]]
            regret = [point[1] for point in repetition["points"]]
            assert spent == list(range(1, len(spent) + 1)), "one point per epoch trained"
            assert all(later <= earlier for earlier, later in zip(regret[:-1], regret[1:], strict=True)), (
                "regret never rises"
            )
            assert regret[-1] == 0.0 or spent[-1] == 480, "a study stops at regret 0 or at --max-epochs"
            if combination["pruner"] == "none":
                assert all(trial["state"] != "PRUNED" for trial in repetition["trials"])

    curves_file = json.loads((ROOT / "benchmarks" / "data" / "curves-smoke-cpu.json").read_text())
    best = {json.dumps(c["params"], sort_keys=True): max(c["miou"]) for c in curves_file["configurations"]}
    # Random search without pruning, one worker, seed 0: after 12 epochs it has trained exactly its first
    # configuration, so the regret is the grid's best minus that configuration's best val mIoU.
    first = _first_random_configuration(curves_file["grid"], seed=0)
    (random_none,) = [c for c in combinations if (c["sampler"], c["pruner"], c["workers"]) == ("random", "none", 1)]
    seed0 = random_none["repetitions"][0]
    assert seed0["trials"][0] == {"params": first, "epochs": 12, "state": "COMPLETE"}
    assert seed0["points"][11] == [12, pytest.approx(max(best.values()) - best[json.dumps(first, sort_keys=True)])]
    assert "at 1 worker(s) the defaults (tpe + median) reach regret ≤ 0.01" in result.stdout
    assert "at 4 worker(s) the defaults" in result.stdout
