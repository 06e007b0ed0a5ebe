"""The arms of `benchmarks/gpu_sweep.sh`: one study file each in a scratch folder, and the data they share.

`benchmarks/studies/gpu_sweep.yaml` is copied to SCRATCH/ARM/gpu_sweep.yaml for each ARM given (such as
`2-per-gpu`), with the study and its MLflow experiment named `gpu-sweep-ARM` and its Optuna storage, MLflow
store and checkpoints in SCRATCH/ARM (`study_files.write_isolated_study`). Every arm reads the same data
root, SCRATCH/data, which is generated here, before any arm's clock starts. `--smoke` shrinks the study for
the CPU (`SMOKE_CHANGES`); everything else, the trials and the GPU recipe's settings included, stays.

    python benchmarks/gpu_sweep_study.py SCRATCH 2-per-gpu 1-per-gpu [--smoke]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml
from study_files import provision_data, write_isolated_study

STUDY = Path(__file__).resolve().parent / "studies" / "gpu_sweep.yaml"
SMOKE_TRIALS = 2
SMOKE_CHANGES: dict[str, Any] = {
    "study.n_trials": SMOKE_TRIALS,
    "enqueue": yaml.safe_load(STUDY.read_text())["enqueue"][:SMOKE_TRIALS],
    "train.device": "cpu",
    "train.data.synthesize": {"train": 16, "val": 4, "size": 64, "seed": 0},
    "train.data.crop_size": 64,
    "train.data.batch_size": 4,
    "train.data.num_workers": 1,
    "study.latency": {"image_size": 64, "warmup": 0, "repeats": 1},
}
"""Sizes for 2 CPU cores: the first two enqueued trials (one network of each kind, which start together in the
packed arm), 16 train and 4 val images of 64 px, crop 64, 4 steps an epoch, one loader worker."""


def write_arms(scratch: Path, arms: list[str], *, smoke: bool) -> None:
    """Write SCRATCH/ARM/gpu_sweep.yaml for each arm, then generate the data they share; print both."""
    changes = {"train.data.root": str(scratch / "data"), **(SMOKE_CHANGES if smoke else {})}
    specs = []
    for arm in arms:
        folder = scratch / arm
        folder.mkdir(parents=True)
        specs.append(write_isolated_study(STUDY, folder, {**changes, "study.name": f"gpu-sweep-{arm}"}))
        print(f"arm {arm}: {folder / STUDY.name}")
    data = specs[0].train.data
    seconds = provision_data(specs[0])
    print(f"data ({data.synthesize}) generated in {seconds:.1f} s into {data.root}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scratch", type=Path, help="Folder for the arms and the data (created if missing).")
    parser.add_argument("arms", nargs="+", help="One name per arm, such as 2-per-gpu; names the study and its folder.")
    parser.add_argument(
        "--smoke", action="store_true", help="CPU sizes (SMOKE_CHANGES), so a typo cannot reach the GPU."
    )
    args = parser.parse_args()
    write_arms(args.scratch, args.arms, smoke=args.smoke)


if __name__ == "__main__":
    main()
