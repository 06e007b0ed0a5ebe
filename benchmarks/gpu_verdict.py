"""Read the JSON lines of `train_step.py` and `data_loader.py` and say what limits training speed.

    python benchmarks/gpu_verdict.py results/train_step.jsonl results/data_loader.jsonl

For the first backbone measured (resnet50 in gpu.sh) it compares our fastest mode's img/s with the
loader's best img/s over the worker counts measured: the slower of the two is the bottleneck. It also
prints our fastest mode against smp's plain float32 loop, the issue's 1.3x goal, and the achieved share
of the card's bf16 rate against the 15% goal, where the train-step run measured that rate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SPEEDUP_GOAL = 1.3
PEAK_SHARE_GOAL = 0.15


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(train_path: Path, loader_path: Path) -> None:
    train_rows, loader_rows = read_rows(train_path), read_rows(loader_path)
    backbone = train_rows[0]["backbone"]
    rows = [row for row in train_rows if row["backbone"] == backbone]
    fastest = max(rows, key=lambda row: row["img_s"]["ours"])
    gpu_img_s = fastest["img_s"]["ours"]
    baseline = next((row for row in rows if row["mode"] == "fp32"), None)
    loader = max(loader_rows, key=lambda row: row["ours_img_s"])
    print(f"\n{backbone}: ours fastest in {fastest['mode']} at {gpu_img_s:.1f} img/s on {fastest['device']}")
    if baseline is not None:
        speedup = gpu_img_s / baseline["img_s"]["smp"]
        verdict = "meets" if speedup >= SPEEDUP_GOAL else "misses"
        print(
            f"against smp's float32 loop ({baseline['img_s']['smp']:.1f} img/s): {speedup:.2f}x, {verdict} the {SPEEDUP_GOAL}x goal"
        )
    if fastest.get("peak_tflops"):
        share = fastest["tflops"]["ours"] / fastest["peak_tflops"]
        verdict = "meets" if share >= PEAK_SHARE_GOAL else "misses"
        print(
            f"achieved {fastest['tflops']['ours']:.3g} TFLOP/s = {100 * share:.1f}% of bf16 peak, {verdict} the 15% goal"
        )
    print(f"loader: {loader['ours_img_s']:.1f} img/s with {loader['workers']} workers")
    on_device = max((row.get("device_img_s", 0.0) for row in loader_rows), default=0.0)
    if on_device:
        print(f"loader with data.augment_on: device: {on_device:.1f} img/s")
    if loader["ours_img_s"] < gpu_img_s:
        print(
            f"bottleneck: the CPU loader ({loader['ours_img_s']:.0f} < {gpu_img_s:.0f} img/s); "
            "set data.augment_on: device to decode and augment on the GPU"
        )
    else:
        print(
            f"bottleneck: the GPU (the loader delivers {loader['ours_img_s'] / gpu_img_s:.1f}x what training consumes)"
        )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} TRAIN_STEP_JSONL DATA_LOADER_JSONL")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
