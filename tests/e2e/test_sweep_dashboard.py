"""`sweep dashboard` serves optuna-dashboard on a study's storage, over HTTP on 127.0.0.1, also while the study
is written to.

The study is made directly in its SQLite storage (no training: the board reads Optuna's records only). The
hazard of optuna-dashboard#545, a board opened on a running SQLite study failing the study's writes with
"database is locked", is exercised by writing trials the way a worker does while the board is read without
pause: every write must land, and the board must show each of them (it caches a study's trials for 2 s).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import optuna
import pytest
import yaml
from helpers import study_document, unmade_data_train
from services import free_port, sweep_command, unavailable

from sweep.storage.rdb import build_storage

pytestmark = pytest.mark.slow

NAME = "board"
FINISHED_TRIALS = 3
WRITTEN_WHILE_READ = 40
MIN_READS_WHILE_WRITTEN = 6
"""Reads of the board that must happen while trials are written: the writer goes on until they have."""


@pytest.fixture(scope="module")
def storage_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A study of `FINISHED_TRIALS` completed trials in a SQLite file of its own."""
    if importlib.util.find_spec("optuna_dashboard") is None:
        unavailable("optuna-dashboard is not installed: pip install 'segsweep[dashboard]'")
    url = f"sqlite:///{tmp_path_factory.mktemp('board')}/optuna.db"
    study = optuna.create_study(study_name=NAME, storage=build_storage(url), direction="maximize")
    for number in range(FINISHED_TRIALS):
        study.enqueue_trial({"optim.lr": 0.01 * (number + 1)})
        study.optimize(lambda trial: trial.suggest_float("optim.lr", 0.01, 0.05), n_trials=1)
    return url


@pytest.fixture(scope="module")
def board(storage_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`sweep dashboard` running on the study; yields its base URL."""
    folder = tmp_path_factory.mktemp("board-cwd")
    document = study_document(NAME, n_trials=FINISHED_TRIALS, train=unmade_data_train())
    (folder / "study.yaml").write_text(yaml.safe_dump(document))
    port = free_port()
    environment = {**os.environ, "SWEEP_STORAGE": storage_url}
    process = subprocess.Popen(
        [*sweep_command(), "dashboard", "study.yaml", "--port", str(port)],
        cwd=folder,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"{base}/api/meta"):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate(timeout=10)[0]
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        assert output.startswith(f"optuna-dashboard for study 'board': {base}/dashboard (Ctrl-C stops it)\n"), output


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        document: dict[str, Any] = json.loads(response.read())
        return document


def study_id(base: str) -> int:
    studies = get_json(f"{base}/api/studies")["study_summaries"]
    assert [study["study_name"] for study in studies] == [NAME]
    return int(studies[0]["study_id"])


def test_the_board_serves_the_finished_study(board: str) -> None:
    with urllib.request.urlopen(f"{board}/dashboard", timeout=30) as response:
        assert response.status == 200 and b"<html" in response.read().lower()
    trials = get_json(f"{board}/api/studies/{study_id(board)}")["trials"]
    assert [trial["state"] for trial in trials] == ["Complete"] * FINISHED_TRIALS
    assert [trial["params"][0]["param_internal_value"] for trial in trials] == pytest.approx([0.01, 0.02, 0.03])


def test_a_study_written_to_while_the_board_reads_loses_no_write(board: str, storage_url: str) -> None:
    study_url = f"{board}/api/studies/{study_id(board)}"
    stop, reads, failures = threading.Event(), [], []
    written = 0

    def read_without_pause() -> None:
        while not stop.is_set():
            try:
                reads.append(len(get_json(study_url)["trials"]))
            except OSError as error:
                failures.append(error)

    reader = threading.Thread(target=read_without_pause)
    reader.start()
    try:
        worker = optuna.load_study(study_name=NAME, storage=build_storage(storage_url))
        # Write until the board has been read several times meanwhile, however slow its answers are.
        while written < WRITTEN_WHILE_READ or len(reads) < MIN_READS_WHILE_WRITTEN:
            worker.optimize(lambda trial: trial.suggest_float("optim.lr", 0.01, 0.05), n_trials=1)
            written += 1
    finally:
        stop.set()
        reader.join(timeout=60)
    assert failures == [] and len(reads) >= MIN_READS_WHILE_WRITTEN, f"{len(reads)} reads, failures: {failures[:3]}"
    deadline = time.monotonic() + 30  # the board caches a study's trials for a few seconds
    while len(get_json(study_url)["trials"]) < FINISHED_TRIALS + written and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(get_json(study_url)["trials"]) == FINISHED_TRIALS + written
