"""The values of a trial's record that hold more than one figure, each with the one format it is stored in.

Each value reads itself from what a trial stores (`of`) and gives what a writer stores (`attr_value`,
or `user_attrs` for one that spans several attrs), so its format lives here alone: `TrialRecord`
(`sweep.trials.record_view`) composes them, `sweep.trials.record_writes` stores them. The formats are
those the sweep has always written, so a study recorded by an older version reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from optuna.trial import FrozenTrial

from sweep.spec.constraints import FIGURES
from sweep.trials.record import EPOCHS_ATTR, GPU_S_ATTR, PLANNED_EPOCHS_ATTR, WALL_S_ATTR


@dataclass(frozen=True)
class WarmStartOrigin:
    """The trial of another study that a warm start copied (`WARM_START_ATTR`): that study's name, its storage
    URL (password masked) and the trial's number there. A part a hand-made record lacks is None."""

    study: str | None
    storage: str | None
    trial: int | None

    @staticmethod
    def of(value: Any) -> WarmStartOrigin:
        """The origin recorded as `value`; any value marks a copy, and the parts it lacks are None."""
        parts: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
        study, storage, trial = (parts.get(key) for key in ("study", "storage", "trial"))
        return WarmStartOrigin(
            None if study is None else str(study),
            None if storage is None else str(storage),
            None if trial is None else int(trial),
        )

    def attr_value(self) -> dict[str, Any]:
        return {"study": self.study, "storage": self.storage, "trial": self.trial}


@dataclass(frozen=True)
class ConfirmOrigin:
    """What a confirmation's retrain trains again (`CONFIRMS_ATTR`): the original trial's number, the
    retrain's index among that trial's retrains, its seed, and the original trial's recorded val mIoU."""

    trial: int
    retrain: int
    seed: int
    original_value: float

    @staticmethod
    def of(value: Any) -> ConfirmOrigin | None:
        if not isinstance(value, Mapping):
            return None
        return ConfirmOrigin(
            int(value["trial"]), int(value["retrain"]), int(value["seed"]), float(value["original_value"])
        )

    def attr_value(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "retrain": self.retrain,
            "seed": self.seed,
            "original_value": self.original_value,
        }


@dataclass(frozen=True)
class WorkerProcess:
    """The process that runs an attempt (`PROCESS_ATTR`): its host, pid and start time (seconds since the
    epoch, as psutil gives it), enough to tell on that host whether it still runs, pid reused or not."""

    host: str
    pid: int
    started: float

    @property
    def worker(self) -> str:
        """`host:pid`, as `sweep status` shows who runs the attempt (`WORKER_ATTR`)."""
        return f"{self.host}:{self.pid}"

    @staticmethod
    def of(value: Any) -> WorkerProcess | None:
        """The process recorded as `value`; None unless it is a `{host, pid, started}` record."""
        if not isinstance(value, Mapping) or not {"host", "pid", "started"} <= value.keys():
            return None
        return WorkerProcess(str(value["host"]), int(value["pid"]), float(value["started"]))

    def attr_value(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "started": self.started}


@dataclass(frozen=True)
class NetworkCost:
    """The measured figures of a trial's network (`NETWORK_COST_ATTR`, one attr written in one call, so a
    worker killed while recording leaves all of it or none), where its latency was measured and, when the
    measurement knew them, the spread of its latency passes and whether the latency may be judged (a
    measurement taken beside competing processes may not: `trainer.latency_noise`)."""

    params_m: float
    gflops: float
    latency_ms: float
    measured_on: str
    latency_spread_ms: float | None = None
    latency_reliable: bool = True

    def figures(self) -> dict[str, float]:
        """The `FIGURES` a study's constraints bound, by name."""
        return {"params_m": self.params_m, "gflops": self.gflops, "latency_ms": self.latency_ms}

    @staticmethod
    def of(value: Any) -> NetworkCost | None:
        """The figures recorded as `value`; None unless it holds every figure and `measured_on`. A record
        without the spread (written before it was kept) reads as reliable."""
        if not isinstance(value, Mapping) or not {*FIGURES, "measured_on"} <= value.keys():
            return None
        figures = (float(value["params_m"]), float(value["gflops"]), float(value["latency_ms"]))
        spread = value.get("latency_spread_ms")
        return NetworkCost(
            *figures,
            str(value["measured_on"]),
            latency_spread_ms=None if spread is None else float(spread),
            latency_reliable=bool(value.get("latency_reliable", True)),
        )

    def attr_value(self) -> dict[str, Any]:
        value: dict[str, Any] = {**self.figures(), "measured_on": self.measured_on}
        if self.latency_spread_ms is not None:
            value |= {"latency_spread_ms": self.latency_spread_ms, "latency_reliable": self.latency_reliable}
        return value


@dataclass(frozen=True)
class AttemptCompute:
    """What one attempt trained (`epochs` of its `planned_epochs`) and spent: wall seconds, and GPU-seconds
    (GPUs times wall seconds); four per-attempt attrs (`sweep.trials.compute`)."""

    epochs: int
    wall_s: float
    gpu_s: float
    planned_epochs: int

    def user_attrs(self) -> dict[str, Any]:
        return {
            EPOCHS_ATTR: self.epochs,
            WALL_S_ATTR: self.wall_s,
            GPU_S_ATTR: self.gpu_s,
            PLANNED_EPOCHS_ATTR: self.planned_epochs,
        }

    @staticmethod
    def of(trial: FrozenTrial) -> AttemptCompute | None:
        """The figures stored on `trial`; None when it recorded none, or not all four (its worker was killed
        between two of the writes)."""
        attrs = trial.user_attrs
        if not {EPOCHS_ATTR, WALL_S_ATTR, GPU_S_ATTR, PLANNED_EPOCHS_ATTR} <= attrs.keys():
            return None
        return AttemptCompute(
            int(attrs[EPOCHS_ATTR]),
            float(attrs[WALL_S_ATTR]),
            float(attrs[GPU_S_ATTR]),
            int(attrs[PLANNED_EPOCHS_ATTR]),
        )
