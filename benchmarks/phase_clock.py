"""`PhaseClock`: wall time of named phases of a sweep, measured by wrapping functions in place.

Each wrapped function adds its inclusive wall time and one call to its label. `trainer.train` is wrapped
specially (`wrap_training`): its time, less the time spent in the sweep's callbacks that it calls (the
per-epoch `report` and the progress listener, themselves wrapped as phases), is the training time. Time
outside training that no wrapped phase covers is left to the caller to show as unattributed.

With a `cProfile.Profile`, the clock turns the profiler off while training runs and back on in the
callbacks, so the profile holds only the sweep's own work.
"""

from __future__ import annotations

import cProfile
import functools
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trainer.listener import TrainingListener


class PhaseClock:
    """Accumulates seconds and calls per label; `restore()` puts every wrapped function back."""

    def __init__(self, profiler: cProfile.Profile | None = None) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.training_seconds = 0.0
        self.attributed_seconds = 0.0
        """Outside training, time under at least one wrapped phase (nested phases counted once)."""
        self._profiler = profiler
        self._depth = 0
        self._training = False
        self._callback_seconds = 0.0
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        """Replace `owner.name` (a module function or a class's method) with a timed version."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(label):
                return original(*args, **kwargs)

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    @contextmanager
    def phase(self, label: str) -> Iterator[None]:
        """Time the block under `label`; a callback made by training is taken out of the training time."""
        callback = self._training and self._depth == 0
        if callback and self._profiler is not None:
            self._profiler.enable()
        self._depth += 1
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self._depth -= 1
            self.seconds[label] += elapsed
            self.calls[label] += 1
            if callback:
                self._callback_seconds += elapsed
                if self._profiler is not None:
                    self._profiler.disable()
            elif self._depth == 0:
                self.attributed_seconds += elapsed

    def wrap_training(self, owner: Any, name: str, *, report_label: str, listener_label: str) -> None:
        """Wrap `owner.name`, a function with `trainer.train`'s signature, as the training time."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(config: Any, report: Callable[[int, Mapping[str, float]], None] | None = None, **kwargs: Any) -> Any:
            def timed_report(epoch: int, metrics: Mapping[str, float]) -> None:
                assert report is not None
                with self.phase(report_label):
                    report(epoch, metrics)

            listener = kwargs.get("listener")
            if listener is not None:
                kwargs["listener"] = _TimedListener(listener, self, listener_label)
            callbacks_before = self._callback_seconds
            self._training = True
            if self._profiler is not None:
                self._profiler.disable()
            started = time.perf_counter()
            try:
                return original(config, timed_report if report is not None else None, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                self._training = False
                if self._profiler is not None:
                    self._profiler.enable()
                self.training_seconds += elapsed - (self._callback_seconds - callbacks_before)
                self.calls["trainer.train"] += 1

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


class _TimedListener(TrainingListener):
    """Forwards every listener call, timed as one phase of the sweep's own work."""

    def __init__(self, listener: TrainingListener, clock: PhaseClock, label: str) -> None:
        self._listener = listener
        self._clock = clock
        self._label = label

    def on_resume(self, epoch: int, checkpoint: Path) -> None:
        with self._clock.phase(self._label):
            self._listener.on_resume(epoch, checkpoint)

    def on_checkpoint_discarded(self, path: Path, reason: str) -> None:
        with self._clock.phase(self._label):
            self._listener.on_checkpoint_discarded(path, reason)

    def on_train_start(self, epochs: int, iterations_per_epoch: int, start_epoch: int) -> None:
        with self._clock.phase(self._label):
            self._listener.on_train_start(epochs, iterations_per_epoch, start_epoch)

    def on_iteration(self, epoch: int, iteration: int, loss: float, lr: float) -> None:
        with self._clock.phase(self._label):
            self._listener.on_iteration(epoch, iteration, loss, lr)

    def on_epoch_end(self, epoch: int, metrics: Mapping[str, float]) -> None:
        with self._clock.phase(self._label):
            self._listener.on_epoch_end(epoch, metrics)

    def on_train_end(self) -> None:
        with self._clock.phase(self._label):
            self._listener.on_train_end()
