"""Record real learning curves once, for `benchmarks/search.py` to replay studies against.

Every configuration of a grid over the smoke study's search space, widened to the optimizer and the focal
loss's weight, trains for 12 epochs through `trainer.train` in this one process (imports and data once),
with a `report` callback that keeps each epoch's val mIoU and seconds. The seconds of epoch 1 count from
the `train` call, so they include building the model; each epoch's include its validation and checkpoints,
as in a sweep trial.

The base is `studies/smoke.yaml`'s `train` section (MobileNetV3-Large DeepLabV3+, generated 64 px data,
batch 8, seed 0) with 64 training images instead of 96: 8 steps an epoch, so 12 epochs are the smoke
study's 96 steps, at about 19 s a configuration on 2 CPU cores. The grid has 80 configurations (5 lr x 2
schedules x 2 optimizers x 4 focal weights). They were recorded in two runs: first 24 (every other lr, focal
weights 0 and 1), then the rest, the file widened to the whole grid (`load_or_start` resumes a recording of
a part of the grid).

The output (`benchmarks/data/curves-smoke-cpu.json`) is written after each configuration, and a rerun skips
the configurations already in it, so an interrupted recording resumes. With `--lock PATH` the script holds
an exclusive `flock` on PATH while a configuration trains, and only then, so that other jobs sharing the
machine's CPU lock can run between configurations.

    PYTHONPATH=. .venv/bin/python benchmarks/record_curves.py --lock /tmp/cpu.lock
    PYTHONPATH=. .venv/bin/python benchmarks/record_curves.py --smoke --output /tmp/curves.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import itertools
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from curve_replay import config_key

from sweep.locks import exclusive_file_lock
from sweep.spec.study_file import StudySpec, study_spec_from_dict
from trainer import DivergedError, train
from trainer.config_loading import read_yaml
from trainer.data.atomic import atomic_write
from trainer.data.provision import ensure_data

REPO = Path(__file__).resolve().parents[1]
SMOKE_STUDY = REPO / "studies" / "smoke.yaml"
OUTPUT = REPO / "benchmarks" / "data" / "curves-smoke-cpu.json"
EPOCHS = 12
GRID: dict[str, list[Any]] = {
    "optim.lr": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
    "optim.schedule": ["cosine", "step"],
    "optim.name": ["sgd", "adamw"],
    "loss.focal_weight": [0.0, 0.5, 1.0, 2.0],
}
"""80 configurations. One lr range for both optimizers on purpose: the best lr depends on the optimizer,
an interaction a sampler has to find (AdamW at 0.1 learns little or diverges, SGD at 1e-3 learns little)."""
DATA_CHANGES: dict[str, Any] = {
    "data.root": "data/voc-synth-curves-64px",
    "data.synthesize": {"train": 64, "val": 16, "size": 64, "seed": 0},
}
SMOKE_GRID: dict[str, list[Any]] = {"optim.lr": [1e-2, 1e-1], "optim.schedule": ["cosine"]}
SMOKE_EPOCHS = 2
SMOKE_DATA_CHANGES: dict[str, Any] = {
    "data.root": "data/voc-synth-bench-tiny-32px",
    "data.synthesize": {"train": 16, "val": 4, "size": 32, "seed": 0},
    "data.crop_size": 32,
}


def base_study(data_changes: Mapping[str, Any], epochs: int) -> StudySpec:
    """The smoke study with the curves' data and epochs; a relative data root is taken from the repository."""
    document = read_yaml(SMOKE_STUDY)
    train_section = document["train"]
    train_section["epochs"] = epochs
    for path, value in data_changes.items():
        section, key = path.split(".")
        train_section[section][key] = value
    root = Path(train_section["data"]["root"])
    train_section["data"]["root"] = str(root if root.is_absolute() else REPO / root)
    return study_spec_from_dict(document, source=SMOKE_STUDY)


def grid_configurations(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the last key varying fastest."""
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


@contextlib.contextmanager
def cpu_lock(path: Path | None) -> Iterator[None]:
    """Hold an exclusive flock on `path` (`sweep.locks.exclusive_file_lock`) for the block; no lock when None."""
    if path is None:
        yield
        return
    with exclusive_file_lock(path):
        yield


def record_one(spec: StudySpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """Train one configuration; its params, per-epoch val mIoU and seconds, and whether the loss diverged."""
    miou: list[float] = []
    seconds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="record-curves-") as scratch:
        config = spec.trial_config(params, checkpoint_dir=Path(scratch))
        last = time.perf_counter()

        def report(epoch: int, metrics: Mapping[str, float]) -> None:
            nonlocal last
            now = time.perf_counter()
            miou.append(round(metrics["val/miou"], 6))
            seconds.append(round(now - last, 3))
            last = now

        diverged = False
        try:
            train(config, report)
        except DivergedError:
            diverged = True
    return {"params": dict(params), "miou": miou, "seconds": seconds, "diverged": diverged}


def _widens(grid: Mapping[str, Sequence[Any]], recorded: Mapping[str, Sequence[Any]]) -> bool:
    """Whether `grid` has the keys of the `recorded` grid and every value it had (and perhaps more)."""
    return grid.keys() == recorded.keys() and all(set(recorded[key]) <= set(grid[key]) for key in grid)


def load_or_start(path: Path, grid: Mapping[str, Sequence[Any]], spec: StudySpec) -> dict[str, Any]:
    """The recording in `path` if it is of the same seed, data and epochs and of this grid or a part of it
    (then widened to this grid, the configurations it has kept); a new, empty one if there is none."""
    header = {
        "grid": {key: list(values) for key, values in grid.items()},
        "epochs": spec.train.epochs,
        "seed": spec.train.seed,
        "data": spec.train.data.synthesize.model_dump() if spec.train.data.synthesize else None,
        "batch_size": spec.train.data.batch_size,
        "backbone": spec.train.model.backbone,
    }
    if path.exists():
        recorded: dict[str, Any] = json.loads(path.read_text())
        same_setup = all(recorded.get(key) == value for key, value in header.items() if key != "grid")
        if same_setup and _widens(grid, recorded["grid"]):
            return {**recorded, "grid": header["grid"]}  # its configurations are the new grid's too
        raise SystemExit(f"{path} holds another grid, seed, data or epochs; move it away or pass --output")
    return {
        **header,
        "command": "PYTHONPATH=. " + shlex.join([Path(sys.executable).name, *sys.argv]),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host_cpus": os.cpu_count(),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "configurations": [],
    }


def write_atomically(path: Path, recording: Mapping[str, Any]) -> None:
    """Write the recording so that a reader, or a resumed recording, sees the last whole file (`atomic_write`)."""
    with atomic_write(path) as partial:
        partial.write_text(json.dumps(recording, indent=None, separators=(",", ":")) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--lock", type=Path, default=None, help="flock this file while each configuration trains")
    parser.add_argument("--smoke", action="store_true", help="2 configurations of 2 epochs on 32 px images")
    args = parser.parse_args()

    grid, epochs, data_changes = (
        (SMOKE_GRID, SMOKE_EPOCHS, SMOKE_DATA_CHANGES) if args.smoke else (GRID, EPOCHS, DATA_CHANGES)
    )
    spec = base_study(data_changes, epochs)
    ensure_data(spec.train.data)
    recording = load_or_start(args.output, grid, spec)
    done = {config_key(entry["params"]) for entry in recording["configurations"]}
    todo = [params for params in grid_configurations(grid) if config_key(params) not in done]
    print(f"{len(done)} configurations recorded already, {len(todo)} to go", flush=True)
    for index, params in enumerate(todo, start=1):
        with cpu_lock(args.lock):
            entry = record_one(spec, params)
        recording["configurations"].append(entry)
        recording["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        write_atomically(args.output, recording)
        print(
            f"{index}/{len(todo)} {params}: best val mIoU {max(entry['miou'], default=0.0):.4f} "
            f"in {sum(entry['seconds']):.1f} s{' (diverged)' if entry['diverged'] else ''}",
            flush=True,
        )


if __name__ == "__main__":
    main()
