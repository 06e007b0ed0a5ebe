"""Shared fixtures: a small synthetic VOC root that every test module may read (never write)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.data.synth import synthesize


@pytest.fixture(scope="session")
def synth_voc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VOC2012-layout root made by `synthesize(train=8, val=4, size=64, seed=0)`; treat it as read-only."""
    return synthesize(tmp_path_factory.mktemp("synth_voc") / "VOC2012", train=8, val=4, size=64, seed=0)
