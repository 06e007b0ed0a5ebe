"""Bad input never gets a traceback, always the right exit code and message, and never creates anything.

One parametrized test over the catalogue in `bad_input_cases.py`: each case runs the real command in a fresh
folder, then checks the exit code (2 for usage and config errors, 1 for runtime failures), the error line,
that stderr holds no traceback, that the folder holds exactly what the case wrote (same paths, same bytes),
that the command's temporary directory is empty, and that docs/reliability.md shows the case as observed.
`tests/unit/test_bad_input_table.py` checks that the doc lists every case, in order.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bad_input_cases import CASES, REGENERATE, Case, documented_rows, prepare, run, snapshot, table_row


@pytest.mark.parametrize(
    "case", [pytest.param(case, id=case.id, marks=[pytest.mark.slow] if case.slow else []) for case in CASES]
)
def test_bad_input(case: Case, synth_voc: Path, tmp_path: Path) -> None:
    folder, scratch = tmp_path / "cwd", tmp_path / "tmp"
    folder.mkdir()
    scratch.mkdir()
    prepare(case, folder, synth_voc)
    written = snapshot(folder)
    observed = run(case, folder, scratch)
    output = observed.stdout + observed.stderr
    assert observed.code == case.code, output
    assert re.search(case.stderr, observed.error_line), output
    assert "Traceback" not in output
    assert snapshot(folder) == written, "the command created, changed or removed files"
    assert list(scratch.iterdir()) == [], "the command left files in its temporary directory"
    assert documented_rows().get(case.id) == table_row(case, observed.error_line), REGENERATE
