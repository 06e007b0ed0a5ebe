"""Pip requirements of bundled model code, derived from what the code imports.

Every absolute import in the bundled `.py` files (inside functions too) names a top-level module; the
standard library and the bundled packages themselves need nothing, and each other module is mapped to the
installed distributions that provide it, pinned to the versions that trained the model.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path


def imported_modules(paths: Iterable[Path]) -> set[str]:
    """Top-level names of every absolute import in the given `.py` files and the `.py` files under folders."""
    names: set[str] = set()
    for path in paths:
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.partition(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
                    names.add(node.module.partition(".")[0])
    return names


def pip_requirements(paths: Iterable[Path], *, bundled: Iterable[str] = ()) -> list[str]:
    """`distribution==version` for each installed distribution that provides a module the code imports.

    `bundled` names the top-level packages shipped with the code. A module that no installed
    distribution provides is left out: the code runs here without it, so it is an optional import.
    """
    third_party = imported_modules(paths) - set(bundled) - sys.stdlib_module_names - {"__future__"}
    providers = metadata.packages_distributions()
    distributions = {name for module in third_party for name in providers.get(module, [])}
    return [f"{name}=={_public_version(metadata.version(name))}" for name in sorted(distributions, key=str.lower)]


def _public_version(version: str) -> str:
    """`2.5.1+cu121` -> `2.5.1`: package indexes know no local version labels."""
    return version.partition("+")[0]
