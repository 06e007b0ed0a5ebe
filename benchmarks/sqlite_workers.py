"""Parallel workers on one SQLite Optuna storage (and one SQLite MLflow store): do they ever hit a lock?

Each of ``--processes`` processes, started at the same moment, runs ``--trials`` trials through
``study.optimize`` (heartbeat thread on) whose objective does what a sweep worker does per epoch, minus
the training: ``trial.report`` + ``should_prune``, a user attr and one MLflow ``log_batch``, ``--steps``
times. ``--queued`` trials are queued up front (``enqueue_trial``) as a heartbeat retry would be; each must be
run by exactly one worker (a second worker that pops it too fails to tell it). The tables exist before the workers start, as ``sweep run --workers`` arranges.

Compared: Optuna's plain ``RDBStorage(url)`` (rollback journal, 5 s busy timeout, deferred transactions)
against ``sweep.storage.rdb.build_storage`` (WAL, long busy timeout, ``BEGIN IMMEDIATE``). Counted: errors
that say "database is locked", other storage errors, queued trials run more than once, and duplicate
trial numbers.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/sqlite_workers.py --processes 4 --trials 40 --steps 5
"""

from __future__ import annotations

import argparse
import multiprocessing
import shlex
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
from mlflow.tracking import MlflowClient

from sweep.storage.rdb import build_storage


def open_storage(mode: str, url: str) -> Any:
    if mode == "plain":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=180)
    return build_storage(url)


def worker(
    mode: str, url: str, tracking: str, trials: int, steps: int, mlflow: bool, start_at: float, out: Any
) -> None:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    errors: Counter[str] = Counter()
    time.sleep(max(0.0, start_at - time.time()))
    try:
        study = optuna.load_study(study_name="bench", storage=open_storage(mode, url))
        client = MlflowClient(tracking)
        found = client.get_experiment_by_name("bench")
        assert found is not None
        experiment = found.experiment_id

        def objective(trial: optuna.Trial) -> float:
            x = trial.suggest_float("x", 0.0, 1.0)
            run = client.create_run(experiment).info.run_id if mlflow else None
            for step in range(steps):
                trial.report(x * step, step)
                trial.should_prune()
                trial.set_user_attr(f"step{step}", step)
                if run is not None:
                    client.log_batch(run, metrics=[optuna_metric(x, step)])
            if run is not None:
                client.set_terminated(run)
            return x

        for _ in range(trials):
            try:
                study.optimize(objective, n_trials=1)
            except Exception as error:  # count, and keep going: the point is to see how often it happens
                errors[_kind(error)] += 1
    except Exception as error:
        errors[_kind(error)] += 1
    out.put(dict(errors))


def _kind(error: Exception) -> str:
    return "database is locked" if "database is locked" in str(error) else f"{type(error).__name__}: {error}"[:80]


def optuna_metric(x: float, step: int) -> Any:
    from mlflow.entities import Metric

    return Metric("value", x * step, int(time.time() * 1000), step)


def measure(mode: str, processes: int, trials: int, steps: int, mlflow: bool, queued: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"sqlite-{mode}-"))
    url, tracking = f"sqlite:///{folder}/optuna.db", f"sqlite:///{folder}/mlflow.db"
    study = optuna.create_study(study_name="bench", storage=open_storage(mode, url))
    for index in range(queued):
        study.enqueue_trial({"x": index / queued})
    MlflowClient(tracking).create_experiment("bench")
    queue: Any = multiprocessing.get_context("spawn").Queue()
    start_at = time.time() + 5.0
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=worker, args=(mode, url, tracking, trials, steps, mlflow, start_at, queue))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    results = [queue.get() for _ in children]
    for child in children:
        child.join()
    wall = time.time() - start_at
    errors: Counter[str] = Counter()
    for result in results:
        errors.update(result)
    done = optuna.load_study(study_name="bench", storage=url).trials
    return {
        "mode": mode,
        "trials": len(done),
        "locked": errors.pop("database is locked", 0),
        "other errors": sum(errors.values()),
        # Every optimize call should get a trial of its own; two calls that popped one queued trial share it.
        "queued run twice": processes * trials - len(done),
        "duplicate numbers": len(done) - len({t.number for t in done}),
        "wall s": round(wall, 1),
        "detail": dict(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--trials", type=int, default=40, help="trials per process")
    parser.add_argument("--steps", type=int, default=5, help="reports (epochs) per trial")
    parser.add_argument("--queued", type=int, default=32, help="trials queued up front, as heartbeat retries are")
    parser.add_argument("--modes", default="plain,sweep")
    parser.add_argument("--no-mlflow", action="store_true", help="only the Optuna storage (more pressure on it)")
    args = parser.parse_args()
    rows = [
        measure(mode, args.processes, args.trials, args.steps, not args.no_mlflow, args.queued)
        for mode in args.modes.split(",")
    ]
    columns = ["mode", "trials", "locked", "other errors", "queued run twice", "duplicate numbers", "wall s"]
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row[column]) for column in columns), row["detail"] or "")
    print("command:", shlex.join([sys.executable, *sys.argv]))


if __name__ == "__main__":
    main()
