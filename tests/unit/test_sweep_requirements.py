"""The registered model's pip requirements come from what its bundled code imports."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from sweep.promote.registry import model_requirements
from sweep.promote.requirements import imported_modules, pip_requirements


def pinned(distribution: str) -> str:
    return f"{distribution}=={metadata.version(distribution).partition('+')[0]}"


def test_imports_anywhere_in_the_code_are_found(tmp_path: Path) -> None:
    package = tmp_path / "bundle"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from __future__ import annotations\nimport json, os.path\nfrom . import sub\n"
    )
    (package / "sub" / "__init__.py").write_text("def read():\n    import yaml\n    from PIL import Image\n")
    (package / "sub" / "local.py").write_text("from .sibling import x\nfrom bundle.sub import read\n")
    single = tmp_path / "serving.py"
    single.write_text("import numpy as np\n")
    assert imported_modules([package, single]) == {"__future__", "json", "os", "yaml", "PIL", "bundle", "numpy"}


def test_requirements_pin_installed_distributions_and_skip_stdlib_bundled_and_absent(tmp_path: Path) -> None:
    code = tmp_path / "model.py"
    code.write_text("import json\nimport yaml\nfrom PIL import Image\nimport bundle\nimport not_installed_anywhere\n")
    assert pip_requirements([code], bundled={"bundle"}) == [pinned("pillow"), pinned("PyYAML")]


def test_registered_model_requires_what_serving_and_trainer_import() -> None:
    requirements = model_requirements()
    # trainer/cli draws progress with rich and trainer/data reads SBD with scipy: both ship in the bundle.
    for distribution in (
        "rich",
        "scipy",
        "click",
        "torch",
        "torchvision",
        "numpy",
        "pillow",
        "pydantic",
        "PyYAML",
        "mlflow",
    ):
        assert pinned(distribution) in requirements
    assert not any(requirement.startswith(("segsweep", "trainer", "optuna")) for requirement in requirements)
