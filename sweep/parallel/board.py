"""The parent's one view of `sweep run --workers`: each worker's trial, epoch and mIoU, and the study's ETA.

On a terminal it is a live table redrawn from the workers' events; with `--quiet` or when stderr is not a
terminal it prints plain lines, each prefixed with its worker (`[w1]`). Lines that workers print
themselves (warnings, errors) are relayed the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sweep.run.eta import StudyEta
from sweep.run.progress import RESULT_STATES


@dataclass
class WorkerState:
    """What the board knows of one worker."""

    index: int
    gpu: str | None
    pid: int | None = None
    trial: int | None = None
    epoch: str = "-"
    iterations: str = ""
    loss: float = math.nan
    miou: float = math.nan
    status: str = "starting"
    ran: int | None = None
    trials_ended: int = 0


class WorkerBoard:
    """Collects the workers' events and draws them; `ran` sums what each worker reports it ran."""

    def __init__(self, console: Console, workers: list[WorkerState], *, live: bool) -> None:
        self.console = console
        self.workers = {worker.index: worker for worker in workers}
        self.total = 0
        self.finished_before = 0
        self.finished_now = 0
        self.started_now = 0
        self.best = -math.inf
        self.eta = StudyEta()
        self._live = Live(console=console, get_renderable=self._render, refresh_per_second=4) if live else None

    def __enter__(self) -> WorkerBoard:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def study_start(self, name: str, n_trials: int, done: int, best: float | None) -> None:
        self.total, self.finished_before = n_trials, done
        self.eta.study_start(n_trials - done)
        self.best = -math.inf if best is None else best
        self._print(f"study {name}: {done}/{n_trials} trials finished, running the rest on {len(self.workers)} workers")

    def spawned(self, index: int, pid: int) -> None:
        worker = self.workers[index]
        worker.pid, worker.status = pid, "running"
        gpu = f", CUDA_VISIBLE_DEVICES={worker.gpu}" if worker.gpu is not None else ""
        self._print(f"[w{index}] started (pid {pid}{gpu})")

    @property
    def ran(self) -> int:
        """Trials this invocation ran: each worker's own count, or the trials it ended if it died first."""
        return sum(worker.trials_ended if worker.ran is None else worker.ran for worker in self.workers.values())

    def handle(self, index: int, event: dict[str, Any]) -> None:
        worker, kind = self.workers[index], event["event"]
        if kind == "trial_start":
            retry_of = event.get("retry_of")
            if retry_of is None:  # a retry runs in its first attempt's place
                self.started_now += 1
            worker.trial, worker.epoch, worker.iterations = event["number"], f"0/{event['epochs']}", ""
            self.eta.trial_start(index, event["epochs"])
            worker.loss, worker.miou, worker.status = math.nan, math.nan, "training"
            params = ", ".join(f"{key}={_short(value)}" for key, value in event["params"].items())
            retry = "" if retry_of is None else f", retry of #{retry_of}"
            self._line(
                index, f"trial {self.finished_before + self.started_now}/{self.total} (#{worker.trial}{retry}) {params}"
            )
        elif kind == "resume":
            self.eta.trial_resumed(index, event["epoch"])
            self._line(index, f"  trial #{event['number']} resumes after epoch {event['epoch']}")
        elif kind == "model_cost":
            self._line(index, event["text"])
        elif kind == "iteration":
            worker.iterations, worker.loss = f"it {event['iteration']}", event["loss"]
        elif kind == "epoch_end":
            self._epoch_end(index, worker, event)
        elif kind == "trial_end":
            self._trial_end(index, worker, event)
        elif kind == "done":
            worker.ran, worker.status = event["ran"], "done"
        elif kind == "already_complete":
            worker.status = "nothing left"

    def output(self, index: int, line: str) -> None:
        """A line the worker printed itself."""
        self._line(index, line, force=True)

    def exited(self, index: int, returncode: int) -> None:
        worker = self.workers[index]
        if returncode == 0:
            worker.status = "done"
            return
        worker.status = f"exit {returncode}" if returncode > 0 else f"signal {-returncode}"
        self._print(f"[w{index}] exited with {'code ' + str(returncode) if returncode > 0 else worker.status}")

    def _epoch_end(self, index: int, worker: WorkerState, event: dict[str, Any]) -> None:
        metrics = event["metrics"]
        epochs = worker.epoch.split("/")[-1]
        worker.epoch, worker.iterations = f"{event['epoch']}/{epochs}", ""
        self.eta.epoch_end(index, event["epoch"])
        worker.loss, worker.miou = metrics.get("train/loss", math.nan), metrics.get("val/miou", math.nan)
        self._line(
            index,
            f"  trial #{event['number']} epoch {worker.epoch}  loss {worker.loss:.4f}  val mIoU {worker.miou:.4f}  "
            f"best {self._best_text()}  ETA {self.eta.text()}",
        )

    def _trial_end(self, index: int, worker: WorkerState, event: dict[str, Any]) -> None:
        self.finished_now += 1
        self.eta.trial_end(index, result=event["state"] in RESULT_STATES)
        worker.trials_ended += 1
        worker.status = f"#{event['number']} {event['state']}"
        value = event["value"]
        if value is not None:
            self.best = max(self.best, value)
        shown = f" val mIoU {value:.4f}" if value is not None else ""
        said = f": {event['note']}" if event.get("note") else ""
        self._line(
            index,
            f"trial #{event['number']} {event['state']}{shown}{said}  best {self._best_text()}  ETA {self.eta.text()}",
        )

    def _line(self, index: int, text: str, *, force: bool = False) -> None:
        if self._live is None or force or not text.startswith("  "):  # the live table shows epochs itself
            self._print(f"[w{index}] {text}")

    def _print(self, text: str) -> None:
        self.console.print(Text(text), soft_wrap=True)  # as is: "[w1]" is no markup, and no wrapping

    def _best_text(self) -> str:
        return "-" if self.best == -math.inf else f"{self.best:.4f}"

    def _render(self) -> Group:
        table = Table(box=None, pad_edge=False)
        for column in ("worker", "GPU", "trial", "epoch", "", "loss", "val mIoU", "status"):
            table.add_column(column)
        for worker in self.workers.values():
            table.add_row(
                f"w{worker.index}",
                worker.gpu or "-",
                "-" if worker.trial is None else f"#{worker.trial}",
                worker.epoch,
                worker.iterations,
                _number(worker.loss),
                _number(worker.miou),
                worker.status,
            )
        finished = self.finished_before + self.finished_now
        header = Text(f"{finished}/{self.total} trials finished  best {self._best_text()}  ETA {self.eta.text()}")
        return Group(header, table)


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4f}"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
