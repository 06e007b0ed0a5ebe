"""A `sweep` subprocess whose output is read as it comes, so that a test can signal it at a chosen moment."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def sweep_env(**extra: str) -> dict[str, str]:
    """The test's environment without the URL variables (a study file or `extra` sets them) plus this repo."""
    environment = {k: v for k, v in os.environ.items() if k not in ("SWEEP_STORAGE", "MLFLOW_TRACKING_URI")}
    return {**environment, "PYTHONPATH": os.pathsep.join(sys.path), **extra}


def sweep_in(folder: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    """`python -m sweep.cli ARGS` run to its end in `folder` with `sweep_env()`; stdout and stderr captured."""
    return subprocess.run(
        [sys.executable, "-m", "sweep.cli", *args],
        cwd=folder,
        env=sweep_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class LiveProcess:
    """`python -m sweep.cli ARGS` in `cwd`, stdout and stderr merged and collected line by line."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sweep.cli", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_for(self, pattern: str, timeout: float = 300) -> re.Match[str]:
        """Block until the output matches `pattern`; fail (killing the process) if it ends or times out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output, re.S)
            if match:
                return match
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        self.process.kill()
        raise AssertionError(f"no {pattern!r} in the output:\n{self.output}")

    def send(self, signal_number: int) -> None:
        self.process.send_signal(signal_number)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    def finish(self, timeout: float = 600) -> int:
        """Wait for the exit and the last output line; the return code."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code
