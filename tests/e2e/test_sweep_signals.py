"""Killed, preempted and interrupted sweeps, for real: a `sweep run` subprocess, real signals, then a rerun.

Each test stops a trial in the middle of its second epoch and checks what the issue asks of it: the exit
code, one line that says how to resume and no traceback, what Optuna and MLflow recorded, and that the
next `sweep run` resumes the trial from its last checkpoint and ends the study whole: completed plus
pruned trials equal `n_trials`, and nothing is left RUNNING in Optuna or MLflow.
"""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import optuna
import pytest
import yaml
from helpers import study_document, tiny_train
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState
from processes import LiveProcess, sweep_env
from services import postgres_url

pytestmark = pytest.mark.slow

EPOCHS = 4
N_TRIALS = 1
SECOND_EPOCH = r"trial #0 epoch 1/4"  # printed when epoch 1 ends: the trial is then in epoch 2


class Study:
    """A one-trial study of four tiny epochs in `folder`, on the embedded default or a given storage."""

    def __init__(self, folder: Path, data_root: Path, storage: str | None = None) -> None:
        self.folder = folder
        self.name = f"sig-{uuid.uuid4().hex[:8]}"
        self.storage = storage or f"sqlite:///{folder}/runs/{self.name}/optuna.db"
        self.file = folder / "study.yaml"
        document = study_document(self.name, n_trials=N_TRIALS, train=tiny_train(data_root, epochs=EPOCHS))
        self.file.write_text(yaml.safe_dump(document))
        self.env = sweep_env(SWEEP_STORAGE=self.storage)

    def start(self) -> LiveProcess:
        return LiveProcess(["run", str(self.file), "--quiet"], self.folder, self.env)

    def trials(self) -> list[FrozenTrial]:
        return optuna.load_study(study_name=self.name, storage=self.storage).trials

    def client(self) -> MlflowClient:
        return MlflowClient(f"sqlite:///{self.folder}/runs/mlflow.db")

    def runs(self) -> list[object]:
        client = self.client()
        experiment = client.get_experiment_by_name(self.name)
        assert experiment is not None
        return list(client.search_runs([experiment.experiment_id]))

    def check_whole(self) -> None:
        """Completed + pruned == n_trials; nothing RUNNING or WAITING; every run ended; each epoch logged once."""
        trials = self.trials()
        assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == N_TRIALS
        assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
        client = self.client()
        for run in self.runs():
            assert run.info.status != "RUNNING", run.data.tags  # type: ignore[attr-defined]
        for trial in trials:
            if trial.state == TrialState.COMPLETE:
                history = client.get_metric_history(trial.user_attrs["mlflow_run_id"], "val/miou")
                assert sorted(metric.step for metric in history) == list(range(1, EPOCHS + 1))
                assert sorted(trial.intermediate_values) == list(range(1, EPOCHS + 1))


def rerun_resumes(study: Study, stopped: FrozenTrial) -> str:
    """Run the study again; its first trial is the stopped one's retry, resumed after epoch 1."""
    rerun = study.start()
    code = rerun.finish()
    output = rerun.output
    assert code == 0, output
    assert "resumes after epoch 1" in output, output
    retry = next(t for t in study.trials() if t.system_attrs.get("failed_trial") == stopped.number)
    assert retry.state == TrialState.COMPLETE and retry.params == stopped.params
    assert retry.user_attrs["mlflow_run_id"] == stopped.user_attrs["mlflow_run_id"], "the same MLflow run goes on"
    study.check_whole()
    return output


@pytest.mark.parametrize(("signal_number", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_trial_and_the_rerun_resumes_it(
    synth_voc: Path, tmp_path: Path, signal_number: int, exit_code: int
) -> None:
    study = Study(tmp_path, synth_voc)
    sweep = study.start()
    sweep.wait_for(SECOND_EPOCH)
    sent = time.monotonic()
    sweep.send(signal_number)
    assert sweep.finish(timeout=60) == exit_code, sweep.output
    assert time.monotonic() - sent < 30, "stops within a training step (plus MLflow's bookkeeping)"
    output = sweep.output
    assert "Traceback" not in output, output
    name = signal.Signals(signal_number).name
    (line,) = [line for line in output.splitlines() if line.startswith("interrupted:")]
    assert f"{name} during epoch 2" in line and f"run `sweep run {study.file}` to resume it at epoch 2" in line

    (stopped, queued) = study.trials()
    assert stopped.state == TrialState.FAIL and f"{name} during epoch 2" in stopped.user_attrs["interrupted"]
    assert queued.state == TrialState.WAITING and queued.system_attrs["failed_trial"] == 0
    assert queued.intermediate_values == {1: stopped.intermediate_values[1]}, "epoch 1's report is kept"
    client = study.client()
    run = client.get_run(stopped.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED" and f"{name} during epoch 2" in run.data.tags["interrupted"]
    parent = next(r for r in study.runs() if r.data.tags["sweep.role"] == "study")  # type: ignore[attr-defined]
    assert parent.info.status == "KILLED"  # type: ignore[attr-defined]

    if signal_number == signal.SIGTERM:  # the same path for both; one rerun shows the resume
        output = rerun_resumes(study, stopped)
        assert "trial #1 epoch 2/4" in output and "trial #1 epoch 1/4" not in output, "epoch 1 is not trained again"


def test_a_second_ctrl_c_exits_at_once_and_the_rerun_resumes(synth_voc: Path, tmp_path: Path) -> None:
    study = Study(tmp_path, synth_voc)
    sweep = study.start()
    sweep.wait_for(SECOND_EPOCH)
    sweep.send(signal.SIGINT)
    sweep.wait_for("SIGINT: stopping after the current step")
    sweep.send(signal.SIGINT)
    assert sweep.finish(timeout=30) == 130, sweep.output
    assert "Traceback" not in sweep.output
    (stopped,) = [t for t in study.trials() if t.number == 0]
    # The second signal lands while the first stop is being recorded, or just after: either the trial is
    # RUNNING with a dead pid, which the rerun recognises at once, or its stop and retry are recorded.
    # `tests/e2e/test_interrupt.py` checks the immediate exit itself on a process that cannot stop early.
    assert stopped.state in (TrialState.RUNNING, TrialState.FAIL)
    rerun_resumes(study, stopped)


def kill_then_rerun(study: Study) -> None:
    sweep = study.start()
    sweep.wait_for(SECOND_EPOCH)
    sweep.kill()
    assert sweep.finish(timeout=30) == -signal.SIGKILL
    (killed,) = study.trials()
    assert killed.state == TrialState.RUNNING, "nothing ran to record it"
    started = time.monotonic()
    output = rerun_resumes(study, killed)
    assert "trial #1 epoch 2/4" in output and "trial #1 epoch 1/4" not in output
    assert time.monotonic() - started < 180, "recognised at once, not after the heartbeat's grace period"
    (dead, *_) = study.trials()
    assert dead.state == TrialState.FAIL and dead.intermediate_values == {1: killed.intermediate_values[1]}


def test_kill_9_then_an_immediate_rerun_resumes_the_trial(synth_voc: Path, tmp_path: Path) -> None:
    kill_then_rerun(Study(tmp_path, synth_voc))


@pytest.mark.postgres
def test_sigterm_and_kill_9_on_postgresql(synth_voc: Path, tmp_path: Path) -> None:
    url = postgres_url()
    for folder in ("killed", "preempted"):
        (tmp_path / folder).mkdir()
    kill_then_rerun(Study(tmp_path / "killed", synth_voc, storage=url))

    preempted = Study(tmp_path / "preempted", synth_voc, storage=url)
    sweep = preempted.start()
    sweep.wait_for(SECOND_EPOCH)
    sweep.send(signal.SIGTERM)
    assert sweep.finish(timeout=60) == 143, sweep.output
    (stopped, _queued) = preempted.trials()
    rerun_resumes(preempted, stopped)
