"""What `benchmarks/gpu_sweep.sh` measured: each arm's study read back from Optuna and MLflow, side by side.

    python benchmarks/gpu_sweep_report.py --arm 2 A/gpu_sweep.yaml --arm 1 B/gpu_sweep.yaml [--json PATH]

`--arm K STUDY.yaml`: the study file of the arm that ran K trials on the GPU at once. For each arm, from
Optuna: its trials complete, pruned and failed (its own: no warm-start copies, no surplus), the most that
ran at once, and the wall time from the first trial's start to the last one's end; the training images
each trial went through (`len(train split) // batch_size * batch_size` an epoch, as the loader drops the
last partial batch, times the epochs of `attempt_epochs`) over its `attempt_wall_s`, and over the wall
time; from MLflow: the mean and max GPU utilisation and the max GPU memory over every sample of the
system metrics on the arm's trial runs. Then the speed-up of each arm over the one with fewest trials per
GPU (`gpu_sweep_figures.py` defines every figure). A figure the stores cannot give is printed as missing,
with the reason, and is null in the JSON.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

import optuna
from gpu_sweep_figures import (
    FIGURES,
    GPU_MEMORY,
    GPU_UTILISATION,
    ArmFigures,
    ArmRecord,
    Speedup,
    TrialRecord,
    arm_figures,
    speedups,
)
from optuna.trial import FrozenTrial

from sweep.spec.study_file import StudySpec, load_study_spec
from sweep.tracking import TrackingStore
from sweep.trials.record_view import TrialRecord as SweepTrialRecord
from trainer.data.voc import read_split_ids

COLUMNS = (
    "arm",
    "trials complete / pruned / failed",
    "most at once",
    "wall s",
    "train images",
    "img/s per trial",
    "img/s of the GPU",
    "trials/h",
    "GPU util mean / max %",
    "GPU memory max MB",
)


def read_arm(workers_per_gpu: int, study_file: Path) -> ArmRecord:
    """The arm's trials from its Optuna storage and its GPU samples from its MLflow store."""
    spec = load_study_spec(study_file)
    study = optuna.load_study(study_name=spec.study.name, storage=spec.storage_url)
    store = TrackingStore(spec.tracking_uri)
    records = {trial.number: SweepTrialRecord.of(trial) for trial in study.get_trials(deepcopy=False)}
    trials = [
        trial
        for trial in study.get_trials(deepcopy=False)
        if records[trial.number].surplus is None and not records[trial.number].is_copied
    ]
    run_ids = [run_id for trial in trials if (run_id := records[trial.number].mlflow_run_id) is not None]

    def samples(metric: str) -> tuple[float, ...]:
        return tuple(value for run_id in run_ids for _, value in store.metric_history(run_id, metric))

    return ArmRecord(
        workers_per_gpu=workers_per_gpu,
        study=spec.study.name,
        trials=tuple(_trial_record(spec, trial) for trial in trials),
        gpu_utilisation=samples(GPU_UTILISATION),
        gpu_memory_mb=samples(GPU_MEMORY),
    )


def _trial_record(spec: StudySpec, trial: FrozenTrial) -> TrialRecord:
    compute = SweepTrialRecord.of(trial).attempt.compute
    images = 0
    if compute is not None:
        data = spec.trial_config(trial.params, checkpoint_dir=spec.artifacts_dir).data
        batches = len(read_split_ids(data.root, data.train_split)) // data.batch_size
        images = batches * data.batch_size * compute.epochs
    return TrialRecord(
        state=trial.state.name,
        start=trial.datetime_start,
        end=trial.datetime_complete,
        images=images,
        seconds=None if compute is None else compute.wall_s,
    )


def table(arms: list[ArmFigures], gains: list[Speedup]) -> str:
    """The arms as a Markdown table, then the speed-ups and what is missing, one line each."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for arm in arms:
        value = arm.figures
        cells = [
            f"{arm.workers_per_gpu} per GPU (`{arm.study}`)",
            f"{arm.complete} / {arm.pruned} / {arm.failed}",
            str(arm.most_at_once),
            _number(value["wall_s"]),
            str(arm.train_images),
            _number(value["trial_img_s"]),
            _number(value["gpu_img_s"]),
            _number(value["trials_per_hour"]),
            f"{_number(value['gpu_utilisation_mean'])} / {_number(value['gpu_utilisation_max'])}",
            _number(value["gpu_memory_max_mb"], digits=0),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for gain in gains:
        lines.append(
            f"speed-up of {gain.arm} per GPU over {gain.baseline}: {_ratio(gain.gpu_img_s)} img/s of the GPU, "
            f"{_ratio(gain.trials_per_hour)} trials/h"
        )
        lines += [f"  missing: {reason}" for reason in gain.missing.values()]
    for arm in arms:
        for reason in dict.fromkeys(arm.missing.values()):  # each reason once, in order
            names = ", ".join(name for name in FIGURES if arm.missing.get(name) == reason)
            lines.append(f"missing for {arm.workers_per_gpu} per GPU: {names}: {reason}")
    return "\n".join(lines)


def _number(value: float | None, digits: int = 1) -> str:
    return "missing" if value is None else f"{value:.{digits}f}"


def _ratio(value: float | None) -> str:
    return "missing" if value is None else f"{value:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--arm",
        nargs=2,
        action="append",
        required=True,
        metavar=("K", "STUDY.yaml"),
        help="An arm: K trials on the GPU at once, and its study file (repeat for each arm).",
    )
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here as one JSON object.")
    args = parser.parse_args()
    try:
        arms = [(int(workers), Path(path)) for workers, path in args.arm]
    except ValueError:
        parser.error(f"--arm takes a number of trials per GPU and a study file, got {args.arm}")
    figures = [arm_figures(read_arm(workers, path)) for workers, path in arms]
    gains = speedups(figures)
    print(table(figures, gains))
    print("\ncommand: " + shlex.join(["python", *sys.argv]))
    if args.json is not None:
        report = {"arms": [asdict(arm) for arm in figures], "speedups": [asdict(gain) for gain in gains]}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"figures as JSON: {args.json}")


if __name__ == "__main__":
    main()
