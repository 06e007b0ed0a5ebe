"""The sweep CLI on bad input: exit codes, messages, no traceback, and nothing created."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import WIDE_LR_SEARCH, set_in, study_document, unmade_data_train

from sweep.cli import cli

VALID = study_document(
    "bad-input", n_trials=2, train=unmade_data_train(), search=WIDE_LR_SEARCH, sampler=None, pruner=None
)


def with_change(path: str, value: Any) -> dict[str, Any]:
    """VALID with `section/key` set (a `/` path, since search keys hold dots)."""
    return set_in(VALID, path.split("/"), value)


BAD_STUDIES = [
    pytest.param(with_change("sweeep", 1), "sweeep: unknown key 'sweeep'", id="unknown-top-level-key"),
    pytest.param(
        with_change("study/pruner", {"type": "medain"}), "study.pruner.type: 'medain' is not one of", id="pruner-typo"
    ),
    pytest.param(
        with_change("train/optim", {"lrr": 0.1}),
        "train.optim.lrr: unknown key 'lrr'; did you mean 'lr'?",
        id="train-key-typo",
    ),
    pytest.param(
        with_change("search/optim.lrate", {"type": "float", "low": 0.1, "high": 1}),
        "search.optim.lrate: unknown key 'lrate'; did you mean 'lr'?",
        id="search-path-typo",
    ),
    pytest.param(
        with_change("search/optim.name", {"type": "categorical", "choices": ["adam", "sgdd"]}),
        "search.optim.name.choices[1]: 'sgdd' is not one of adam, adamw, sgd",
        id="bad-choice",
    ),
    pytest.param(
        with_change("search/optim.lr", {"type": "float", "low": 1, "high": 0.1}), "search.optim.lr", id="low-above-high"
    ),
    pytest.param(with_change("tracking/uri", "./mlruns"), "tracking.uri", id="file-store"),
    pytest.param(with_change("study/n_trials", 0), "study.n_trials", id="zero-trials"),
]


@pytest.mark.parametrize(("document", "message"), BAD_STUDIES)
@pytest.mark.parametrize("command", ["run", "validate"])
def test_bad_study_exits_2_and_creates_nothing(
    document: dict[str, Any], message: str, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("study.yaml").write_text(yaml.safe_dump(document))
    result = CliRunner().invoke(cli, [command, "study.yaml"])
    assert result.exit_code == 2, result.output
    assert message in result.output and "study.yaml" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"], "no study, run or data may be created"


def test_yaml_syntax_error_reports_line_and_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("study.yaml").write_text("study:\n  name: x\n  n_trials: [1\n")
    result = CliRunner().invoke(cli, ["run", "study.yaml"])
    assert result.exit_code == 2 and "invalid YAML at line 4, column 1" in result.output


def test_missing_study_file_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["run", "absent.yaml"])
    assert result.exit_code == 2 and "absent.yaml: file not found" in result.output


def test_bad_command_line_override_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("study.yaml").write_text(yaml.safe_dump(VALID))
    result = CliRunner().invoke(cli, ["run", "study.yaml", "--storage", "redis://localhost"])
    assert result.exit_code == 2 and "command line" in result.output and "study.storage" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]


def test_validate_prints_the_resolved_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("study.yaml").write_text(yaml.safe_dump(VALID))
    result = CliRunner().invoke(cli, ["validate", "study.yaml"])
    assert result.exit_code == 0
    resolved = yaml.safe_load(result.output.split("search space:")[0])
    assert resolved["study"]["storage"] == f"sqlite:///{tmp_path.resolve()}/runs/bad-input/optuna.db"
    assert resolved["tracking"]["uri"] == f"sqlite:///{tmp_path.resolve()}/runs/mlflow.db"
    assert resolved["train"]["optim"]["name"] == "sgd"
    assert "optim.lr: float in [0.0001, 0.1], log" in result.output


@pytest.mark.parametrize("command", ["status", "best", "promote"])
def test_commands_on_a_study_never_run_exit_1_and_create_nothing(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("study.yaml").write_text(yaml.safe_dump(VALID))
    result = CliRunner().invoke(cli, [command, "study.yaml"])
    assert result.exit_code == 1 and "run `sweep run study.yaml` first" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]


@pytest.mark.parametrize("content", ["empty", "another study"])
@pytest.mark.parametrize("command", ["status", "best", "promote"])
def test_a_storage_without_the_study_is_left_as_it_was(
    command: str, content: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("study.yaml").write_text(yaml.safe_dump(VALID))
    database = Path("runs/bad-input/optuna.db")
    database.parent.mkdir(parents=True)
    if content == "empty":
        database.touch()
    else:
        optuna.create_study(study_name="other", storage="sqlite:///runs/bad-input/optuna.db")
    before = database.read_bytes()
    result = CliRunner().invoke(cli, [command, "study.yaml"])
    assert result.exit_code == 1
    assert result.output == (
        f"error: study 'bad-input' is not in sqlite:///{tmp_path.resolve()}/runs/bad-input/optuna.db; "
        "run `sweep run study.yaml` first\n"
    )
    assert database.read_bytes() == before, "no table may be created in the database"
    assert sorted(p.name for p in database.parent.iterdir()) == ["optuna.db"]


def test_promote_refuses_without_a_completed_trial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("study.yaml").write_text(yaml.safe_dump(VALID))
    Path("runs/bad-input").mkdir(parents=True)
    study = optuna.create_study(
        study_name="bad-input", storage="sqlite:///runs/bad-input/optuna.db", direction="maximize"
    )
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    result = CliRunner().invoke(cli, ["promote", "study.yaml"])
    assert result.exit_code == 1
    assert "has no completed trial yet" in result.output and "Traceback" not in result.output


def test_missing_data_fails_before_any_study_or_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    document = with_change("train/data", {"root": "data/absent"})
    Path("study.yaml").write_text(yaml.safe_dump(document))
    result = CliRunner().invoke(cli, ["run", "study.yaml"])
    assert result.exit_code == 1 and "data/absent" in result.output and "trainer data synth" in result.output
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"]


def test_unreachable_postgres_storage_is_one_line_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("psycopg2", reason="the postgres extra (CI installs it) reaches the server")
    monkeypatch.chdir(tmp_path)
    Path("study.yaml").write_text(yaml.safe_dump(VALID))
    url = "postgresql+psycopg2://user:secret@127.0.0.1:1/none"
    result = CliRunner().invoke(cli, ["status", "study.yaml", "--storage", url])
    assert result.exit_code == 1 and "error: cannot use the Optuna storage: OperationalError" in result.output
    assert "Traceback" not in result.output and "secret" not in result.output


def test_missing_database_driver_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # as if the postgres extra were not installed
    Path("study.yaml").write_text(yaml.safe_dump(VALID))
    url = "postgresql+psycopg2://user:secret@127.0.0.1:1/none"
    result = CliRunner().invoke(cli, ["run", "study.yaml", "--storage", url])
    assert result.exit_code == 1 and "no database driver installed" in result.output
    assert "pip install 'segsweep[postgres]'" in result.output and "user:***@" in result.output
    assert "Traceback" not in result.output and "secret" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yaml"], (
        "no data is generated for a study that cannot open"
    )
