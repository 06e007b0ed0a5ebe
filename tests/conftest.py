"""Shared fixtures, and the two folders every test lives in.

`tests/unit/` is the fast loop (`pytest tests/unit`, about a minute on two cores): code called in this
process, no subprocess, no service, no training beyond one epoch of the tiny config, no study run.
`tests/e2e/` holds everything else: the CLIs as subprocesses, real services, multi-epoch training and whole
studies. Each test is marked `unit` or `e2e` after its folder; the helper modules beside this file
(helpers, processes, services, bad_input_cases) are importable from both.

The suite runs in two processes (pytest-xdist, `-n 2` in pyproject.toml; `-n 0` runs it in one):
- a test module is one unit of work, so its module-scoped study runs once; modules that read the same
  session-scoped study share a unit (`SHARED_STUDIES`);
- every trainer a test starts takes its share of the CPUs (`TRAINER_CPU_WORKERS`, see trainer.cpu_share);
- a test marked `alone` (it restarts a service the others use, or judges a latency, which is only trusted
  with nothing beside it) runs while no other test runs (`machine_share`).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling

from trainer.data.synth import synthesize

TESTS = Path(__file__).parent
FOLDERS = ("unit", "e2e")
SHARED_STUDIES = {
    "e2e/test_sweep_e2e.py": "finished_study",
    "e2e/test_sweep_disk_studies.py": "finished_study",
    "e2e/test_sweep_workers_runs.py": "embedded_two_worker_study",
    "e2e/test_services_mlflow.py": "embedded_two_worker_study",  # and services_study
    "e2e/test_mlflow_ui.py": "embedded_two_worker_study",  # services_study, with test_services_mlflow
}
"""Modules that read a session-scoped study of tests/e2e/conftest.py, and the unit of work they share."""
LONGEST_UNITS = (
    "embedded_two_worker_study",
    "e2e/test_bad_input.py",
    "e2e/test_smoke_study.py",
    "e2e/test_slurm.py",
    "e2e/test_sweep_signals.py",
    "e2e/test_benchmarks.py",
    "e2e/test_service_outages.py",
    "e2e/test_confirm_study.py",
    "e2e/test_sweep_seeding_runs.py",
    "e2e/test_study_report.py",
    "e2e/test_model_serving.py",
)
"""Units of work of a minute or more (measured), started first, longest first, so that neither test process
is left with one of them at the end while the other has nothing to do."""

if "PYTEST_XDIST_WORKER_COUNT" in os.environ:  # in a worker: the trainers it starts share the CPUs
    os.environ.setdefault("TRAINER_CPU_WORKERS", os.environ["PYTEST_XDIST_WORKER_COUNT"])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test under tests/ after its folder, and start the longest units of work first; a test module
    outside both folders is a usage error."""
    for item in items:
        if not item.path.is_relative_to(TESTS):
            continue
        folder = item.path.relative_to(TESTS).parts[0]
        if folder not in FOLDERS:
            raise pytest.UsageError(
                f"{item.path}: tests live in tests/unit/ (in-process, no subprocess or service, at most one epoch "
                "of training, no study run) or tests/e2e/ (everything else); move the file into one of them"
            )
        item.add_marker(folder)
    items.sort(key=lambda item: _start_order(unit_of_work(item.nodeid)))


def unit_of_work(nodeid: str) -> str:
    """The unit of work of the test `nodeid`: the study it shares (`SHARED_STUDIES`), else its module under
    tests/ (e.g. "e2e/test_smoke_study.py")."""
    module = nodeid.partition("::")[0].removeprefix(f"{TESTS.name}/")
    return SHARED_STUDIES.get(module, module)


def _start_order(unit: str) -> int:
    """Where a unit of work stands in `LONGEST_UNITS`, or after them all (a stable sort keeps the rest in
    collection order)."""
    return LONGEST_UNITS.index(unit) if unit in LONGEST_UNITS else len(LONGEST_UNITS)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> LoadScopeScheduling:
    """pytest-xdist's scope scheduler, with `unit_of_work` as the scope: each unit runs whole in one process,
    and units are handed out in collection order (`--no-loadscope-reorder` in pyproject.toml).

    This replaces `--dist=loadgroup`, which pytest 9.2 broke without a word (pytest-dev/pytest-xdist#1386:
    the group suffix xdist writes into each node id is no longer read), so that every module's study ran in
    both processes."""
    return UnitOfWorkScheduling(config, log)


class UnitOfWorkScheduling(LoadScopeScheduling):
    """Load-scope scheduling whose scope is `unit_of_work`."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of_work(nodeid)


@contextmanager
def machine_share(alone: bool, run_id: str) -> Iterator[None]:
    """Hold the machine shared with the other test processes of this run, or alone when `alone`.

    A readers-writer lock on two files: a test that runs alone first takes the turnstile, which lets no
    new test in, then waits for the room to empty; the others pass the turnstile and share the room.
    """
    folder = Path(tempfile.gettempdir())
    with (
        (folder / f"segsweep-tests-{run_id}.turnstile").open("a") as turnstile,
        (folder / f"segsweep-tests-{run_id}.room").open("a") as room,
    ):
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if alone:
            fcntl.flock(room, fcntl.LOCK_EX)
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        else:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            fcntl.flock(room, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(room, fcntl.LOCK_UN)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """Run each test, its fixtures' setup and teardown included, under `machine_share` in an xdist run."""
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id is None:  # one process: nothing runs beside the test
        return (yield)
    with machine_share(item.get_closest_marker("alone") is not None, run_id):
        return (yield)


@pytest.fixture(scope="session")
def synth_voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VOC2012-layout root made by `synthesize(train=8, val=4, size=64, seed=0)`; treat it as read-only."""
    return synthesize(tmp_path_factory.mktemp("synth_voc") / "VOC2012", train=8, val=4, size=64, seed=0)
