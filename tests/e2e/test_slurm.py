"""deploy/slurm/sweep.sbatch, submitted unchanged to a real one-node SLURM cluster, on PostgreSQL and an
`mlflow server` (`.ci/start-services` starts all three and exports SLURM_CONF and SWEEP_TEST_SLURM=1).

Each test submits the project's own script with sbatch, overriding only the array, the CPUs and the memory,
and waits for its tasks with a bounded timeout (its jobs are cancelled whatever the outcome). The checks:
a two-task array shares one study with exact accounting (completed plus pruned trials equal `n_trials`,
one parent run, one child run per trial, nothing RUNNING, no password in any task's log); a task requeued
mid-trial with `scontrol requeue` comes back and resumes its trial from its checkpoint; a task whose step
gets SIGTERM (`scancel --signal=TERM`, as the time limit's `--signal=TERM@120` does) requeues itself
while the other task resumes the trial and finishes the study.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml
from helpers import set_in
from mlflow.tracking import MlflowClient
from optuna.trial import FrozenTrial, TrialState
from processes import sweep_env
from services import mlflow_uri, password_of, postgres_url, required, study_document

from sweep.trials.record import EPOCHS_ATTR, INTERRUPTED_ATTR, RUN_ID_ATTR

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
SBATCH = ROOT / "deploy" / "slurm" / "sweep.sbatch"
EPOCHS = 5
"""Epochs per trial: enough that a trial stopped after its first reported epoch still has epochs to resume."""
JOB_TIMEOUT_S = 300
"""How long a test waits for its job: a requeued task waits about 10 s for the cluster to start it again."""
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL"}


def slurm(*args: str) -> str:
    """The output of a SLURM client command (sbatch, squeue, scontrol, scancel) on the CI cluster."""
    return subprocess.run(list(args), capture_output=True, text=True, check=True, timeout=60).stdout


class SlurmSweep:
    """A study in `folder` and the array job running deploy/slurm/sweep.sbatch on it, submitted from `folder`."""

    def __init__(self, folder: Path, data_root: Path) -> None:
        self.folder = folder
        self.data_root = data_root
        self.name = f"slurm-{uuid.uuid4().hex[:8]}"  # the services outlive the tests: each study its own
        self.storage_url = postgres_url()
        self.tracking_uri = mlflow_uri()
        self.n_trials = 0
        self.job_id = ""

    def submit(self, array: str, *, n_trials: int = 2) -> None:
        """Write the study of `n_trials` and sbatch the script with `--array=array`; the URLs go through the
        environment, never argv."""
        self.n_trials = n_trials
        document = set_in(study_document(self.name, self.data_root, n_trials), ["train", "epochs"], EPOCHS)
        (self.folder / "study.yaml").write_text(yaml.safe_dump(document))
        environment = {
            **sweep_env(SWEEP_STORAGE=self.storage_url, MLFLOW_TRACKING_URI=self.tracking_uri),
            "SEGSWEEP_VENV": str(Path(sys.executable).parent.parent),  # this interpreter's venv, unresolved
            "SEGSWEEP_ENV_FILE": str(self.folder / "absent.env"),  # never the user's ~/.segsweep.env
        }
        submitted = subprocess.run(
            [
                *("sbatch", "--parsable", f"--array={array}", "--cpus-per-task=1", "--mem=2G"),
                *("--export=ALL,STUDY=study.yaml", str(SBATCH)),
            ],
            cwd=self.folder,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        self.job_id = submitted.stdout.strip().split(";")[0]

    def task(self, index: int) -> str:
        return f"{self.job_id}_{index}"

    def queued(self) -> list[str]:
        """The job's array tasks still pending, running or completing."""
        return slurm("squeue", "--noheader", "--array", f"--jobs={self.job_id}", "--format=%i").split()

    def records(self) -> dict[int, dict[str, str]]:
        """`scontrol show job` of each array task, by task index: JobState, ExitCode, Restarts, ..."""
        lines = slurm("scontrol", "show", "job", self.job_id, "--oneliner").splitlines()
        fields = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in lines if line.strip()]
        return {int(record["ArrayTaskId"]): record for record in fields if record["ArrayTaskId"].isdigit()}

    def logs(self) -> dict[int, str]:
        """Each array task's --output file (the script's segsweep-%A_%a.out), by task index."""
        return {
            int(path.stem.rsplit("_", 1)[1]): path.read_text(errors="replace")
            for path in self.folder.glob(f"segsweep-{self.job_id}_*.out")
        }

    def report(self) -> str:
        """What a failed assertion shows: the queue, the tasks' records and the end of each task's log."""
        tails = "\n".join(f"--- task {index}:\n{text[-4000:]}" for index, text in sorted(self.logs().items()))
        return f"queue: {self.queued()}\nrecords: {self.records()}\n{tails}"

    def wait_for_the_end(self, tasks: int) -> dict[int, dict[str, str]]:
        """Block until `tasks` array tasks have left the queue in a final state; their records."""
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while time.monotonic() < deadline:
            records = self.records()
            if not self.queued() and len(records) == tasks:
                if all(record["JobState"] in FINAL_STATES for record in records.values()):
                    return records
            time.sleep(1)
        raise AssertionError(f"job {self.job_id} did not end within {JOB_TIMEOUT_S} s\n{self.report()}")

    def assert_completed(self, records: dict[int, dict[str, str]], index: int, *, restarts: int) -> None:
        """Array task `index` ended COMPLETED with exit code 0, after `restarts` requeues."""
        record = records[index]
        ended = (record["JobState"], record["ExitCode"], record["Restarts"])
        assert ended == ("COMPLETED", "0:0", str(restarts)), f"task {index}: {ended}\n{self.report()}"

    def trials(self) -> list[FrozenTrial]:
        return optuna.load_study(study_name=self.name, storage=self.storage_url).get_trials(deepcopy=False)

    def wait_for_running_trials_with_an_epoch(self, count: int) -> list[FrozenTrial]:
        """Block until `count` trials are RUNNING and have each reported an epoch (read from the storage)."""
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                running = [t for t in self.trials() if t.state == TrialState.RUNNING and t.intermediate_values]
            except KeyError:  # no task has created the study yet
                running = []
            if len(running) >= count:
                return running
            if not self.queued():
                break
            time.sleep(0.3)
        raise AssertionError(f"no {count} running trials with a reported epoch\n{self.report()}")

    def check_whole(self) -> list[FrozenTrial]:
        """The study's accounting, exactly; returns its trials.

        Completed plus pruned trials equal `n_trials`; none is RUNNING or WAITING; a failed one is an
        interrupted attempt whose retry finished. MLflow: one parent run and one child run per trial, all
        FINISHED, each child the run of one finished trial. No task's log holds the database password.
        """
        trials = self.trials()
        finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        assert len(finished) == self.n_trials, [(t.number, t.state) for t in trials]
        assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
        retried = {t.system_attrs.get("failed_trial") for t in finished}
        for failed in [t for t in trials if t.state == TrialState.FAIL]:
            assert INTERRUPTED_ATTR in failed.user_attrs and failed.number in retried, failed.user_attrs

        client = MlflowClient(self.tracking_uri)
        experiment = client.get_experiment_by_name(self.name)
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        (parent,) = [run for run in runs if run.data.tags.get("sweep.role") == "study"]
        children = [run for run in runs if run.data.tags.get("sweep.role") == "trial"]
        assert len(runs) == 1 + self.n_trials and parent.info.status == "FINISHED"
        assert {run.info.run_id for run in children} == {t.user_attrs[RUN_ID_ATTR] for t in finished}
        assert {run.info.status for run in children} == {"FINISHED"}
        assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parent.info.run_id}
        for run in children:  # a resumed trial's run logs each epoch once, as one that never stopped
            steps = sorted(metric.step for metric in client.get_metric_history(run.info.run_id, "val/miou"))
            assert steps == list(range(1, EPOCHS + 1)), run.data.tags

        password = password_of(self.storage_url)
        assert password, "a URL without a password would make the log check meaningless"
        for index, text in self.logs().items():
            assert password not in text, f"task {index}'s log shows the database password"
            assert "Traceback" not in text, text
        return trials


@pytest.fixture
def sweep(synth_voc: Path, tmp_path: Path) -> Iterator[SlurmSweep]:
    """The test's study in `tmp_path`; its job is cancelled at the end, so that a failed test leaves nothing
    running on the cluster."""
    required("SWEEP_TEST_SLURM", how="`.ci/start-services` starts a one-node SLURM cluster and writes it")
    study = SlurmSweep(tmp_path, synth_voc)
    yield study
    if study.job_id and study.queued():
        slurm("scancel", study.job_id)


def test_a_two_task_array_shares_one_study_with_exact_accounting(sweep: SlurmSweep) -> None:
    sweep.submit("0-1", n_trials=4)
    records = sweep.wait_for_the_end(tasks=2)
    for index in (0, 1):
        sweep.assert_completed(records, index, restarts=0)
    trials = sweep.check_whole()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert all(len(t.intermediate_values) == EPOCHS for t in trials)
    logs = sweep.logs()
    assert sorted(logs) == [0, 1]
    for index, text in logs.items():
        assert f"array task {index} on " in text and ", restart 0" in text, text
    ran = {index: set(re.findall(r"^trial #(\d+) COMPLETE", text, re.MULTILINE)) for index, text in logs.items()}
    assert ran[0] and ran[1] and not ran[0] & ran[1], f"both tasks take trials, none twice: {ran}"
    assert ran[0] | ran[1] == {"0", "1", "2", "3"}


def test_a_task_requeued_mid_trial_resumes_the_trial_from_its_checkpoint(sweep: SlurmSweep) -> None:
    sweep.submit("0")
    sweep.wait_for_running_trials_with_an_epoch(1)
    slurm("scontrol", "requeue", sweep.task(0))
    records = sweep.wait_for_the_end(tasks=1)
    sweep.assert_completed(records, 0, restarts=1)

    trials = sweep.check_whole()
    (stopped,) = [t for t in trials if t.state == TrialState.FAIL]
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == stopped.number]
    saved = len(stopped.intermediate_values)
    assert 1 <= saved < EPOCHS and "SIGTERM during epoch" in stopped.user_attrs[INTERRUPTED_ATTR]
    assert retry.state == TrialState.COMPLETE and retry.params == stopped.params
    assert retry.user_attrs[EPOCHS_ATTR] == EPOCHS - saved, "the retry trains only the epochs not saved"
    assert retry.user_attrs[RUN_ID_ATTR] == stopped.user_attrs[RUN_ID_ATTR], "the same MLflow run goes on"
    log = sweep.logs()[0]
    assert f"interrupted: trial {stopped.number} stopped by SIGTERM during epoch {saved + 1}" in log, log
    assert ", restart 1" in log and f"trial #{retry.number} resumes after epoch {saved} " in log, log
    assert "requeueing" not in log, "SLURM requeued the task and stopped the script: it requeues nothing itself"


def test_a_task_stopped_by_sigterm_requeues_itself_and_the_other_finishes_the_study(sweep: SlurmSweep) -> None:
    sweep.submit("0-1")
    sweep.wait_for_running_trials_with_an_epoch(2)  # each task is in the middle of a trial
    # The task that holds the array's own job id: requeueing it by $SLURM_JOB_ID would requeue every task.
    (stopped_index,) = [i for i, record in sweep.records().items() if record["JobId"] == record["ArrayJobId"]]
    other_index = 1 - stopped_index
    slurm("scancel", "--signal=TERM", sweep.task(stopped_index))  # the step only, as --signal=TERM@120 does
    records = sweep.wait_for_the_end(tasks=2)
    sweep.assert_completed(records, stopped_index, restarts=1)
    sweep.assert_completed(records, other_index, restarts=0)

    trials = sweep.check_whole()
    (stopped,) = [t for t in trials if t.state == TrialState.FAIL]
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == stopped.number]
    saved = len(stopped.intermediate_values)
    assert retry.state == TrialState.COMPLETE and retry.user_attrs[EPOCHS_ATTR] == EPOCHS - saved
    logs = sweep.logs()
    stopped_log, other_log = logs[stopped_index], logs[other_index]
    assert f"interrupted: trial {stopped.number} stopped by SIGTERM" in stopped_log, stopped_log
    assert f"requeueing {sweep.task(stopped_index)} to resume its trial" in stopped_log, stopped_log
    # The other task resumes the trial as soon as its own ends; the stopped one is back cred_expire (5 s) or more later.
    assert f"trial #{retry.number} resumes after epoch {saved} " in other_log, other_log
    restarted = stopped_log.split(", restart 1", 1)[1]
    assert "study already has 2 finished trials of 2: nothing to run" in restarted, stopped_log
