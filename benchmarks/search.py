"""How fast each sampler and pruner finds a good configuration, replayed on recorded learning curves.

Every combination of sampler (random; TPE as the study defaults build it; GP) and pruner (none; median
as the study defaults build it; Hyperband) runs at 1, 4 and 8 asynchronous workers, 20 repetitions each
(sampler seeds 0..19), through `curve_replay.replay_study`: the real Optuna samplers and pruners, built
by `sweep.spec.samplers`' factories, on `benchmarks/data/curves-smoke-cpu.json` (`record_curves.py`).
A study stops when it has found the best configuration, or after `--max-epochs` epochs (1200, 100 trials
without pruning). Combinations run in `--jobs` processes side by side (default 2, one per core here).

Reported per combination: the mean epochs a finished trial trained (pruning's saving), the mean
milliseconds a sampler took to suggest, the median regret (the grid's best val mIoU minus the best found) at a few
budgets of epochs spent, and the median epochs to reach a regret of at most 0.01, counting a repetition
that never reached it as infinite (with how many reached it). Then the verdicts on the defaults (TPE with
median pruning): at most 40% of the epochs random search without pruning needs, at 1 and at 4 workers;
at 8 workers, at most 1.3x their epochs at 1 worker. A FAIL is a finding, not an error: the exit status
is 0 whatever the verdicts.

    PYTHONPATH=. .venv/bin/python benchmarks/search.py
    PYTHONPATH=. .venv/bin/python benchmarks/search.py --smoke --json /tmp/search.json
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import multiprocessing
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import torch
from curve_replay import CURVES, Curves, Replay, load_curves, replay_study

from sweep.spec.samplers import (
    AnySamplerSpec,
    GPSamplerSpec,
    HyperbandPrunerSpec,
    NoPrunerSpec,
    RandomSamplerSpec,
    build_pruner,
    build_sampler,
)
from sweep.spec.settings import StudySettings

TARGET_REGRET = 0.01
DEFAULTS = StudySettings(name="replay")
SAMPLERS: dict[str, AnySamplerSpec] = {"random": RandomSamplerSpec(), "tpe": DEFAULTS.sampler, "gp": GPSamplerSpec()}
PRUNERS = {"none": NoPrunerSpec(), "median": DEFAULTS.pruner, "hyperband": HyperbandPrunerSpec()}
BUDGETS = (60, 120, 240, 480, 960)
MAX_EPOCHS = 1200
"""100 trials without pruning, four times the grid: random search finds a configuration within 0.01 well before."""
GP_REPETITIONS, GP_MAX_TRIALS = 10, 100
"""A GP ask refits on every finished trial, so a study that prunes (hundreds of short trials) slows down
with each one; GP gets fewer repetitions and at most 100 trials a study, which the output states."""
SMOKE_SAMPLERS, SMOKE_PRUNERS, SMOKE_WORKERS, SMOKE_REPETITIONS, SMOKE_MAX_EPOCHS = (
    ["random", "tpe"],
    ["none", "median"],
    [1, 4],
    2,
    480,
)


def _sampler_of_stream(spec: AnySamplerSpec, stream: int) -> optuna.samplers.BaseSampler:
    return build_sampler(spec, stream=stream)


def run_combination(
    curves: Curves, sampler: str, pruner: str, workers: int, seeds: range, max_epochs: int, max_trials: int | None
) -> list[Replay]:
    replays = []
    for seed in seeds:
        spec = SAMPLERS[sampler].model_copy(update={"seed": seed})
        replays.append(
            replay_study(
                curves,
                functools.partial(_sampler_of_stream, spec),
                build_pruner(PRUNERS[pruner]),
                workers=workers,
                max_epochs=max_epochs,
                max_trials=max_trials,
            )
        )
    return replays


def median_epochs_to_target(replays: list[Replay]) -> float:
    """The median epochs to regret <= 0.01, a repetition that never got there counting as infinite."""
    return statistics.median(
        math.inf if (epochs := replay.epochs_to(TARGET_REGRET)) is None else epochs for replay in replays
    )


def median_regret(replays: list[Replay], budget: int) -> float | None:
    regrets = [replay.regret_at(budget) for replay in replays]
    known = [regret for regret in regrets if regret is not None]
    return statistics.median(known) if len(known) == len(regrets) else None


def _epochs(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:g}"


def print_table(results: dict[tuple[str, str, int], list[Replay]], budgets: tuple[int, ...]) -> None:
    budget_columns = " | ".join(f"regret @{budget}" for budget in budgets)
    print(
        f"| sampler | pruner | workers | reps | epochs to regret ≤ {TARGET_REGRET} (reached) | {budget_columns} | epochs/trial | ms/ask |"
    )
    print("|---|---|---|---|---|" + "---|" * len(budgets) + "---|---|")
    for (sampler, pruner, workers), replays in results.items():
        reached = sum(replay.epochs_to(TARGET_REGRET) is not None for replay in replays)
        regrets = " | ".join(
            "—" if (regret := median_regret(replays, budget)) is None else f"{regret:.4f}" for budget in budgets
        )
        asks = [seconds for replay in replays for seconds in replay.ask_seconds]
        told = [trial["epochs"] for replay in replays for trial in replay.trials]
        print(
            f"| {sampler} | {pruner} | {workers} | {len(replays)} | {_epochs(median_epochs_to_target(replays))} "
            f"({reached}/{len(replays)}) | {regrets} | {statistics.mean(told) if told else math.nan:.2f} "
            f"| {1000 * statistics.mean(asks):.1f} |"
        )


def _needed(epochs: float, max_epochs: int) -> str:
    return f"more than {max_epochs} epochs (not reached)" if math.isinf(epochs) else f"{epochs:g} epochs"


def _ratio(ratio: float) -> str:
    return "n/a" if math.isnan(ratio) or math.isinf(ratio) else f"{ratio:.2f}x"


def print_verdicts(results: dict[tuple[str, str, int], list[Replay]], max_epochs: int) -> None:
    """PASS or FAIL per target, with the figures it was judged on.

    A median that never got to the target within `max_epochs` is only known to exceed it: random search
    is then judged at that bound (in its favour), and the defaults fail."""
    print()
    for workers in (1, 4):
        if ("tpe", "median", workers) not in results or ("random", "none", workers) not in results:
            continue
        defaults = median_epochs_to_target(results[("tpe", "median", workers)])
        random = median_epochs_to_target(results[("random", "none", workers)])
        ratio = defaults / (max_epochs if math.isinf(random) else random)
        verdict = "PASS" if ratio <= 0.4 else "FAIL"
        print(
            f"{verdict}: at {workers} worker(s) the defaults (tpe + median) reach regret ≤ {TARGET_REGRET} in "
            f"{_needed(defaults, max_epochs)}, random search without pruning in {_needed(random, max_epochs)}: "
            f"{_ratio(ratio)}{' or less' if math.isinf(random) and not math.isinf(defaults) else ''}, target ≤ 0.40x"
        )
    if ("tpe", "median", 8) in results and ("tpe", "median", 1) in results:
        eight = median_epochs_to_target(results[("tpe", "median", 8)])
        one = median_epochs_to_target(results[("tpe", "median", 1)])
        ratio = math.nan if math.isinf(one) else eight / one
        verdict = "PASS" if ratio <= 1.3 else "FAIL"
        print(
            f"{verdict}: at 8 workers the defaults need {_needed(eight, max_epochs)}, at 1 worker "
            f"{_needed(one, max_epochs)}: {_ratio(ratio)}, target ≤ 1.30x"
        )


def as_json(results: dict[tuple[str, str, int], list[Replay]], seeds: dict[str, range]) -> list[dict[str, Any]]:
    return [
        {
            "sampler": sampler,
            "pruner": pruner,
            "workers": workers,
            "repetitions": [
                {"seed": seed, "points": replay.points, "trials": replay.trials}
                for seed, replay in zip(seeds[sampler], replays, strict=True)
            ],
        }
        for (sampler, pruner, workers), replays in results.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--curves", type=Path, default=CURVES)
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--gp-repetitions", type=int, default=GP_REPETITIONS, help="GP asks take far longer")
    parser.add_argument("--gp-max-trials", type=int, default=GP_MAX_TRIALS, help="a cap on each GP study's trials")
    parser.add_argument("--max-epochs", type=int, default=None, help=f"where a study stops (default {MAX_EPOCHS})")
    parser.add_argument("--samplers", nargs="+", choices=list(SAMPLERS), default=list(SAMPLERS))
    parser.add_argument("--pruners", nargs="+", choices=list(PRUNERS), default=list(PRUNERS))
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument("--smoke", action="store_true", help="random and TPE, none and median, 1 and 4 workers, 2 reps")
    parser.add_argument("--jobs", type=int, default=2, help="processes replaying combinations side by side")
    parser.add_argument("--json", type=Path, default=None, help="write every repetition's points and trials here")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    curves = load_curves(args.curves)
    samplers, pruners, worker_counts = args.samplers, args.pruners, args.workers
    repetitions, gp_repetitions, max_epochs = args.repetitions, args.gp_repetitions, args.max_epochs or MAX_EPOCHS
    if args.smoke:
        samplers, pruners, worker_counts = SMOKE_SAMPLERS, SMOKE_PRUNERS, SMOKE_WORKERS
        repetitions = gp_repetitions = SMOKE_REPETITIONS
        max_epochs = args.max_epochs or SMOKE_MAX_EPOCHS
    seeds = {sampler: range(gp_repetitions if sampler == "gp" else repetitions) for sampler in samplers}
    near_best = sum(curve.best >= curves.best - TARGET_REGRET for curve in curves.curves.values())
    print(
        f"{len(curves.curves)} recorded configurations ({args.curves.name}); best val mIoU {curves.best:.4f}; "
        f"{near_best} within {TARGET_REGRET} of it; a study stops at regret 0 or after {max_epochs} epochs"
    )
    if "gp" in samplers and (gp_repetitions != repetitions or args.gp_max_trials is not None):
        print(f"GP: {gp_repetitions} repetitions, at most {args.gp_max_trials or 'unlimited'} trials a study")
    started = time.perf_counter()
    combinations = [
        (sampler, pruner, workers) for sampler in samplers for pruner in pruners for workers in worker_counts
    ]
    tasks = [
        (curves, sampler, pruner, workers, seeds[sampler], max_epochs, args.gp_max_trials if sampler == "gp" else None)
        for sampler, pruner, workers in combinations
    ]
    # Combinations are independent; each process keeps one thread for GP's torch.
    with multiprocessing.Pool(args.jobs, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        results = dict(zip(combinations, pool.starmap(run_combination, tasks), strict=True))
    print()
    print_table(results, tuple(budget for budget in BUDGETS if budget <= max_epochs))
    print_verdicts(results, max_epochs)
    if args.json is not None:
        args.json.write_text(json.dumps({"best": curves.best, "combinations": as_json(results, seeds)}))
    print(f"\nreplayed in {time.perf_counter() - started:.0f} s")
    print(f"\n    PYTHONPATH=. {shlex.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
