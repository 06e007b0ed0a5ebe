"""Stopping gracefully on SIGINT (Ctrl-C) and SIGTERM (a scheduler's preemption).

`stop_on_signals()` turns the first SIGINT or SIGTERM into a request that training honours after the
step in progress: `trainer.train` then raises `TrainingInterrupted`, with every finished epoch already
safe in `last.pt`, so a rerun resumes from there. A second SIGINT or SIGTERM exits the process at once
(`os._exit`): every checkpoint and database write is atomic, so nothing recorded is lost, and whatever
was running is picked up as a dead process's work on the next run.

The exit code is the shell's convention for death by a signal, 128 + the signal's number: 130 for SIGINT,
143 for SIGTERM, so schedulers and shells read the process as interrupted, not as failed.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from trainer.errors import TrainerError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code_for(signal_number: int) -> int:
    """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signal_number


def signal_name(signal_number: int) -> str:
    return signal.Signals(signal_number).name


class Interrupted(TrainerError):
    """The run was stopped by a signal; its exit code is 128 + the signal's number.

    The message says what stopped and how to continue; the CLIs print it as one `interrupted: ...` line.
    """

    def __init__(self, signal_number: int, message: str) -> None:
        self.signal_number = signal_number
        self.exit_code = exit_code_for(signal_number)
        super().__init__(message)


class TrainingInterrupted(Interrupted):
    """Training stopped on a signal during `epoch`; `resume_epoch` epochs are finished and saved."""

    def __init__(self, signal_number: int, *, epoch: int, resume_epoch: int) -> None:
        self.epoch = epoch
        self.resume_epoch = resume_epoch
        if resume_epoch == 0:
            saved = "no epoch had finished"
        else:
            saved = "epoch 1 is saved" if resume_epoch == 1 else f"epochs 1-{resume_epoch} are saved"
        super().__init__(signal_number, f"{signal_name(signal_number)} during epoch {epoch}; {saved}")


class StopRequest:
    """Whether a stop was asked for, and by which signal; set by `stop_on_signals` or by `request`."""

    def __init__(self) -> None:
        self.signal_number: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal_number is not None

    def request(self, signal_number: int) -> None:
        self.signal_number = signal_number

    def raise_if_requested(self, *, epoch: int, resume_epoch: int) -> None:
        """Raise `TrainingInterrupted` when a stop was asked for; training calls this after every step."""
        if self.signal_number is not None:
            raise TrainingInterrupted(self.signal_number, epoch=epoch, resume_epoch=resume_epoch)


@contextmanager
def stop_on_signals(request: StopRequest | None = None, *, announce: bool = True) -> Iterator[StopRequest]:
    """Within the block, the first SIGINT/SIGTERM sets the request and the second exits at once.

    `announce` prints a line on stderr when a signal arrives (a worker whose parent speaks for it passes
    False). Signal handlers can only be installed from the main thread; elsewhere the request is returned
    unwired (a caller may still set it). The previous handlers are restored on leaving the block.
    """
    request = request or StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signal_number: int, frame: FrameType | None) -> None:
        if request.requested:
            if announce:
                sys.stderr.write(f"\n{signal_name(signal_number)} again: exiting now; nothing recorded is lost\n")
                sys.stderr.flush()
            os._exit(exit_code_for(signal_number))
        request.request(signal_number)
        if announce:
            sys.stderr.write(
                f"\n{signal_name(signal_number)}: stopping after the current step (send it again to exit at once)\n"
            )
            sys.stderr.flush()

    previous = {signal_number: signal.signal(signal_number, handle) for signal_number in STOP_SIGNALS}
    try:
        yield request
    finally:
        for signal_number, handler in previous.items():
            signal.signal(signal_number, handler)
