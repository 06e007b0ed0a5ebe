"""How much of a study's wall time the sweep layer adds around `trainer.train`.

Runs a study file (default `studies/smoke.yaml`) in a scratch folder (its own Optuna SQLite storage, MLflow
SQLite store and checkpoints; see `study_files.py`) through `sweep.run.study.run_study`, in this process, the
way `sweep run --quiet` does. The generated data is made before the clock starts.

Definitions:
- wall time: the `run_study` call, from its start (before the study is created) to its return (plots
  logged, parent run closed); the process's start-up and imports are measured apart, in a fresh
  interpreter that imports what `sweep run` imports;
- training: the time inside `trainer.train`, less the time it spends in the sweep's callbacks (the
  per-epoch `report`: MLflow metrics, Optuna report and pruning, progress lines; and the per-step
  progress listener);
- overhead: wall time less training, broken down by wrapping the sweep's functions (`phase_clock.py`).
  Indented rows are parts of the row above them.

`--profile` also runs cProfile over the sweep's own work only (off while training runs) and prints the
functions with the most cumulative time; the profiler inflates the overhead, so take the table's figures
from a run without it. `--smoke` is a tiny study for CI (2 trials of 2 epochs on 32 px images).

    PYTHONPATH=. .venv/bin/python benchmarks/sweep_overhead.py
    PYTHONPATH=. .venv/bin/python benchmarks/sweep_overhead.py --profile
    PYTHONPATH=. .venv/bin/python benchmarks/sweep_overhead.py --smoke
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import mlflow
import optuna
from phase_clock import PhaseClock
from rich.console import Console
from study_files import REPO, TINY_DATA_CHANGES, provision_data, write_isolated_study

import sweep.run.artifacts
import sweep.run.objective
import sweep.run.study
from sweep.run.progress import SweepProgress
from sweep.spec.study_file import StudySpec
from sweep.tracking import StudyTracker, TrialRun
from sweep.trials.budget import TrialBudget
from sweep.trials.disk import CheckpointCleaner

SMOKE_CHANGES: dict[str, Any] = {"study.n_trials": 2, "train.epochs": 2, **TINY_DATA_CHANGES}
REPORT = "per-epoch report (inside training)"
LISTENER = "progress listener, per step (inside training)"
PHASES: list[tuple[int, str, list[tuple[Any, str]]]] = [
    (0, "study setup (`prepare_study`)", [(sweep.run.study, "prepare_study")]),
    (1, "service preflight", [(sweep.run.study, "check_services")]),
    (1, "data check (every listed file)", [(sweep.run.study, "check_data_present")]),
    (1, "Optuna storage + study", [(sweep.run.study, "open_study")]),
    (1, "MLflow client + experiment", [(StudyTracker, "__init__")]),
    (1, "MLflow parent run", [(StudyTracker, "open_parent")]),
    (1, "data tags (split checksums)", [(sweep.run.study, "dataset_tags")]),
    (0, "Optuna: fail stale trials, per trial", [(optuna.storages, "fail_stale_trials")]),
    (0, "Optuna: ask (new trial)", [(optuna.study.Study, "ask")]),
    (
        0,
        "trial bookkeeping (budget, stream, worker)",
        [(TrialBudget, "claim"), (sweep.run.objective, "record_stream"), (sweep.run.objective, "record_worker")],
    ),
    (0, "sampling (`suggest`)", [(sweep.run.objective, "suggest")]),
    (
        0,
        "checkpoint folder + trial config",
        [(sweep.run.objective, "trial_checkpoint_dir"), (StudySpec, "trial_config")],
    ),
    (0, "MLflow trial run + config params", [(StudyTracker, "start_trial")]),
    (0, "network cost (params, GFLOPs, latency)", [(sweep.run.objective, "measure_model_cost")]),
    (0, REPORT, []),
    (1, "MLflow epoch metrics", [(TrialRun, "log_epoch")]),
    (1, "Optuna report + should_prune", [(optuna.Trial, "report"), (optuna.Trial, "should_prune")]),
    (1, "progress line", [(SweepProgress, "epoch_end")]),
    (0, LISTENER, []),
    (0, "trial artifacts (`log_trial_artifacts`)", [(sweep.run.objective, "log_trial_artifacts")]),
    (1, "uploads (best.pt, CSV, overlays)", [(TrialRun, "log_artifact")]),
    (1, "overlays (load model, predict)", [(sweep.run.artifacts, "write_overlays")]),
    (0, "MLflow backfill check", [(TrialRun, "backfill")]),
    (
        0,
        "MLflow trial end",
        [(TrialRun, "finish"), (TrialRun, "prune"), (TrialRun, "stop_infeasible"), (TrialRun, "fail")],
    ),
    (0, "progress: trial start/end", [(SweepProgress, "trial_start"), (SweepProgress, "trial_end")]),
    (0, "Optuna: tell (store the result)", [(optuna.study._optimize, "_tell_with_warning")]),
    (
        0,
        "after-trial callbacks",
        [(TrialBudget, "after_trial"), (CheckpointCleaner, "__call__"), (StudyTracker, "log_parent_best")],
    ),
    (0, "study end (`finish_study`)", [(sweep.run.study, "finish_study")]),
    (1, "plots", [(sweep.run.study, "write_plots")]),
    (1, "trials.csv", [(sweep.run.study, "write_trials_csv")]),
    (1, "plot + CSV upload", [(StudyTracker, "log_parent_artifacts")]),
    (1, "reconcile trial runs", [(StudyTracker, "reconcile_trial_runs")]),
]


def startup_seconds(repeats: int) -> tuple[float, float]:
    """(bare interpreter, interpreter + what `sweep run` imports) in fresh processes, best of `repeats` each."""

    def best(code: str) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
            times.append(time.perf_counter() - started)
        return min(times)

    return best("pass"), best("import sweep.cli.run, sweep.run.study, sweep.run.progress, trainer.interrupt")


def create_stores(spec: StudySpec) -> None:
    """Create (and migrate) the study's Optuna storage and MLflow store, as an earlier study would have."""
    assert spec.study.storage is not None and spec.tracking.uri is not None  # write_isolated_study sets both
    optuna.storages.RDBStorage(spec.study.storage)
    mlflow.MlflowClient(tracking_uri=spec.tracking.uri).search_experiments()


def run_timed(spec: StudySpec, clock: PhaseClock) -> tuple[float, optuna.Study]:
    for _, label, targets in PHASES:
        for owner, name in targets:
            clock.wrap(owner, name, label)
    clock.wrap_training(sweep.run.objective, "train", report_label=REPORT, listener_label=LISTENER)
    progress = SweepProgress(Console(file=io.StringIO(), highlight=False))  # `sweep run --quiet`, kept off screen
    try:
        started = time.perf_counter()
        outcome = sweep.run.study.run_study(spec, progress)
        return time.perf_counter() - started, outcome.study
    finally:
        clock.restore()


def print_report(
    wall: float, clock: PhaseClock, study: optuna.Study, startup: tuple[float, float], data: float
) -> None:
    def share(seconds: float) -> str:
        return f"{100 * seconds / wall:.2f}%"

    overhead = wall - clock.training_seconds
    epochs = sum(len(trial.intermediate_values) for trial in study.trials)
    states = [trial.state.name for trial in study.trials]
    print(
        f"{len(states)} trials ({states.count('COMPLETE')} complete, {states.count('PRUNED')} pruned), "
        f"{epochs} epochs; data generation before timing: {data:.1f} s\n"
    )
    print("| phase | calls | seconds | share of wall |")
    print("|---|---|---|---|")
    print(f"| **wall time (`run_study`)** | 1 | {wall:.2f} | 100% |")
    print(
        f"| training (inside `trainer.train`) | {clock.calls['trainer.train']} | {clock.training_seconds:.2f} | {share(clock.training_seconds)} |"
    )
    print(f"| **overhead (outside training)** | | **{overhead:.2f}** | **{share(overhead)}** |")
    callbacks = clock.seconds[REPORT] + clock.seconds[LISTENER]
    for level, label, _ in PHASES:
        indent = "&nbsp;&nbsp;" * (level + 1) + ("↳ " if level else "")
        print(
            f"| {indent}{label} | {clock.calls[label]} | {clock.seconds[label]:.3f} | {share(clock.seconds[label])} |"
        )
    unattributed = overhead - clock.attributed_seconds - callbacks
    print(
        f"| &nbsp;&nbsp;other (Optuna's loop, heartbeat thread start, trial lookups) | | {unattributed:.3f} | {share(unattributed)} |"
    )
    bare, imported = startup
    print(
        f"\nprocess start-up, not in the wall time: interpreter {bare:.2f} s, + `sweep run`'s imports {imported - bare:.2f} s"
    )


def print_profile(profiler: cProfile.Profile, top: int) -> None:
    print(f"\ncProfile of the sweep's own work (training excluded), top {top} by cumulative time:\n```")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(top)
    print("```")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", type=Path, default=REPO / "studies" / "smoke.yaml")
    parser.add_argument("--smoke", action="store_true", help="a tiny study for CI (2 trials, 2 epochs, 32 px)")
    parser.add_argument("--profile", action="store_true", help="cProfile the sweep's own work (inflates it)")
    parser.add_argument("--top", type=int, default=30, help="profile rows to print")
    parser.add_argument(
        "--existing-stores",
        action="store_true",
        help="create the Optuna and MLflow databases before the clock starts, as on any run after the first "
        "(the default tracking store runs/mlflow.db is shared by every study)",
    )
    args = parser.parse_args()

    startup = startup_seconds(1 if args.smoke else 3)
    with tempfile.TemporaryDirectory(prefix="sweep-overhead-") as scratch:
        spec = write_isolated_study(args.study, Path(scratch), SMOKE_CHANGES if args.smoke else {})
        data = provision_data(spec)
        if args.existing_stores:
            create_stores(spec)
        profiler = cProfile.Profile() if args.profile else None
        clock = PhaseClock(profiler)
        if profiler is not None:
            profiler.enable()
        wall, study = run_timed(spec, clock)
        if profiler is not None:
            profiler.disable()
        print_report(wall, clock, study, startup, data)
        if profiler is not None:
            print_profile(profiler, args.top)
    print(f"\n    PYTHONPATH=. {shlex.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
