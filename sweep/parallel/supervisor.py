"""`sweep run --workers`: prepare the study once, start the workers, show them as one, and judge the outcome.

The parent creates everything the workers share before any starts (`prepare_study`: tables, study, data,
MLflow experiment and parent run), so nothing is created in a race. Each worker is this CLI again
(`sweep.parallel.workers.worker_command`), running the single-process loop on the same study; it streams JSON
progress events on a pipe of its own and its stdout/stderr are relayed line by line. Workers run in their
own sessions: a Ctrl-C (SIGINT) or SIGTERM reaches the parent alone, which forwards it to every worker
once, so each worker stops as it would on its own.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO, Any

from rich.console import Console

from sweep.errors import WorkerError
from sweep.parallel.board import WorkerBoard, WorkerState
from sweep.parallel.events import decode
from sweep.parallel.workers import StudyLaunch, WorkerPlan, worker_command, worker_environment
from sweep.run.progress import SweepProgress
from sweep.run.study import (
    StudyInterrupted,
    SweepOutcome,
    finish_study,
    prepare_study,
    raise_if_gave_up,
    resume_command,
)
from sweep.trials.own_trials import own_best_value

_FORWARDED = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class _Message:
    worker: int
    kind: str  # "event", "line" or "exit"
    payload: Any


def run_parallel(launch: StudyLaunch, plans: Sequence[WorkerPlan], *, console: Console, live: bool) -> SweepOutcome:
    """Run the study of `launch` on `plans` worker processes; raise `StudyInterrupted` on SIGINT/SIGTERM (after
    every worker has stopped), `StudyGaveUpError` (the reasons counted over every worker's trials) when too
    many trials failed for good, and `WorkerError` if a worker failed and the study's work is not done."""
    spec = launch.spec
    started = time.monotonic()
    prepared = prepare_study(spec)
    study = prepared.study
    for line in prepared.seeding.lines() if prepared.seeding else []:
        console.print(line)
    if prepared.tracker is None:
        SweepProgress(console).already_complete(prepared.n_trials, prepared.finished)
        return SweepOutcome(study, 0, time.monotonic() - started)
    # No more workers than there is work for: free places plus queued retries.
    counts = prepared.budget.tally(study)
    plans = list(plans)[: max(1, prepared.n_trials - counts.held + counts.waiting)]

    board = WorkerBoard(console, [WorkerState(plan.index, plan.gpu) for plan in plans], live=live)
    board.study_start(spec.study.name, prepared.n_trials, prepared.finished, own_best_value(study))
    with board:
        returncodes, signal_number = _supervise(launch, plans, board)
    failed = {index: code for index, code in returncodes.items() if code != 0}
    done = finish_study(prepared, interrupted=signal_number is not None, spec=spec)
    if signal_number is not None:
        raise StudyInterrupted(
            signal_number,
            f"{signal.Signals(signal_number).name}: every worker stopped; the trials they ran are queued to "
            f"resume: run `{resume_command(spec)} --workers {len(plans)}` to go on",
        )
    raise_if_gave_up(spec, prepared.budget, study)  # the workers leave saying why to the parent, once
    if failed and not done:
        listed = ", ".join(f"w{index} ({_exit_text(code)})" for index, code in sorted(failed.items()))
        raise WorkerError(f"{len(failed)} of {len(plans)} workers failed: {listed}; their output is above")
    return SweepOutcome(study, board.ran, time.monotonic() - started)


def _supervise(
    launch: StudyLaunch, plans: Sequence[WorkerPlan], board: WorkerBoard
) -> tuple[dict[int, int], int | None]:
    """Start the workers, relay their events and output until all have exited.

    Returns the return codes and the first signal received (None when none was)."""
    messages: queue.Queue[_Message] = queue.Queue()
    processes: dict[int, subprocess.Popen[bytes]] = {}
    received: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        for process in processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signum)
                except ProcessLookupError:
                    pass

    previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED}
    try:
        for plan in plans:
            if received:
                break
            processes[plan.index] = _start(launch, plan, len(plans), messages)
            board.spawned(plan.index, processes[plan.index].pid)
        returncodes: dict[int, int] = {}
        while len(returncodes) < len(processes):
            try:
                message = messages.get(timeout=0.2)  # wakes up regularly so that signal handlers run
            except queue.Empty:
                continue
            if message.kind == "event":
                board.handle(message.worker, message.payload)
            elif message.kind == "line":
                board.output(message.worker, message.payload)
            else:
                returncodes[message.worker] = message.payload
                board.exited(message.worker, message.payload)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return returncodes, received[0] if received else None


def _start(
    launch: StudyLaunch, plan: WorkerPlan, workers: int, messages: queue.Queue[_Message]
) -> subprocess.Popen[bytes]:
    environment = worker_environment(
        plan,
        os.environ,
        storage_url=launch.spec.storage_url,
        tracking_uri=launch.spec.tracking_uri,
        workers=workers,
    )
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            worker_command(launch, plan, write_end),
            env=environment,
            pass_fds=(write_end,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the parent only; it forwards the signal once
        )
    finally:
        os.close(write_end)
    events = os.fdopen(read_end, "rb")
    assert process.stdout is not None
    threading.Thread(target=_relay, args=(plan.index, process, events, process.stdout, messages), daemon=True).start()
    return process


def _relay(
    index: int, process: subprocess.Popen[bytes], events: IO[bytes], output: IO[bytes], messages: queue.Queue[_Message]
) -> None:
    """Queue the worker's events and output lines until both pipes close, then its exit code."""

    def read_events() -> None:
        with events:
            for raw in events:
                event = decode(raw.decode("utf-8", "replace"))
                if event is not None:
                    messages.put(_Message(index, "event", event))

    reader = threading.Thread(target=read_events, daemon=True)
    reader.start()
    with output:
        for raw in output:
            messages.put(_Message(index, "line", raw.decode("utf-8", "replace").rstrip("\n")))
    code = process.wait()
    reader.join()
    messages.put(_Message(index, "exit", code))


def _exit_text(code: int) -> str:
    return f"exit code {code}" if code > 0 else f"killed by signal {-code}"
