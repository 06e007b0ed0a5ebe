"""The layering that keeps imports light, checked in a fresh interpreter: what importing a module loads."""

from __future__ import annotations

import subprocess
import sys


def _modules_loaded_by(statement: str, candidates: tuple[str, ...]) -> list[str]:
    code = f"import sys; {statement}; print(' '.join(m for m in {candidates!r} if m in sys.modules))"
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()


def test_the_data_package_imports_lazily() -> None:
    assert _modules_loaded_by("import trainer.data.voc", ("scipy", "rich", "trainer.data.sbd")) == []


def test_training_loads_neither_optuna_mlflow_nor_the_sweep_layer() -> None:
    loaded = _modules_loaded_by(
        "import trainer.engine, trainer.evaluation, trainer.predict", ("optuna", "mlflow", "sweep", "rich", "click")
    )
    assert loaded == []
