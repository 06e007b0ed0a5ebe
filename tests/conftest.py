"""Shared fixtures, and the two folders every test lives in.

`tests/unit/` is the fast loop (`pytest tests/unit`, about a minute on two cores): code called in this
process, no subprocess, no service, no training beyond one epoch of the tiny config, no study run.
`tests/e2e/` holds everything else: the CLIs as subprocesses, real services, multi-epoch training and whole
studies. Each test is marked `unit` or `e2e` after its folder; the helper modules beside this file
(helpers, processes, services, bad_input_cases) are importable from both.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.data.synth import synthesize

TESTS = Path(__file__).parent
FOLDERS = ("unit", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test under tests/ after its folder; a test module outside both folders is a usage error."""
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


@pytest.fixture(scope="session")
def synth_voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VOC2012-layout root made by `synthesize(train=8, val=4, size=64, seed=0)`; treat it as read-only."""
    return synthesize(tmp_path_factory.mktemp("synth_voc") / "VOC2012", train=8, val=4, size=64, seed=0)
