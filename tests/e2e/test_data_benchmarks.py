"""The data benchmarks' --smoke runs finish and print their table and command (what CI runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("script", "header"), [("data_loader.py", "| workers |"), ("eval_speed.py", "| backbone |")])
def test_smoke_run_prints_a_table_and_the_command(script: str, header: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, f"benchmarks/{script}", "--smoke"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert header in done.stdout and f"command: python benchmarks/{script} --smoke" in done.stdout
