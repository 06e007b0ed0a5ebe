"""Two training processes side by side on one machine: how much each slows down against one alone.

Each process is `python -m trainer.cli train CONFIG` on the CPU, without loader workers, with checkpoints in
a scratch folder: by default one trial of the smoke study (`studies/smoke.yaml`'s `train` section: 8 epochs
of MobileNetV3 DeepLabV3+ on 64 px crops in batches of 8), or `--config` (e.g. `configs/synth_mobilenet.yaml`)
for `--epochs`. Its wall time is timed from its start to its exit (start-up included). Per arm and round,
one process runs alone, then two start together (the order flips every round); the slowdown is the slower
one's median against the alone median of the same arm. The data is generated before the clock starts.
Arms (`--arms`), each a change of the environment, from which every thread setting (`OMP_NUM_THREADS`,
`TRAINER_CPU_WORKERS`, `GOMP_SPINCOUNT`, `OMP_WAIT_POLICY`) is cleared first:
- `libgomp`: `GOMP_SPINCOUNT=300000`, what libgomp spins when nothing is set: the behaviour before
  `trainer.cpu_share.bound_openmp_spinning`;
- `trainer`: nothing set, so the trainer bounds the spinning (`trainer.cpu_share.OPENMP_SPIN_COUNT`);
- `told`: `TRAINER_CPU_WORKERS=2`, as `sweep run --workers 2` tells its workers: each takes half the CPUs;
- and `GOMP_SPINCOUNT=N`, one arm per `--spin-counts` value, to see where the spinning stops hurting.
The torch thread count of each arm is the one its processes logged (`torch uses N threads: ...`).

    PYTHONPATH=. .venv/bin/python benchmarks/concurrent_processes.py [--epochs 2] [--rounds 2] \\
        [--arms libgomp trainer told] [--spin-counts 0 3000] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from study_files import REPO

from sweep.spec.study_file import load_study_spec
from trainer.config_loading import load_config
from trainer.data.provision import ensure_data

SMOKE_STUDY = REPO / "studies" / "smoke.yaml"
TARGET_SLOWDOWN = 2.5
"""The most that a second process beside it may slow a training run down, on 2 cores."""
SMOKE_SETTINGS = [
    f"data.root={REPO / 'data' / 'voc-synth-bench-tiny-32px'}",
    "data.synthesize={train: 16, val: 4, size: 32, seed: 0}",
    "data.crop_size=32",
    "data.eval_batch_size=4",
]
"""The benchmarks' tiny generated data (`study_files.TINY_DATA_CHANGES`), for `--smoke`."""
_THREADS = re.compile(r"^torch uses (\d+) threads?: ", re.MULTILINE)


@dataclass(frozen=True)
class Arm:
    """One way of running the processes: a name, and what it sets in their environment."""

    name: str
    environ: dict[str, str]


@dataclass(frozen=True)
class Timing:
    """One process: its wall seconds and the torch thread count it logged."""

    seconds: float
    threads: int


ARMS = {
    "libgomp": Arm("libgomp default", {"GOMP_SPINCOUNT": "300000"}),
    "trainer": Arm("trainer default", {}),
    "told": Arm("told 2 workers", {"TRAINER_CPU_WORKERS": "2"}),
}
"""The named arms (see the module docstring), by their `--arms` key."""


def chosen_arms(keys: list[str], spin_counts: list[int]) -> list[Arm]:
    """The arms of `keys`, then one `GOMP_SPINCOUNT=N` arm per spin count."""
    spinning = [Arm(f"GOMP_SPINCOUNT={count}", {"GOMP_SPINCOUNT": str(count)}) for count in spin_counts]
    return [ARMS[key] for key in keys] + spinning


def environment(arm: Arm) -> dict[str, str]:
    """This process's environment less every thread setting, plus the arm's, and the project on the path."""
    cleared = ("OMP_NUM_THREADS", "TRAINER_CPU_WORKERS", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
    base = {key: value for key, value in os.environ.items() if key not in cleared}
    return {**base, **arm.environ, "PYTHONPATH": str(REPO)}


def run_together(command: list[str], arm: Arm, folders: list[Path]) -> list[Timing]:
    """Start one training process per folder at once (checkpoints there); their wall times once all exit."""
    timings: dict[int, Timing] = {}
    failures: list[str] = []

    def run_one(index: int, folder: Path) -> None:
        started = time.perf_counter()
        result = subprocess.run(
            [*command, "--set", f"checkpoint.dir={folder}"],
            cwd=REPO,
            env=environment(arm),
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        logged = _THREADS.search(result.stderr)
        if result.returncode != 0 or logged is None:
            failures.append(f"{arm.name}: exit {result.returncode}\n{result.stderr[-2000:]}")
            return
        timings[index] = Timing(seconds, int(logged.group(1)))

    threads = [threading.Thread(target=run_one, args=item) for item in enumerate(folders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit("a training process failed: " + failures[0])
    return [timings[index] for index in range(len(folders))]


def measure(command: list[str], arm: Arm, rounds: int, scratch: Path) -> tuple[list[Timing], list[list[Timing]]]:
    """`rounds` rounds of one process alone and two side by side, the order flipped every round."""
    alone: list[Timing] = []
    pairs: list[list[Timing]] = []
    for round_index in range(rounds):
        folder = scratch / f"{arm.name}-{round_index}".replace(" ", "_").replace("=", "_")
        runs = [("alone", [folder / "alone"]), ("pair", [folder / "first", folder / "second"])]
        for kind, folders in runs if round_index % 2 == 0 else runs[::-1]:
            timings = run_together(command, arm, folders)
            if kind == "alone":
                alone += timings
            else:
                pairs.append(timings)
    return alone, pairs


def report_row(arm: Arm, alone: list[Timing], pairs: list[list[Timing]]) -> tuple[str, float]:
    """The table row of one arm and its slowdown: the slower side-by-side median over the alone median."""
    alone_s = statistics.median(timing.seconds for timing in alone)
    side_by_side = [statistics.median(pair[index].seconds for pair in pairs) for index in range(2)]
    slowdown = max(side_by_side) / alone_s
    threads = sorted({timing.threads for timing in alone + [t for pair in pairs for t in pair]})
    shown = " / ".join(f"{seconds:.1f}" for seconds in side_by_side)
    row = f"| {arm.name} | {', '.join(map(str, threads))} | {alone_s:.1f} | {shown} | {slowdown:.2f}x |"
    return row, slowdown


def training_config(config: Path | None, folder: Path) -> Path:
    """`config`, or else the smoke study's `train` section written into `folder` as a training YAML."""
    if config is not None:
        return config
    path = folder / "smoke_study_train.yaml"
    path.write_text(yaml.safe_dump(load_study_spec(SMOKE_STUDY).train.to_dict(), sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=None, help="a training YAML (default: the smoke study's)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs each process trains (default: the config's)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of alone and side by side, per arm")
    parser.add_argument("--arms", nargs="*", choices=list(ARMS), default=None, help="default: all (smoke: trainer)")
    parser.add_argument("--spin-counts", type=int, nargs="*", default=[], help="also run GOMP_SPINCOUNT=N arms")
    parser.add_argument("--smoke", action="store_true", help="seconds: tiny data, 1 epoch, 1 round")
    args = parser.parse_args()
    keys = args.arms if args.arms is not None else ["trainer"] if args.smoke else list(ARMS)
    epochs = 1 if args.smoke else args.epochs
    rounds = 1 if args.smoke else args.rounds

    with tempfile.TemporaryDirectory(prefix="concurrent-") as scratch:
        config = training_config(args.config, Path(scratch))
        settings = ["device=cpu", "data.num_workers=0", *(SMOKE_SETTINGS if args.smoke else [])]
        settings += [f"epochs={epochs}"] if epochs is not None else []
        ensure_data(load_config(config, settings).data)  # before the clock starts
        command = [sys.executable, "-m", "trainer.cli", "train", str(config)]
        command += [part for setting in settings for part in ("--set", setting)]

        print(f"## Two `trainer train` processes side by side ({os.cpu_count()} CPUs, {rounds} round(s))\n")
        print("| arm | torch threads | alone (s) | side by side (s, each) | slowdown |")
        print("|---|---|---|---|---|")
        slowdowns: dict[str, float] = {}
        for arm in chosen_arms(keys, args.spin_counts):
            row, slowdowns[arm.name] = report_row(arm, *measure(command, arm, rounds, Path(scratch)))
            print(row, flush=True)
    print()
    if "trainer default" in slowdowns:
        default = slowdowns["trainer default"]
        verdict = "meets" if default <= TARGET_SLOWDOWN else "misses"
        print(f"trainer default: {default:.2f}x side by side, {verdict} the target of at most {TARGET_SLOWDOWN}x")
    shown = "the smoke study's train section" if args.config is None else str(config)
    print(f"each process: trainer train {shown} {shlex.join(command[5:])}")
    print(f"\n    PYTHONPATH=. {shlex.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
