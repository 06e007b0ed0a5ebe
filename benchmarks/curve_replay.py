"""Replay one Optuna study against recorded learning curves, with asynchronous workers on a simulated clock.

The curves are `benchmarks/record_curves.py`'s file: a grid of training configurations, each with its
val mIoU and seconds per epoch. The replayed study searches that grid: each categorical key is a
categorical parameter, each numeric key an integer parameter over the grid's indices (the values are
ordered and, for the learning rate, log-spaced, so the index is the scale a sampler should model). A
suggestion is therefore always a recorded configuration, and training it means reading its curve.

Workers run as a discrete-event simulation: a worker asks for a trial when it is free, then each epoch
of that trial ends `seconds[epoch]` later on the simulated clock, where `trial.report` and
`trial.should_prune` run as in a sweep trial, and the next ask comes when the trial is told. Trials of
other workers are running meanwhile, so a sampler sees them as it would in `sweep run --workers N`; like
`sweep run`, each worker has its own sampler, built with its index as the stream.
"""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

CURVES = Path(__file__).resolve().parent / "data" / "curves-smoke-cpu.json"


@dataclass(frozen=True)
class Curve:
    """One recorded configuration: val mIoU and seconds per epoch; `diverged` when its loss blew up after them."""

    params: dict[str, Any]
    miou: tuple[float, ...]
    seconds: tuple[float, ...]
    diverged: bool

    @property
    def best(self) -> float:
        """The trial's objective, as a sweep records it: its best val mIoU (0 when no epoch ran)."""
        return max(self.miou, default=0.0)


@dataclass(frozen=True)
class Curves:
    """The recorded grid: its keys and values, and the curve of every configuration."""

    grid: dict[str, list[Any]]
    curves: dict[str, Curve]

    @property
    def best(self) -> float:
        return max(curve.best for curve in self.curves.values())

    def lookup(self, params: Mapping[str, Any]) -> Curve:
        return self.curves[config_key(params)]


def config_key(params: Mapping[str, Any]) -> str:
    """A configuration's identity in a curves file (`record_curves.py` writes it): its params as sorted JSON."""
    return json.dumps(dict(params), sort_keys=True)


def load_curves(path: Path = CURVES) -> Curves:
    """Read a recording; every configuration of its grid must be in it (a partial recording is refused)."""
    recording = json.loads(path.read_text())
    curves = {
        config_key(entry["params"]): Curve(
            entry["params"], tuple(entry["miou"]), tuple(entry["seconds"]), entry["diverged"]
        )
        for entry in recording["configurations"]
    }
    expected = 1
    for values in recording["grid"].values():
        expected *= len(values)
    if len(curves) != expected:
        raise SystemExit(f"{path} has {len(curves)} of the grid's {expected} configurations; finish the recording")
    return Curves(grid=recording["grid"], curves=curves)


def suggest_configuration(trial: optuna.Trial, grid: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """A grid point: numeric keys through their index (`suggest_int`), the others as categoricals."""
    params: dict[str, Any] = {}
    for key, values in grid.items():
        if all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in values):
            params[key] = values[trial.suggest_int(key, 0, len(values) - 1)]
        else:
            params[key] = trial.suggest_categorical(key, list(values))
    return params


@dataclass
class Replay:
    """What one replayed study spent and found: after each epoch, the epochs spent so far and the regret
    (the grid's best val mIoU minus the best val mIoU any trial had reported), and the seconds spent asking."""

    points: list[tuple[int, float]] = field(default_factory=list)
    trials: list[dict[str, Any]] = field(default_factory=list)
    ask_seconds: list[float] = field(default_factory=list)

    def regret_at(self, epochs: int) -> float | None:
        """The regret once `epochs` epochs were spent: that of the last point at or before it. None when the
        study stopped short of `epochs` (a trial cap) without having found the best configuration."""
        if not self.points or epochs < self.points[0][0]:
            return None
        if epochs > self.points[-1][0] and self.points[-1][1] > 0:
            return None
        return next(value for spent, value in reversed(self.points) if spent <= epochs)

    def epochs_to(self, regret: float) -> int | None:
        """The epochs spent when the regret first fell to `regret` or below; None if it never did."""
        return next((spent for spent, value in self.points if value <= regret + 1e-12), None)


@dataclass
class _Running:
    trial: optuna.Trial
    curve: Curve
    worker: int
    epoch: int = 0


def replay_study(
    curves: Curves,
    sampler_for_worker: Callable[[int], optuna.samplers.BaseSampler],
    pruner: optuna.pruners.BasePruner,
    *,
    workers: int,
    max_epochs: int,
    max_trials: int | None = None,
) -> Replay:
    """Replay one study until the best configuration was found (regret 0), `max_epochs` were spent or
    `max_trials` were asked, whichever comes first."""
    study = optuna.create_study(direction="maximize", pruner=pruner)
    samplers = [sampler_for_worker(worker) for worker in range(workers)]
    replay = Replay()
    best_value, best_found = curves.best, float("-inf")
    events: list[tuple[float, int, _Running]] = []
    order = 0

    def start(worker: int, now: float) -> None:
        if max_trials is not None and len(study.trials) >= max_trials:
            return
        study.sampler = samplers[worker]
        asked = time.perf_counter()
        trial = study.ask()
        params = suggest_configuration(trial, curves.grid)
        replay.ask_seconds.append(time.perf_counter() - asked)
        running = _Running(trial, curves.lookup(params), worker)
        schedule(running, now)

    def schedule(running: _Running, now: float) -> None:
        nonlocal order
        if running.epoch < len(running.curve.miou):
            heapq.heappush(events, (now + running.curve.seconds[running.epoch], order, running))
            order += 1
        else:  # a configuration that diverged before its first report
            finish(running, TrialState.FAIL, now)

    def finish(running: _Running, state: TrialState, now: float) -> None:
        value = running.curve.best if state == TrialState.COMPLETE else None
        study.tell(running.trial, value, state=state)
        replay.trials.append({"params": running.curve.params, "epochs": running.epoch, "state": state.name})
        start(running.worker, now)

    for worker in range(workers):
        start(worker, 0.0)
    while events:
        now, _, running = heapq.heappop(events)
        value = running.curve.miou[running.epoch]
        running.epoch += 1
        running.trial.report(value, running.epoch)
        best_found = max(best_found, value)
        spent = (replay.points[-1][0] if replay.points else 0) + 1
        replay.points.append((spent, best_value - best_found))
        if best_found >= best_value or spent >= max_epochs:
            break
        if running.trial.should_prune():
            finish(running, TrialState.PRUNED, now)
        elif running.epoch == len(running.curve.miou):
            finish(running, TrialState.FAIL if running.curve.diverged else TrialState.COMPLETE, now)
        else:
            schedule(running, now)
    return replay
