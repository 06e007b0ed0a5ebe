"""The bad-input catalogue: each case is a real `sweep` or `trainer` command run in a fresh folder.

A case names what it writes into the folder, the command, the exit code and a pattern its error line must
match. `tests/e2e/test_bad_input.py` runs every case; docs/reliability.md's table is generated from the same
cases by running this file (all cases, or the ids given):

    PYTHONPATH=. python tests/bad_input_cases.py [CASE_ID ...]

and each case checks that its row there still reads as observed, so the table and the test cannot drift.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from helpers import WIDE_LR_SEARCH, set_in, study_document, tiny_train, unmade_data_train
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "reliability.md"
TABLE_START, TABLE_END = "<!-- bad-input table: start -->", "<!-- bad-input table: end -->"
TABLE_HEADER = "| case | input | message (the error line of stderr) | exit | nothing created |\n|---|---|---|---|---|\n"
REGENERATE = "regenerate the table: PYTHONPATH=. python tests/bad_input_cases.py"
"""What to do when the doc's table and the cases disagree."""
VOC = "voc"
"""Where a case's copy of the synthetic data set goes, inside its folder."""

Setup = Callable[[Path, Path], None]
"""(the case's folder, the shared synthetic VOC root) -> None; writes what the case needs."""


@dataclass(frozen=True)
class Case:
    """One bad input: what is written, the command, and what it must answer."""

    id: str
    input: str
    """What is wrong, as the doc's table shows it."""
    argv: tuple[str, ...]
    code: int
    stderr: str
    """A regular expression that the error line (`Observed.error_line`) must match, searched anywhere in it."""
    files: Mapping[str, str] = field(default_factory=dict)
    setup: Setup | None = None
    slow: bool = False
    """The command imports the training stack or MLflow (4-10 s): run with the slow tests."""


@dataclass(frozen=True)
class Observed:
    code: int
    stdout: str
    stderr: str
    error_line: str
    """The first line of stderr, or click's `Error:` line after its usage; the folder and run ids normalised."""


# --- study files ------------------------------------------------------------------------------------------

VALID_STUDY = study_document(
    "bad-input", n_trials=2, train=unmade_data_train(), search=WIDE_LR_SEARCH, sampler=None, pruner=None
)


def study(*changes: tuple[str, Any]) -> dict[str, str]:
    """`study.yaml`: VALID_STUDY with each `(section/key/..., value)` set (`/` paths: search keys hold dots)."""
    document = VALID_STUDY
    for path, value in changes:
        document = set_in(document, path.split("/"), value)
    return {"study.yaml": yaml.safe_dump(document, sort_keys=False)}


def study_text(text: str) -> dict[str, str]:
    return {"study.yaml": text}


def validate(**case: Any) -> Case:
    return Case(argv=("sweep", "validate", "study.yaml"), code=2, **case)


LR = {"type": "float", "low": 0.001, "high": 0.1}

STUDY_CASES = [
    validate(
        id="yaml-syntax",
        input="unclosed `{` in study.yaml",
        files=study_text("study: {name: s\nsearch: {}\n"),
        stderr=r"study\.yaml: invalid YAML at line 2, column 7: expected ',' or '}'",
    ),
    validate(
        id="yaml-tab",
        input="a tab indents a key",
        files=study_text("study:\n\tname: s\n"),
        stderr=r"invalid YAML at line 2, column 1: found character '\\t'",
    ),
    validate(
        id="yaml-duplicate-key",
        input="`n_trials` written twice in `study`",
        files=study_text("study:\n  name: s\n  n_trials: 3\n  n_trials: 4\n"),
        stderr=r"line 4, column 3: duplicate key 'n_trials' \(first on line 3\); keep one of them",
    ),
    validate(
        id="empty-file",
        input="an empty study.yaml",
        files=study_text(""),
        stderr=r"study\.yaml: the file is empty; a study needs a `study` section .* and a `search` section",
    ),
    validate(
        id="top-level-list",
        input="the top level is a list",
        files=study_text("- study\n- search\n"),
        stderr=r"study\.yaml: the top level must be a mapping of keys, got list",
    ),
    validate(
        id="top-level-scalar",
        input="the top level is a string",
        files=study_text("optim.lr\n"),
        stderr=r"the top level must be a mapping of keys, got str",
    ),
    Case(
        id="study-is-a-directory",
        input="a directory given as STUDY.yaml",
        files={"studies/.keep": ""},
        argv=("sweep", "validate", "studies"),
        code=2,
        stderr=r"Invalid value for 'STUDY\.yaml': File 'studies' is a directory",
    ),
    Case(
        id="study-file-missing",
        input="STUDY.yaml does not exist",
        argv=("sweep", "validate", "absent.yaml"),
        code=2,
        stderr=r"absent\.yaml: file not found; check the path",
    ),
    validate(
        id="unknown-top-level-key",
        input="`sweeep:` at the top level",
        files=study(("sweeep", 1)),
        stderr=r"sweeep: unknown key 'sweeep' \(allowed keys: constraints, enqueue, search, study, tracking, train, "
        r"warm_start\)",
    ),
    validate(
        id="unknown-study-key",
        input="`study.n_trails`",
        files=study(("study/n_trails", 3)),
        stderr=r"study\.n_trails: unknown key 'n_trails'; did you mean 'n_trials'\?",
    ),
    validate(
        id="keep-top-k-zero",
        input="`study.keep_top_k: 0`",
        files=study(("study/keep_top_k", 0)),
        stderr=r"study\.keep_top_k: Input should be greater than or equal to 1 \(got 0\)",
    ),
    validate(
        id="keep-checkpoints-unknown",
        input="`study.keep_checkpoints: last`",
        files=study(("study/keep_checkpoints", "last")),
        stderr=r"study\.keep_checkpoints: 'last' is not one of all, best_in_mlflow",
    ),
    validate(
        id="heartbeat-grace-too-short",
        input="`study.heartbeat_grace: 30` with `heartbeat_interval: 60`",
        files=study(("study/heartbeat_grace", 30)),
        stderr=r"study\.heartbeat_grace: 30 s must be longer than heartbeat_interval \(60 s\)",
    ),
    validate(
        id="max-retries-negative",
        input="`study.max_retries: -1`",
        files=study(("study/max_retries", -1)),
        stderr=r"study\.max_retries: Input should be greater than or equal to 0 \(got -1\)",
    ),
    validate(
        id="unknown-train-key",
        input="`train.optim.lrr`",
        files=study(("train/optim", {"lrr": 0.1})),
        stderr=r"train\.optim\.lrr: unknown key 'lrr'; did you mean 'lr'\?",
    ),
    validate(
        id="unknown-distribution-key",
        input="`lg: true` in a float distribution",
        files=study(("search/optim.lr", {**LR, "lg": True})),
        stderr=r"search\.optim\.lr\.lg: unknown key 'lg'; did you mean 'log'\?",
    ),
    validate(
        id="section-not-a-mapping",
        input="`study: 5`",
        files=study(("study", 5)),
        stderr=r"study: Input should be a valid dictionary \(got 5\)",
    ),
    validate(
        id="study-name-missing",
        input="`study:` without `name`",
        files=study(("study", {"n_trials": 2})),
        stderr=r"study\.name: is required",
    ),
    validate(
        id="study-name-not-a-folder-name",
        input="`study.name: a/b`",
        files=study(("study/name", "a/b")),
        stderr=r"study\.name: 'a/b' may use only letters, digits",
    ),
    validate(
        id="n-trials-wrong-type",
        input="`study.n_trials: many`",
        files=study(("study/n_trials", "many")),
        stderr=r"study\.n_trials: Input should be a valid integer.*\(got 'many'\)",
    ),
    validate(
        id="n-trials-zero",
        input="`study.n_trials: 0`",
        files=study(("study/n_trials", 0)),
        stderr=r"study\.n_trials: Input should be greater than or equal to 1 \(got 0\)",
    ),
    validate(
        id="study-timeout-zero",
        input="`study.timeout: 0`",
        files=study(("study/timeout", 0)),
        stderr=r"study\.timeout: Input should be greater than or equal to 1 \(got 0\)",
    ),
    validate(
        id="train-value-wrong-type",
        input="`train.epochs: [1]`",
        files=study(("train/epochs", [1])),
        stderr=r"train\.epochs: Input should be a valid integer \(got \[1\]\)",
    ),
    validate(
        id="train-number-is-a-word",
        input="`train.optim.lr: fast`",
        files=study(("train/optim", {"lr": "fast"})),
        stderr=r"train\.optim\.lr: Input should be a valid number.*\(got 'fast'\)",
    ),
    validate(
        id="distribution-not-a-mapping",
        input="`search: {optim.lr: 0.1}`",
        files=study(("search/optim.lr", 0.1)),
        stderr=r"search\.optim\.lr: must be a mapping with a type \(categorical, float, int\), got 0\.1",
    ),
    validate(
        id="distribution-type-unknown",
        input="`type: uniform`",
        files=study(("search/optim.lr", {**LR, "type": "uniform"})),
        stderr=r"search\.optim\.lr\.type: 'uniform' is not one of categorical, float, int",
    ),
    validate(
        id="choices-empty",
        input="`choices: []`",
        files=study(("search/optim.name", {"type": "categorical", "choices": []})),
        stderr=r"search\.optim\.name: choices is empty; list at least one value",
    ),
    validate(
        id="choices-not-a-list",
        input="`choices: adam`",
        files=study(("search/optim.name", {"type": "categorical", "choices": "adam"})),
        stderr=r"search\.optim\.name\.choices: Input should be a valid list \(got 'adam'\)",
    ),
    validate(
        id="choice-not-allowed",
        input="`choices: [adam, sgdd]` for `optim.name`",
        files=study(("search/optim.name", {"type": "categorical", "choices": ["adam", "sgdd"]})),
        stderr=r"search\.optim\.name\.choices\[1\]: 'sgdd' is not one of adam, adamw, sgd; did you mean 'sgd'\?",
    ),
    validate(
        id="low-above-high",
        input="`low: 0.1, high: 0.001`",
        files=study(("search/optim.lr", {**LR, "low": 0.1, "high": 0.001})),
        stderr=r"search\.optim\.lr: low \(0\.1\) must be below high \(0\.001\)",
    ),
    validate(
        id="log-with-low-zero",
        input="`log: true` with `low: 0`",
        files=study(("search/optim.lr", {**LR, "low": 0, "log": True})),
        stderr=r"search\.optim\.lr: log needs low > 0 \(got low 0\.0\)",
    ),
    validate(
        id="log-with-low-negative",
        input="`log: true` with `low: -0.5`",
        files=study(("search/optim.momentum", {"type": "float", "low": -0.5, "high": 0.9, "log": True})),
        stderr=r"search\.optim\.momentum: log needs low > 0 \(got low -0\.5\)",
    ),
    validate(
        id="int-bound-not-an-integer",
        input="`type: int` with `low: 2.5`",
        files=study(("search/data.batch_size", {"type": "int", "low": 2.5, "high": 8})),
        stderr=r"search\.data\.batch_size\.low: Input should be a valid integer \(got 2\.5\)",
    ),
    validate(
        id="step-does-not-divide-range",
        input="`low: 2, high: 9, step: 2` (int)",
        files=study(("search/data.batch_size", {"type": "int", "low": 2, "high": 9, "step": 2})),
        stderr=r"search\.data\.batch_size: high - low \(7\) is not a multiple of step \(2\)",
    ),
    validate(
        id="range-outside-the-field",
        input="`optim.lr` with `low: -1`",
        files=study(("search/optim.lr", {**LR, "low": -1})),
        stderr=r"search\.optim\.lr\.low: Input should be greater than 0 \(got -1\.0\)",
    ),
    validate(
        id="search-path-with-section-prefix",
        input="`search: {train.optim.lr: ...}`",
        files=study(("search", {"train.optim.lr": LR})),
        stderr=r"search\.train\.optim\.lr: search paths are relative to the train section; write 'optim\.lr'",
    ),
    validate(
        id="search-path-typo",
        input="`search: {optim.lrate: ...}`",
        files=study(("search", {"optim.lrate": LR})),
        stderr=r"search\.optim\.lrate: unknown key 'lrate'; did you mean 'lr'\?",
    ),
    validate(
        id="search-path-is-a-section",
        input="`search: {optim: ...}`",
        files=study(("search", {"optim": LR})),
        stderr=r"search\.optim: names a section, not a value; search one of its keys: optim\.name, optim\.lr",
    ),
    validate(
        id="search-owned-by-the-sweep",
        input="`search: {checkpoint.dir: ...}`",
        files=study(("search", {"checkpoint.dir": {"type": "categorical", "choices": ["a"]}})),
        stderr=r"search\.checkpoint\.dir: the sweep owns checkpoint\.\*",
    ),
    validate(
        id="search-empty",
        input="`search: {}`",
        files=study(("search", {})),
        stderr=r"search: is empty; map at least one TrainConfig path to a distribution, e.g\. optim\.lr:",
    ),
    validate(
        id="enqueue-value-outside-the-search",
        input="`enqueue: [{optim.lr: 0.5}]` with lr in [1e-4, 0.1]",
        files=study(("enqueue", [{"optim.lr": 0.5}])),
        stderr=r"enqueue\[0\]\.optim\.lr: 0\.5 is outside the float in \[0\.0001, 0\.1\], log; change the value",
    ),
    validate(
        id="enqueue-key-not-searched",
        input="`enqueue: [{optim.momentum: 0.9}]`",
        files=study(("enqueue", [{"optim.momentum": 0.9}])),
        stderr=r"enqueue\[0\]\.optim\.momentum: is not searched; a set fixes values of the search's keys \(optim\.lr\)",
    ),
    validate(
        id="warm-start-file-missing",
        input="`warm_start: {from: other.yaml}`, no such file",
        files=study(("warm_start", {"from": "other.yaml"})),
        stderr=r"warm_start\.from: no study file at .*other\.yaml; give the path of the other study's YAML",
    ),
    validate(
        id="constraints-unknown-figure",
        input="`constraints: {latency: {max: 25}}`",
        files=study(("constraints", {"latency": {"max": 25}})),
        stderr=r"constraints\.latency: unknown key 'latency'; did you mean 'latency_ms'\? \(allowed keys: gflops, "
        r"latency_ms, params_m\)",
    ),
    validate(
        id="constraints-max-not-positive",
        input="`constraints: {latency_ms: {max: 0}}`",
        files=study(("constraints", {"latency_ms": {"max": 0}})),
        stderr=r"constraints\.latency_ms\.max: Input should be greater than 0 \(got 0\)",
    ),
    validate(
        id="train-checkpoint-section",
        input="`train.checkpoint` in a study",
        files=study(("train/checkpoint", {"dir": "ck"})),
        stderr=r"train\.checkpoint: the sweep sets each trial's checkpoint folder .*; remove this section",
    ),
    validate(
        id="direction-minimize",
        input="`direction: minimize` (the objective is val mIoU)",
        files=study(("study/direction", "minimize")),
        stderr=r"study\.direction: the objective is val mIoU, which is better when higher, .*set direction: maximize",
    ),
    validate(
        id="direction-typo",
        input="`direction: maximise`",
        files=study(("study/direction", "maximise")),
        stderr=r"study\.direction: 'maximise' is not one of maximize; did you mean 'maximize'\?",
    ),
    validate(
        id="pruner-type-typo",
        input="`pruner: {type: medain}`",
        files=study(("study/pruner", {"type": "medain"})),
        stderr=r"study\.pruner\.type: 'medain' is not one of .*; did you mean 'median'\?",
    ),
    validate(
        id="storage-not-a-database",
        input="`storage: redis://x`",
        files=study(("study/storage", "redis://x")),
        stderr=r"study\.storage: 'redis://x' is not an Optuna database URL; accepted: sqlite:///PATH",
    ),
    validate(
        id="storage-sqlite-two-slashes",
        input="`storage: sqlite:/x.db`",
        files=study(("study/storage", "sqlite:/x.db")),
        stderr=r"study\.storage: 'sqlite:/x\.db': an SQLite URL needs three slashes and a file path",
    ),
    validate(
        id="storage-is-the-tracking-database",
        input="`storage` and `tracking.uri` both `sqlite:///runs/m.db`",
        files=study(("study/storage", "sqlite:///runs/m.db"), ("tracking/uri", "sqlite:///runs/m.db")),
        stderr=r"study\.storage: .* is also tracking\.uri; Optuna's and MLflow's tables clash in one database",
    ),
    validate(
        id="tracking-file-store",
        input="`tracking.uri: ./mlruns`",
        files=study(("tracking/uri", "./mlruns")),
        stderr=r"tracking\.uri: '\./mlruns' is an MLflow file store",
    ),
    validate(
        id="rule-broken-by-a-choice",
        input="`optim.name` choices `[sgd, adam]` with `train.optim.nesterov: true`",
        files=study(
            ("train/optim", {"nesterov": True, "momentum": 0.9}),
            ("search/optim.name", {"type": "categorical", "choices": ["sgd", "adam"]}),
        ),
        stderr=r"search\.optim\.name\.choices\[1\]: optim\.name='adam' .* remove 'adam' from the choices",
    ),
]


# --- the sweep command line ---------------------------------------------------------------------------------


def never_run_storage(folder: Path, synth_voc: Path) -> None:
    """An empty SQLite file where the study's storage would be: it must stay empty (no Optuna tables)."""
    (folder / "runs" / "bad-input").mkdir(parents=True)
    (folder / "runs" / "bad-input" / "optuna.db").touch()


def best_trial_without_its_checkpoint(folder: Path, synth_voc: Path) -> None:
    """A study whose one completed trial names an MLflow run whose `checkpoint/best.pt` was deleted."""
    import optuna

    from sweep.tracking import TrackingStore
    from sweep.trials.record import RUN_ID_ATTR

    store = TrackingStore(f"sqlite:///{folder}/runs/mlflow.db")
    run_id = store.create_run(store.experiment_id("bad-input"), "trial-0", {})
    checkpoint = folder / "best.pt"
    checkpoint.write_bytes(b"weights")
    store.log_artifacts(run_id, [checkpoint], "checkpoint")
    store.end_run(run_id, "FINISHED")
    checkpoint.unlink()
    shutil.rmtree(folder / "runs" / "mlartifacts")  # the artifact is gone
    (folder / "runs" / "bad-input").mkdir()
    storage = f"sqlite:///{folder}/runs/bad-input/optuna.db"
    trial = optuna.trial.create_trial(value=0.5, params={}, distributions={}, user_attrs={RUN_ID_ATTR: run_id})
    optuna.create_study(study_name="bad-input", storage=storage, direction="maximize").add_trial(trial)


def best_trial_off_its_record(folder: Path, synth_voc: Path) -> None:
    """A study whose one completed trial recorded val mIoU 0.9 for a `checkpoint/best.pt` that scores far less.

    Every weight of the checkpoint's network is zero, so all logits are 0 and argmax predicts background
    everywhere: its re-evaluated mIoU is exact, the same number on any machine.
    """
    import optuna
    import torch

    from sweep.tracking import TrackingStore
    from sweep.trials.record import RUN_ID_ATTR
    from trainer import config_from_dict
    from trainer.checkpoint import BEST_NAME, save_checkpoint
    from trainer.components import build_network

    config = config_from_dict(tiny_train(synth_voc))
    network = build_network(config.model, initial_weights=False)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
    checkpoint = save_checkpoint(
        {"epoch": 1, "model": network.state_dict(), "config": config.to_dict(), "metrics": {"val/miou": 0.9}},
        folder / BEST_NAME,
    )
    store = TrackingStore(f"sqlite:///{folder}/runs/mlflow.db")
    run_id = store.create_run(store.experiment_id("bad-input"), "trial-0", {})
    store.log_artifacts(run_id, [checkpoint], "checkpoint")
    store.end_run(run_id, "FINISHED")
    checkpoint.unlink()
    (folder / "runs" / "bad-input").mkdir()
    storage = f"sqlite:///{folder}/runs/bad-input/optuna.db"
    trial = optuna.trial.create_trial(value=0.9, params={}, distributions={}, user_attrs={RUN_ID_ATTR: run_id})
    optuna.create_study(study_name="bad-input", storage=storage, direction="maximize").add_trial(trial)


def study_run_once(folder: Path, synth_voc: Path) -> None:
    """`sweep run study.yaml` in the case's folder: the case's command then reads what the run stored."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("sweep")), "run", "study.yaml", "--quiet"],
        cwd=folder,
        env=command_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def one_measured_trial(*, latency_reliable: bool) -> Setup:
    """A study whose one completed trial measured a MobileNetV3 (11.73 M params, 225.3 ms), its latency
    recorded reliable or not; no MLflow run: the case's command refuses before it would read one."""

    def setup(folder: Path, synth_voc: Path) -> None:
        import optuna

        from sweep.trials.record import NETWORK_COST_ATTR

        cost = {
            "params_m": 11.73,
            "gflops": 0.767,
            "latency_ms": 225.3,
            "measured_on": "cpu float32 513px",
            "latency_spread_ms": 90.0,
            "latency_reliable": latency_reliable,
        }
        (folder / "runs" / "bad-input").mkdir(parents=True)
        storage = f"sqlite:///{folder}/runs/bad-input/optuna.db"
        trial = optuna.trial.create_trial(value=0.5, params={}, distributions={}, user_attrs={NETWORK_COST_ATTR: cost})
        optuna.create_study(study_name="bad-input", storage=storage, direction="maximize").add_trial(trial)

    return setup


def one_failed_trial(folder: Path, synth_voc: Path) -> None:
    """A study whose one trial failed: it exists, but has nothing completed to confirm."""
    import optuna

    (folder / "runs" / "bad-input").mkdir(parents=True)
    storage = f"sqlite:///{folder}/runs/bad-input/optuna.db"
    trial = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params={}, distributions={})
    optuna.create_study(study_name="bad-input", storage=storage, direction="maximize").add_trial(trial)


def registered_model_voc(folder: Path, synth_voc: Path) -> None:
    """An MLflow database in runs/ with the registered model `voc`, version 1 aliased `champion`."""
    from mlflow.tracking import MlflowClient

    (folder / "runs").mkdir()
    client = MlflowClient(f"sqlite:///{folder}/runs/mlflow.db")
    client.create_registered_model("voc")
    version = client.create_model_version("voc", source=str(folder / "runs" / "model"))
    client.set_registered_model_alias("voc", "champion", version.version)
    copy_image(folder, synth_voc)


def copy_image(folder: Path, synth_voc: Path) -> None:
    shutil.copy(sorted((synth_voc / "JPEGImages").glob("*.jpg"))[0], folder / "image.jpg")


SWEEP_CASES = [
    Case(
        id="run-timeout-zero",
        input="`sweep run --timeout 0`",
        files=study(),
        argv=("sweep", "run", "study.yaml", "--timeout", "0"),
        code=2,
        stderr=r"Invalid value for '--timeout': 0 is not in the range x>=1",
    ),
    Case(
        id="run-timeout-not-a-number",
        input="`sweep run --timeout abc`",
        files=study(),
        argv=("sweep", "run", "study.yaml", "--timeout", "abc"),
        code=2,
        stderr=r"Invalid value for '--timeout': 'abc' is not a valid integer",
    ),
    Case(
        id="run-n-trials-zero",
        input="`sweep run --n-trials 0`",
        files=study(),
        argv=("sweep", "run", "study.yaml", "--n-trials", "0"),
        code=2,
        stderr=r"Invalid value for '--n-trials': 0 is not in the range x>=1",
    ),
    Case(
        id="command-without-study",
        input="`sweep status` without STUDY.yaml",
        argv=("sweep", "status"),
        code=2,
        stderr=r"Missing argument 'STUDY\.yaml'",
    ),
    Case(
        id="run-unknown-key",
        input="`sweep run` on a study with `train.optim.lrr`",
        files=study(("train/optim", {"lrr": 0.1})),
        argv=("sweep", "run", "study.yaml"),
        code=2,
        stderr=r"study\.yaml: train\.optim\.lrr: unknown key 'lrr'; did you mean 'lr'\?",
        slow=True,
    ),
    Case(
        id="run-storage-option-not-a-database",
        input="`sweep run --storage redis://x`",
        files=study(),
        argv=("sweep", "run", "study.yaml", "--storage", "redis://x"),
        code=2,
        stderr=r"command line: study\.storage: 'redis://x' is not an Optuna database URL",
        slow=True,
    ),
    Case(
        id="run-data-root-missing",
        input="`sweep run` with `train.data.root` absent and not generated",
        files=study(("train/data", {"root": "data/absent"})),
        argv=("sweep", "run", "study.yaml"),
        code=1,
        stderr=r"data/absent: not a VOC2012 root \(no JPEGImages folder\); run `trainer data download --root DIR`",
        slow=True,
    ),
    Case(
        id="run-artifacts-dir-not-writable",
        input="`sweep run` with `study.artifacts_dir: blocker/trials` where `blocker` is a file",
        files={**study(("study/artifacts_dir", "blocker/trials")), "blocker": "a file, not a folder\n"},
        argv=("sweep", "run", "study.yaml"),
        code=1,
        stderr=r"study\.artifacts_dir blocker/trials: blocker is in the way, not a folder; move it, or point "
        r"study\.artifacts_dir at a folder this user can write",
        slow=True,
    ),
    Case(
        id="status-study-never-run",
        input="`sweep status` before any `sweep run`",
        files=study(),
        argv=("sweep", "status", "study.yaml"),
        code=1,
        stderr=r"study 'bad-input': no storage at sqlite:///.*/runs/bad-input/optuna\.db; run `sweep run study\.yaml` first",
        slow=True,
    ),
    Case(
        id="status-empty-database",
        input="`sweep status` on an empty SQLite file (no tables are created)",
        files=study(),
        setup=never_run_storage,
        argv=("sweep", "status", "study.yaml"),
        code=1,
        stderr=r"study 'bad-input' is not in sqlite:///.*/runs/bad-input/optuna\.db; run `sweep run study\.yaml` first",
        slow=True,
    ),
    Case(
        id="best-study-never-run",
        input="`sweep best` before any `sweep run`",
        files=study(),
        argv=("sweep", "best", "study.yaml"),
        code=1,
        stderr=r"study 'bad-input': no storage at .*; run `sweep run study\.yaml` first",
        slow=True,
    ),
    Case(
        id="best-by-without-front",
        input="`sweep best --by gflops` without `--front`",
        files=study(),
        argv=("sweep", "best", "study.yaml", "--by", "gflops"),
        code=2,
        stderr=r"--by chooses the figure of --front; add --front",
    ),
    Case(
        id="best-front-latency-unreliable",
        input="`sweep best --front` when every completed trial's latency was recorded unreliable",
        files=study(),
        setup=one_measured_trial(latency_reliable=False),
        argv=("sweep", "best", "study.yaml", "--front"),
        code=1,
        stderr=r"study 'bad-input': no completed trial can be ranked by latency_ms: its latency_ms was recorded "
        r"unreliable; rank by another --by figure",
        slow=True,
    ),
    Case(
        id="best-confirmed-never-confirmed",
        input="`sweep best --confirmed` before any `sweep confirm`",
        files=study(),
        setup=one_measured_trial(latency_reliable=True),
        argv=("sweep", "best", "study.yaml", "--confirmed"),
        code=1,
        stderr=r"study 'bad-input' was never confirmed; run `sweep confirm study\.yaml`",
        slow=True,
    ),
    Case(
        id="confirm-top-zero",
        input="`sweep confirm --top 0`",
        files=study(),
        argv=("sweep", "confirm", "study.yaml", "--top", "0"),
        code=2,
        stderr=r"Invalid value for '--top': 0 is not in the range x>=1",
    ),
    Case(
        id="confirm-seeds-zero",
        input="`sweep confirm --seeds 0`",
        files=study(),
        argv=("sweep", "confirm", "study.yaml", "--seeds", "0"),
        code=2,
        stderr=r"Invalid value for '--seeds': 0 is not in the range x>=1",
    ),
    Case(
        id="confirm-no-completed-trial",
        input="`sweep confirm` on a study whose one trial failed",
        files=study(),
        setup=one_failed_trial,
        argv=("sweep", "confirm", "study.yaml"),
        code=1,
        stderr=r"study 'bad-input' has no completed trial yet \(copies from a warm start have no model here\); run "
        r"`sweep run study\.yaml` until one completes; then confirm it",
        slow=True,
    ),
    Case(
        id="report-study-never-run",
        input="`sweep report` before any `sweep run`",
        files=study(),
        argv=("sweep", "report", "study.yaml"),
        code=1,
        stderr=r"study 'bad-input': no storage at .*; run `sweep run study\.yaml` first",
        slow=True,
    ),
    Case(
        id="report-unknown-key",
        input="`sweep report` on a study with `train.optim.lrr`",
        files=study(("train/optim", {"lrr": 0.1})),
        argv=("sweep", "report", "study.yaml"),
        code=2,
        stderr=r"study\.yaml: train\.optim\.lrr: unknown key 'lrr'; did you mean 'lr'\?",
        slow=True,
    ),
    Case(
        id="promote-study-never-run",
        input="`sweep promote` before any `sweep run`",
        files=study(),
        argv=("sweep", "promote", "study.yaml"),
        code=1,
        stderr=r"study 'bad-input': no storage at .*; run `sweep run study\.yaml` first",
        slow=True,
    ),
    Case(
        id="promote-checkpoint-gone",
        input="`sweep promote` when the best trial's `checkpoint/best.pt` was deleted from MLflow",
        files=study(),
        setup=best_trial_without_its_checkpoint,
        argv=("sweep", "promote", "study.yaml"),
        code=1,
        stderr=r"best trial #0: its checkpoint runs:/RUN_ID/checkpoint/best\.pt cannot be read .*; nothing was "
        r"registered\. Restore the run's artifacts",
        slow=True,
    ),
    Case(
        id="promote-candidate-off-record",
        input="`sweep promote` when the best trial's checkpoint re-evaluates far from its recorded val mIoU",
        files=study(),
        setup=best_trial_off_its_record,
        argv=("sweep", "promote", "study.yaml"),
        code=1,
        stderr=r"trial #0: its checkpoint re-evaluates to val mIoU [\d.]+, but the study recorded 0\.9000 \(a "
        r"difference over 0\.005\); nothing was promoted\. .* or pass --force to promote anyway",
        slow=True,
    ),
    Case(
        id="promote-no-feasible-trial",
        input="`sweep promote` after a study whose one trial broke `constraints: {params_m: {max: 1}}`",
        files=study(("study/n_trials", 1), ("constraints", {"params_m": {"max": 1}})),
        setup=study_run_once,
        argv=("sweep", "promote", "study.yaml"),
        code=1,
        stderr=r"study 'bad-input' has no completed trial: its networks broke the study's constraints before "
        r"training \(trials #0; .*\); loosen the constraints or search networks that keep them",
        slow=True,
    ),
    Case(
        id="promote-budget-not-positive",
        input="`sweep promote --max-latency-ms 0`",
        files=study(),
        argv=("sweep", "promote", "study.yaml", "--max-latency-ms", "0"),
        code=2,
        stderr=r"Invalid value for '--max-latency-ms': 0\.0 is not in the range x>0",
    ),
    Case(
        id="promote-nothing-within-budget",
        input="`sweep promote --max-params-m 5` when the smallest network has 11.73 M params",
        files=study(),
        setup=one_measured_trial(latency_reliable=True),
        argv=("sweep", "promote", "study.yaml", "--max-params-m", "5"),
        code=1,
        stderr=r"study 'bad-input' has no completed trial within --max-params-m 5: the cheapest params_m is 11\.73 "
        r"\(trial #0\); raise the budget or run networks that fit it",
        slow=True,
    ),
    Case(
        id="predict-no-mlflow-database",
        input="`sweep predict --model models:/voc@champion` with no MLflow database",
        setup=copy_image,
        argv=("sweep", "predict", "--model", "models:/voc@champion", "image.jpg", "--out", "out"),
        code=1,
        stderr=r"models:/voc@champion: cannot download the model: no MLflow database at runs/mlflow\.db; pass "
        r"--tracking-uri",
        slow=True,
    ),
    Case(
        id="predict-unknown-alias",
        input="`sweep predict --model models:/voc@nope` (no such alias)",
        setup=registered_model_voc,
        argv=("sweep", "predict", "--model", "models:/voc@nope", "image.jpg", "--out", "out"),
        code=1,
        stderr=r"models:/voc@nope: cannot download the model \(.*nope.*\)",
        slow=True,
    ),
    Case(
        id="predict-unknown-model",
        input="`sweep predict --model models:/vco@champion` (no such model)",
        setup=registered_model_voc,
        argv=("sweep", "predict", "--model", "models:/vco@champion", "image.jpg", "--out", "out"),
        code=1,
        stderr=r"models:/vco@champion: cannot download the model \(.*vco.*\)",
        slow=True,
    ),
    Case(
        id="sweep-predict-not-an-image",
        input="`sweep predict` on a text file",
        files={"notes.txt": "not an image\n"},
        argv=("sweep", "predict", "--model", "models:/voc@champion", "notes.txt", "--out", "out"),
        code=1,
        stderr=r"notes\.txt: not an image \(cannot identify image file .*\); pass JPEG or PNG files",
        slow=True,
    ),
]


# --- data and the trainer command line ------------------------------------------------------------------


def damaged_voc(damage: Callable[[Path, list[str]], None]) -> Setup:
    """Copy the synthetic root to `voc/` in the case's folder, then `damage(root, train ids)` it."""

    def setup(folder: Path, synth_voc: Path) -> None:
        root = Path(shutil.copytree(synth_voc, folder / VOC))
        damage(root, (root / "ImageSets" / "Segmentation" / "train.txt").read_text().split())

    return setup


def corrupt_first_image(root: Path, ids: list[str]) -> None:
    path = root / "JPEGImages" / f"{ids[0]}.jpg"
    data = bytearray(path.read_bytes())
    data[400:600] = bytes(200)
    path.write_bytes(bytes(data))


def truncate_first_image(root: Path, ids: list[str]) -> None:
    path = root / "JPEGImages" / f"{ids[0]}.jpg"
    path.write_bytes(path.read_bytes()[:-200])


def remove_first_image(root: Path, ids: list[str]) -> None:
    (root / "JPEGImages" / f"{ids[0]}.jpg").unlink()


def _rewrite_first_mask(root: Path, ids: list[str], change: Callable[[np.ndarray], np.ndarray]) -> None:
    from trainer.data.voc import voc_palette

    path = root / "SegmentationClass" / f"{ids[0]}.png"
    with Image.open(path) as image:
        labels = change(np.array(image))
    mask = Image.fromarray(labels, mode="P")
    mask.putpalette(voc_palette())
    mask.save(path)


def label_50_in_first_mask(root: Path, ids: list[str]) -> None:
    def with_label_50(labels: np.ndarray) -> np.ndarray:
        labels[0, 0] = 50
        return labels

    _rewrite_first_mask(root, ids, with_label_50)


def crop_first_mask(root: Path, ids: list[str]) -> None:
    _rewrite_first_mask(root, ids, lambda labels: np.ascontiguousarray(labels[:-3]))


def train_config(folder: Path, synth_voc: Path) -> None:
    """`train.yaml`: the tiny training config on the shared synthetic root, checkpointing to `ck/`."""
    (folder / "train.yaml").write_text(yaml.safe_dump(tiny_train(synth_voc, checkpoint={"dir": "ck"})))


def train_config_on_a_copy(folder: Path, synth_voc: Path, damage: Callable[[Path, list[str]], None]) -> None:
    """`train.yaml` on a damaged copy of the synthetic root in `voc/`."""
    damaged_voc(damage)(folder, synth_voc)
    (folder / "train.yaml").write_text(yaml.safe_dump(tiny_train(Path(VOC), checkpoint={"dir": "ck"})))


FIRST = "synth_000000"
"""The first ID of the synthetic train split, which the data cases damage."""

TRAINER_CASES = [
    Case(
        id="data-root-missing",
        input="`trainer data check` on a folder that does not exist",
        argv=("trainer", "data", "check", "data/voc", "--split", "train"),
        code=1,
        stderr=r"data/voc: not a VOC2012 root \(no JPEGImages folder\); run `trainer data download --root DIR`",
        slow=True,
    ),
    Case(
        id="data-split-unknown",
        input="`trainer data check --split tran`",
        argv=("trainer", "data", "check", "data/voc", "--split", "tran"),
        code=2,
        stderr=r"Invalid value for '--split': 'tran' is not one of 'train', 'trainaug', 'trainval', 'val'",
        slow=True,
    ),
    Case(
        id="data-listed-image-missing",
        input="train.txt lists an image that is not in JPEGImages",
        setup=damaged_voc(remove_first_image),
        argv=("trainer", "data", "check", VOC, "--split", "train"),
        code=1,
        stderr=rf"voc/JPEGImages/{FIRST}\.jpg: listed in train\.txt but missing; restore it or remove {FIRST} from "
        r"train\.txt",
        slow=True,
    ),
    Case(
        id="data-corrupt-jpeg",
        input="a JPEG with 200 zeroed bytes",
        setup=damaged_voc(corrupt_first_image),
        argv=("trainer", "data", "check", VOC, "--split", "train", "--split", "val"),
        code=1,
        stderr=rf"voc/JPEGImages/{FIRST}\.jpg: corrupt or unreadable image \(.*\); re-download or regenerate it",
        slow=True,
    ),
    Case(
        id="data-truncated-jpeg",
        input="a JPEG missing its last 200 bytes",
        setup=damaged_voc(truncate_first_image),
        argv=("trainer", "data", "check", VOC, "--split", "train"),
        code=1,
        stderr=rf"voc/JPEGImages/{FIRST}\.jpg: corrupt or unreadable image \(image file is truncated.*\)",
        slow=True,
    ),
    Case(
        id="data-mask-label-out-of-range",
        input="a mask holding label 50",
        setup=damaged_voc(label_50_in_first_mask),
        argv=("trainer", "data", "check", VOC, "--split", "train"),
        code=1,
        stderr=rf"voc/SegmentationClass/{FIRST}\.png: mask holds labels \[50\] outside 0\.\.20 and 255",
        slow=True,
    ),
    Case(
        id="data-mask-size-mismatch",
        input="a mask 3 rows shorter than its image",
        setup=damaged_voc(crop_first_mask),
        argv=("trainer", "data", "check", VOC, "--split", "train"),
        code=1,
        stderr=rf"voc/SegmentationClass/{FIRST}\.png: mask is \(\d+, \d+\) \(H, W\) but its image is \(\d+, \d+\); "
        r"image and mask must have the same size",
        slow=True,
    ),
    Case(
        id="train-listed-image-missing",
        input="`trainer train` when train.txt lists a missing image",
        setup=lambda folder, synth_voc: train_config_on_a_copy(folder, synth_voc, remove_first_image),
        argv=("trainer", "train", "train.yaml"),
        code=1,
        stderr=rf"voc/JPEGImages/{FIRST}\.jpg: 1 ID\(s\) listed in train\.txt have no image file \(first: {FIRST}\); "
        r"remove them from the split file or restore the files",
        slow=True,
    ),
    Case(
        id="train-config-missing",
        input="`trainer train absent.yaml`",
        argv=("trainer", "train", "absent.yaml"),
        code=2,
        stderr=r"absent\.yaml: file not found; check the path",
        slow=True,
    ),
    Case(
        id="train-set-unknown-key",
        input="`trainer train --set optim.lrr=0.1`",
        setup=train_config,
        argv=("trainer", "train", "train.yaml", "--set", "optim.lrr=0.1"),
        code=2,
        stderr=r"--set: optim\.lrr: unknown key 'lrr'; did you mean 'lr'\?",
        slow=True,
    ),
    Case(
        id="trainer-cost-unknown-backbone",
        input="`trainer cost --set model.backbone=resnet18`",
        setup=train_config,
        argv=("trainer", "cost", "train.yaml", "--set", "model.backbone=resnet18"),
        code=2,
        stderr=r"--set: model\.backbone: 'resnet18' is not one of mobilenet_v3_large, resnet101, resnet50",
        slow=True,
    ),
    Case(
        id="trainer-predict-not-an-image",
        input="`trainer predict` on a text file",
        files={"notes.txt": "not an image\n"},
        argv=("trainer", "predict", "--model", "best.pt", "notes.txt", "--out", "out"),
        code=1,
        stderr=r"notes\.txt: not an image \(cannot identify image file .*\); pass JPEG or PNG files",
        slow=True,
    ),
    Case(
        id="trainer-predict-model-uri",
        input="`trainer predict --model models:/voc@champion`",
        setup=copy_image,
        argv=("trainer", "predict", "--model", "models:/voc@champion", "image.jpg", "--out", "out"),
        code=1,
        stderr=r"models:/voc@champion: a model URI, not a checkpoint file; `sweep predict --model "
        r"models:/voc@champion` resolves registered models",
        slow=True,
    ),
    Case(
        id="trainer-predict-checkpoint-missing",
        input="`trainer predict --model absent.pt`",
        setup=copy_image,
        argv=("trainer", "predict", "--model", "absent.pt", "image.jpg", "--out", "out"),
        code=1,
        stderr=r"absent\.pt: no checkpoint file there",
        slow=True,
    ),
]

CASES: list[Case] = [*STUDY_CASES, *SWEEP_CASES, *TRAINER_CASES]


# --- running a case -------------------------------------------------------------------------------------------


SQLITE_SIDECARS = ("-wal", "-shm", ".init-lock")
"""Files SQLite (write-ahead log, shared memory) and our creation lock keep beside a database: mechanics, not data."""


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under `folder` with its content's hash ("dir" for folders): what "nothing created" compares.

    An SQLite database is compared by its rows, not its bytes: merely opening a database in WAL mode folds
    the log into the file, which changes its bytes but not one row.
    """
    return {
        str(path.relative_to(folder)): _fingerprint(path)
        for path in sorted(folder.rglob("*"))
        if not path.name.endswith(SQLITE_SIDECARS)
    }


def _fingerprint(path: Path) -> str:
    if path.is_dir():
        return "dir"
    if path.suffix == ".db":
        with closing(sqlite3.connect(path)) as connection:
            return hashlib.sha256("\n".join(connection.iterdump()).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare(case: Case, folder: Path, synth_voc: Path) -> None:
    """Write the case's files into `folder` and run its setup."""
    for name, text in case.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    if case.setup is not None:
        case.setup(folder, synth_voc)


def run(case: Case, folder: Path, scratch: Path) -> Observed:
    """Run the case's command in `folder` as a subprocess, with `scratch` as its temporary directory."""
    command = [str(Path(sys.executable).with_name(case.argv[0])), *case.argv[1:]]
    env = {**command_environment(), "TMPDIR": str(scratch)}
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    return Observed(done.returncode, done.stdout, done.stderr, error_line(done.stderr, folder))


def command_environment() -> dict[str, str]:
    """This process's environment without MLflow and sweep settings, with the repository importable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "SWEEP_"))}
    env.update(PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]))
    return env


def error_line(stderr: str, folder: Path) -> str:
    """The first line of stderr (for click's usage errors, which start with `Usage:`, the `Error:` line)."""
    lines = [line for line in stderr.splitlines() if line.strip()] or [""]
    line = (
        next((line for line in lines if line.startswith("Error: ")), lines[0])
        if stderr.startswith("Usage:")
        else lines[0]
    )
    for spelling in {str(folder.resolve()), str(folder)}:
        line = line.replace(spelling, "$PWD")
    return re.sub(r"\b[0-9a-f]{32}\b", "RUN_ID", line)


# --- the doc's table ------------------------------------------------------------------------------------------


def table_row(case: Case, line: str) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    return f"| `{case.id}` | {cell(case.input)} | {cell(line)} | {case.code} | yes |"


def documented_rows(doc: Path = DOC) -> dict[str, str]:
    """The table's rows in docs/reliability.md by case id."""
    text = doc.read_text(encoding="utf-8")
    table = text[text.index(TABLE_START) : text.index(TABLE_END)]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {row.split("`")[1]: row for row in rows}


def write_table(rows: list[str], doc: Path = DOC) -> None:
    text = doc.read_text(encoding="utf-8")
    head, rest = text.split(TABLE_START)
    _, tail = rest.split(TABLE_END)
    doc.write_text(f"{head}{TABLE_START}\n{TABLE_HEADER}" + "\n".join(rows) + f"\n{TABLE_END}{tail}", encoding="utf-8")


def main(only: list[str]) -> None:
    """Run the cases (`only` these ids, if any) and rewrite their rows in docs/reliability.md's table.

    All 80-odd take about four minutes on two cores.
    """
    from trainer.data.synth import synthesize

    unknown = set(only) - {case.id for case in CASES}
    if unknown:
        raise SystemExit(f"no such case: {', '.join(sorted(unknown))}")
    rows = documented_rows() if only else {}
    with tempfile.TemporaryDirectory(prefix="bad-input-") as scratch_dir:
        scratch = Path(scratch_dir)
        synth_voc = synthesize(scratch / "synth_voc" / "VOC2012", train=8, val=4, size=64, seed=0)
        for case in CASES:
            if only and case.id not in only:
                continue
            folder, temporary = scratch / "cases" / case.id, scratch / "tmp" / case.id
            folder.mkdir(parents=True)
            temporary.mkdir(parents=True)
            prepare(case, folder, synth_voc)
            observed = run(case, folder, temporary)
            if observed.code != case.code or not re.search(case.stderr, observed.error_line):
                print(f"{case.id} does not pass: exit {observed.code}\n{observed.stderr}", file=sys.stderr)
            rows[case.id] = table_row(case, observed.error_line)
            print(rows[case.id])
    write_table([rows[case.id] for case in CASES if case.id in rows])


if __name__ == "__main__":
    main(sys.argv[1:])
