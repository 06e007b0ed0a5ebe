"""What median pruning saves on a fixed study, and what it costs in best val mIoU.

One generated study (`benchmarks/studies/pruning.yaml`: the smoke study's MobileNetV3 DeepLabV3+ and
generated data, more trials) runs twice through `sweep.run.study.run_study`, each arm in its own scratch
folder: once with no pruning (Optuna's NopPruner) and once with the median pruner. Both arms use
Optuna's RandomSampler with the same seed, which never looks at results, so trial i gets the same params
in both arms whatever was pruned (checked below), and the trainer's seed is fixed, so a trial's learning
curve is the same in both arms up to where pruning stops it (also checked: the largest difference between
the two arms' val mIoU at the same trial and epoch).

Reported: epochs trained in each arm and the saving; best val mIoU of each arm and the difference; wall
time of each arm. Also a replay of the no-pruning arm's learning curves through MedianPruner for a few
settings (no training: what each setting would have pruned), which is how the defaults were chosen.

    PYTHONPATH=. .venv/bin/python benchmarks/pruning.py
    PYTHONPATH=. .venv/bin/python benchmarks/pruning.py --smoke
"""

from __future__ import annotations

import argparse
import io
import shlex
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console
from study_files import TINY_DATA_CHANGES, provision_data, write_isolated_study

from sweep.run.progress import SweepProgress
from sweep.run.study import run_study

STUDY = Path(__file__).resolve().parent / "studies" / "pruning.yaml"
SMOKE_CHANGES: dict[str, Any] = {"study.n_trials": 3, "train.epochs": 2, **TINY_DATA_CHANGES}
REPLAYED = [(startup, warmup) for startup in (1, 2, 3) for warmup in (0, 1, 2)]
"""(n_startup_trials, n_warmup_steps) settings replayed on the no-pruning arm's curves."""


def run_arm(source: Path, changes: Mapping[str, Any]) -> tuple[optuna.Study, float, str]:
    """Run the study with `changes` in a fresh scratch folder; returns it, the `run_study` wall time and
    its pruner settings."""
    with tempfile.TemporaryDirectory(prefix="sweep-pruning-") as scratch:
        spec = write_isolated_study(source, Path(scratch), changes)
        provision_data(spec)
        started = time.perf_counter()
        run_study(spec, SweepProgress(Console(file=io.StringIO())))
        wall = time.perf_counter() - started
        study = optuna.load_study(study_name=spec.study.name, storage=spec.storage_url)
        return study, wall, ", ".join(f"{key}={value}" for key, value in spec.study.pruner.model_dump().items())


def epochs_trained(study: optuna.Study) -> int:
    return sum(len(trial.intermediate_values) for trial in study.trials)


def best_value(study: optuna.Study) -> float:
    return max(max(trial.intermediate_values.values()) for trial in study.trials if trial.intermediate_values)


def curve_difference(first: optuna.Study, second: optuna.Study) -> float:
    """The largest |difference| of val mIoU at the same trial and epoch, over the epochs both arms trained."""
    differences = [
        abs(value - other.intermediate_values[epoch])
        for trial, other in zip(first.trials, second.trials, strict=True)
        for epoch, value in trial.intermediate_values.items()
        if epoch in other.intermediate_values
    ]
    return max(differences, default=0.0)


def replay(curves: list[dict[int, float]], startup: int, warmup: int) -> tuple[int, float]:
    """Epochs trained and best val mIoU had MedianPruner(startup, warmup) judged these curves, in order."""
    pruner = optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    epochs, best = 0, float("-inf")
    for curve in curves:
        trial = study.ask()
        state = TrialState.COMPLETE
        for epoch, value in sorted(curve.items()):
            trial.report(value, epoch)
            epochs += 1
            best = max(best, value)
            if trial.should_prune():
                state = TrialState.PRUNED
                break
        study.tell(trial, max(curve.values()) if state == TrialState.COMPLETE else None, state=state)
    return epochs, best


def print_report(full: optuna.Study, full_wall: float, pruned: optuna.Study, pruned_wall: float, pruner: str) -> None:
    same_params = [trial.params for trial in full.trials] == [trial.params for trial in pruned.trials]
    full_epochs, pruned_epochs = epochs_trained(full), epochs_trained(pruned)
    full_best, pruned_best = best_value(full), best_value(pruned)
    n_pruned = sum(trial.state == TrialState.PRUNED for trial in pruned.trials)
    print(f"{len(full.trials)} trials in each arm; same params in both arms: {same_params}; largest val mIoU")
    print(f"difference at the same trial and epoch: {curve_difference(full, pruned):.2e}; pruner: {pruner}\n")
    print("| arm | trials pruned | epochs trained | best val mIoU | wall s |")
    print("|---|---|---|---|---|")
    print(f"| no pruning | 0 | {full_epochs} | {full_best:.4f} | {full_wall:.1f} |")
    print(f"| median pruning | {n_pruned} | {pruned_epochs} | {pruned_best:.4f} | {pruned_wall:.1f} |")
    saving = 1 - pruned_epochs / full_epochs
    print(
        f"| **median vs none** | | **{100 * saving:.1f}% fewer** | **{pruned_best - full_best:+.4f}** | {100 * (1 - pruned_wall / full_wall):.1f}% less |"
    )

    curves = [dict(trial.intermediate_values) for trial in full.trials]
    print("\nReplay of the no-pruning arm's curves through MedianPruner (no training):\n")
    print("| n_startup_trials | n_warmup_steps | epochs trained | saving | best val mIoU | difference |")
    print("|---|---|---|---|---|---|")
    for startup, warmup in REPLAYED:
        epochs, best = replay(curves, startup, warmup)
        print(
            f"| {startup} | {warmup} | {epochs} | {100 * (1 - epochs / full_epochs):.1f}% | {best:.4f} | {best - full_best:+.4f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", type=Path, default=STUDY)
    parser.add_argument("--smoke", action="store_true", help="a tiny study for CI (3 trials, 2 epochs, 32 px)")
    parser.add_argument("--n-startup-trials", type=int, default=None, help="median pruner (default: the study's)")
    parser.add_argument("--n-warmup-steps", type=int, default=None, help="median pruner (default: the study's)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    base = SMOKE_CHANGES if args.smoke else {}
    tuned = {
        f"study.pruner.{key}": value
        for key, value in (("n_startup_trials", args.n_startup_trials), ("n_warmup_steps", args.n_warmup_steps))
        if value is not None
    }
    full, full_wall, _ = run_arm(args.study, {**base, "study.pruner": {"type": "none"}})
    pruned, pruned_wall, pruner = run_arm(args.study, {**base, **tuned})
    print_report(full, full_wall, pruned, pruned_wall, pruner)
    print(f"\n    PYTHONPATH=. {shlex.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
