"""The suite's own scheduling (tests/conftest.py), checked on a probe tree: a copy of the conftest beside
probe modules, run by a real `pytest` subprocess with this repo's pytest settings (`-n 2`, the scope
scheduler, no reordering). Each probe test writes its module and its worker to a log.

It guards what broke once without a word: with pytest 9.2, `--dist=loadgroup` handed out every test on its
own (pytest-dev/pytest-xdist#1386), so each module's study ran in both processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).parents[1]
REPO = TESTS.parent
PROBE = """
import os


def _log(test: str) -> None:
    with open(os.environ["PROBE_LOG"], "a") as log:
        log.write(f"{__name__} {test} {os.environ.get('PYTEST_XDIST_WORKER', 'main')}\\n")


def test_one():
    _log("one")


def test_two():
    _log("two")


def test_three():
    _log("three")
"""
SHARED = ("test_sweep_e2e", "test_sweep_disk_studies")
"""Two modules that conftest.SHARED_STUDIES puts in one unit of work (they read one session study)."""
ALONE = ("test_alpha", "test_beta", "test_gamma")


def run_probe_tree(root: Path) -> dict[str, list[tuple[str, str]]]:
    """Run the probe tree under `root` with the repo's pytest settings; each module's (test, worker) rows."""
    (root / "tests" / "e2e").mkdir(parents=True)
    shutil.copy(TESTS / "conftest.py", root / "tests" / "conftest.py")
    for module in (*SHARED, *ALONE):
        (root / "tests" / "e2e" / f"{module}.py").write_text(PROBE)
    log = root / "probe.log"
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(root)]
        + ["-p", "no:cacheprovider", "-q", str(root / "tests")],
        cwd=root,
        env={**environment, "PROBE_LOG": str(log), "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "15 passed" in ran.stdout, ran.stdout
    rows: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for line in log.read_text().splitlines():
        module, test, worker = line.split()
        rows[module].append((test, worker))
    return rows


def test_each_unit_of_work_runs_whole_in_one_process_in_collection_order(tmp_path: Path) -> None:
    rows = run_probe_tree(tmp_path)
    assert sorted(rows) == sorted((*SHARED, *ALONE))
    workers = {module: {worker for _, worker in ran} for module, ran in rows.items()}
    assert all(len(used) == 1 for used in workers.values()), f"a module split across processes: {workers}"
    assert workers[SHARED[0]] == workers[SHARED[1]], f"the modules of one session study split: {workers}"
    assert set().union(*workers.values()) == {"gw0", "gw1"}, f"both processes take units: {workers}"
    assert all([test for test, _ in ran] == ["one", "two", "three"] for ran in rows.values()), rows
