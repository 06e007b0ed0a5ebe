"""`sweep dashboard` without the `dashboard` extra: one line that says what to install, exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from helpers import study_document, unmade_data_train

from sweep.cli import cli


def test_without_optuna_dashboard_it_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # `import optuna_dashboard` raises ImportError
    Path("study.yaml").write_text(yaml.safe_dump(study_document("board", n_trials=2, train=unmade_data_train())))
    result = CliRunner().invoke(cli, ["dashboard", "study.yaml", "--port", "8093"])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[-1] == (
        "error: sweep dashboard needs optuna-dashboard: pip install 'segsweep[dashboard]'"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["study.yaml"], "nothing is created"
