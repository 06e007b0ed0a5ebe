"""What `sweep` prints where no terminal reads it (a CI log, a file, `| tee`), on a study that gives up.

One tiny study whose every trial diverges (a learning rate of 1e30) runs once per module as a real
subprocess with its output on pipes; the tests read what it printed and what `sweep status` prints about it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
import yaml
from helpers import study_document, tiny_train
from processes import sweep_env

from sweep.results.notes import trial_notes
from sweep.results.reports import status_rows

pytestmark = pytest.mark.slow

DIVERGED = (
    r"DivergedError: loss diverged to \S+ at epoch 1, iteration \d+; lower optim\.lr, enable "
    r"optim\.grad_clip_norm, or check the data"
)
GAVE_UP = (
    r"^error: study '{name}' stopped: {count} trials failed for good \(study\.max_failed_trials{limit}\): "
    r"{times}x {reason}; `sweep status study\.yaml` shows why each failed$"
)


@dataclass(frozen=True)
class Finished:
    folder: Path
    code: int
    stdout: str
    stderr: str


def diverging_study(folder: Path, data_root: Path, name: str) -> None:
    """Two one-epoch trials at a learning rate that diverges in the first epoch: each fails for good."""
    document = study_document(
        name,
        n_trials=2,
        train=tiny_train(data_root),
        search={"optim.lr": {"type": "categorical", "choices": [1.0e30]}},
        settings={"max_failed_trials": 2},
    )
    (folder / "study.yaml").write_text(yaml.safe_dump(document))


def sweep(folder: Path, *args: str, **env: str) -> Finished:
    """`python -m sweep.cli ARGS` in `folder`, stdout and stderr on pipes (no terminal), with `env` set."""
    environment = {key: value for key, value in sweep_env(**env).items() if key != "COLUMNS" or "COLUMNS" in env}
    done = subprocess.run(
        [sys.executable, "-m", "sweep.cli", *args],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Finished(folder, done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def gave_up(synth_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> Finished:
    folder = tmp_path_factory.mktemp("gave-up")
    diverging_study(folder, synth_voc, "probe")
    return sweep(folder, "run", "study.yaml", "--quiet")


def test_a_study_that_gives_up_says_why_its_trials_failed_in_its_one_error_line(gave_up: Finished) -> None:
    output = gave_up.stdout + gave_up.stderr
    assert gave_up.code == 1, output
    assert "Traceback" not in output
    errors = [line for line in gave_up.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert re.fullmatch(GAVE_UP.format(name="probe", count=2, limit="", times=2, reason=DIVERGED), errors[0]), errors[0]


@pytest.mark.parametrize("columns", [None, "80"], ids=["COLUMNS-unset", "COLUMNS-80"])
def test_status_to_a_pipe_prints_each_trial_on_one_line_with_nothing_cut(
    gave_up: Finished, columns: str | None
) -> None:
    status = sweep(gave_up.folder, "status", "study.yaml", **({} if columns is None else {"COLUMNS": columns}))
    assert status.code == 0, status.stdout + status.stderr
    lines = status.stdout.splitlines()
    assert len([line for line in lines if line.startswith("│")]) == 2, "one line per trial, none folded"
    study = optuna.load_study(study_name="probe", storage=f"sqlite:///{gave_up.folder}/runs/probe/optuna.db")
    rows = status_rows(study)
    assert [row.state for row in rows] == ["FAIL", "FAIL"]
    for row in rows:
        (line,) = [line for line in lines if line.startswith(f"│ {row.number} ")]
        assert row.mlflow_run_id is not None and row.mlflow_run_id[:12] in line
        assert "lr=1e+30" in line and trial_notes(row) in line
        assert len(line) > 80


def test_a_study_run_by_workers_that_gives_up_says_why_once(synth_voc: Path, tmp_path: Path) -> None:
    diverging_study(tmp_path, synth_voc, "probe-workers")
    finished = sweep(tmp_path, "run", "study.yaml", "--quiet", "--workers", "2")
    output = finished.stdout + finished.stderr
    assert finished.code == 1, output
    assert "Traceback" not in output and "workers failed" not in output
    errors = [line for line in output.splitlines() if "error: " in line]
    assert len(errors) == 1, output
    # A worker may start a new trial while the other's trial, the limit's last, is still running: 2 or 3 fail.
    match = re.fullmatch(
        GAVE_UP.format(name="probe-workers", count=r"(\d)", limit=r"(?: is 2)?", times=r"\1", reason=DIVERGED),
        errors[0],
    )
    assert match, errors[0]
    failed = int(match.group(1))
    assert failed in (2, 3)
    assert (" is 2)" in errors[0]) == (failed == 3)
