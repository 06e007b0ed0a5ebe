"""Opening a study on its Optuna storage and running its trials until the study's budget is taken.

`n_trials` is the study's total over every worker, host and rerun (`sweep.trials.budget` shares it through the
storage alone). The storage is Optuna's RDB storage (SQLite on one machine, PostgreSQL across hosts; see
`sweep.storage.rdb`), with heartbeats so that the trials of a killed worker are failed and queued again
(`sweep.trials.retries`) instead of staying RUNNING forever.

A first SIGINT or SIGTERM stops the trial in progress after its current step; its retry is queued and
`StudyInterrupted` (exit code 130 or 143) says how to resume. A second one exits at once.

`prepare_study` does everything that must exist before trials run, once: the tables, the study, the
generated data and MLflow's experiment and parent run. `sweep run --workers N` calls it in the parent
before starting workers; each worker (and a plain `sweep run`) then calls `run_study`.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import yaml

from sweep.errors import StudyGaveUpError
from sweep.results.front_pages import write_front_pages
from sweep.results.plots import write_plots, write_trials_csv
from sweep.results.report import write_report
from sweep.run.objective import TrialFailed, TrialInterrupted, TrialObjective
from sweep.run.progress import SweepProgress
from sweep.run.seeding import SeedReport, seed_study
from sweep.run.streams import WorkerSampler
from sweep.spec.confirm import confirm_options
from sweep.spec.samplers import build_pruner, build_sampler
from sweep.spec.study_file import StudySpec
from sweep.storage.preflight import check_services
from sweep.storage.rdb import Heartbeat, build_storage
from sweep.tracking import StudyTracker, mark_parent_pending
from sweep.trials.budget import SurplusTrial, TrialBudget, quiet_trial_failures
from sweep.trials.disk import CheckpointCleaner, remove_failed_chain_folders
from sweep.trials.failures import failure_reasons, summarise_failures
from sweep.trials.folders import check_artifacts_dir, ensure_namespace
from sweep.trials.own_trials import own_best_value
from trainer.data.provision import check_data_present, dataset_tags
from trainer.errors import ConfigError
from trainer.interrupt import Interrupted, StopRequest, signal_name

PARENT_RUN_WAIT_S = 300
"""How long after a study's creation other processes wait for its creator to record the parent run."""


class StudyInterrupted(Interrupted):
    """`sweep run` stopped on SIGINT/SIGTERM; the message says which trial stopped and how to resume."""


@dataclass(frozen=True)
class SweepOutcome:
    """What one `sweep run` (or one worker of it) did, and where the study stands."""

    study: optuna.Study
    ran: int
    wall_seconds: float


@dataclass(frozen=True)
class PreparedStudy:
    """A study whose storage, data and MLflow parent run exist; `tracker` is None when no work is left."""

    study: optuna.Study
    n_trials: int
    finished: int
    budget: TrialBudget
    tracker: StudyTracker | None = None
    parent_run_id: str = ""
    data_tags: dict[str, str] = field(default_factory=dict)
    seeding: SeedReport | None = None


def open_study(spec: StudySpec) -> tuple[optuna.Study, bool]:
    """Create the study, or load it when it exists; True when this process created it."""
    settings = spec.study
    heartbeat = Heartbeat(settings.heartbeat_interval, settings.heartbeat_grace, settings.max_retries)
    storage = build_storage(spec.storage_url, heartbeat=heartbeat)
    sampler, pruner = build_sampler(spec.study.sampler), build_pruner(spec.study.pruner)
    try:
        study = optuna.create_study(
            study_name=spec.study.name, storage=storage, sampler=sampler, pruner=pruner, direction=spec.study.direction
        )
    except optuna.exceptions.DuplicatedStudyError:  # the storage's unique name: exactly one process creates it
        return optuna.load_study(study_name=spec.study.name, storage=storage, sampler=sampler, pruner=pruner), False
    except ValueError as error:
        raise ConfigError("study", f"{error}", source=spec.source) from None
    ensure_namespace(study)
    mark_parent_pending(study)
    return study, True


def prepare_study(spec: StudySpec, *, seed: bool = True) -> PreparedStudy:
    """Create what trials need, once: the study, its data, MLflow's experiment and the study's parent run.

    With `seed`, the study's `enqueue` sets and warm start are added first where this process is the one
    to add them (`sweep.run.seeding`); `seeding` says what was added. Nothing but the study is touched when no
    work is left. An unreachable service, a checkpoint folder that cannot be written and missing data fail
    before any study exists.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    check_services(spec.storage_url, spec.tracking_uri)  # an unreachable service fails before anything exists
    check_artifacts_dir(spec.artifacts_dir)  # so does a checkpoint folder that every trial would fail to write
    check_data_present(spec.train.data)
    study, created = open_study(spec)
    seeding = seed_study(study, spec, created=created) if seed else None
    n_trials = spec.study.n_trials
    budget = TrialBudget.of(spec.study)
    work_left = budget.work_left(study)  # dead workers' trials are queued again first
    finished = budget.tally(study).done
    if not work_left:
        return PreparedStudy(study, n_trials, finished, budget, seeding=seeding)
    tracker = StudyTracker(
        spec.tracking_uri, spec.experiment_name, study_name=spec.study.name, storage_url=spec.storage_url
    )
    # Before the data: other processes wait for this parent run, so the creator records it first.
    parent_run_id = tracker.open_parent(study, wait_s=0.0 if created else PARENT_RUN_WAIT_S)
    tags = dataset_tags(spec.train.data)
    return PreparedStudy(study, n_trials, finished, budget, tracker, parent_run_id, tags, seeding)


def run_study(
    spec: StudySpec,
    progress: SweepProgress,
    *,
    summarise: bool = True,
    seed: bool = True,
    stop: StopRequest | None = None,
) -> SweepOutcome:
    """Run trials until the study's budget is taken; return at once, running nothing, when none are left.

    `summarise=False, seed=False` (a worker of `sweep run --workers`) leaves the plots, the parent run's
    end and the seeding (`prepare_study`) to the process that started the workers. Raises `StudyInterrupted` once `stop` is requested (the
    caller wires it to SIGINT/SIGTERM), and `StudyGaveUpError` when too many trials failed for good.
    """
    started = time.monotonic()
    stop = stop or StopRequest()
    prepared = prepare_study(spec, seed=seed)
    study, tracker, budget = prepared.study, prepared.tracker, prepared.budget
    for line in prepared.seeding.lines() if prepared.seeding else []:
        progress.console.print(line)
    if tracker is None:
        progress.already_complete(prepared.n_trials, prepared.finished)
        raise_if_gave_up(spec, budget, study)
        return SweepOutcome(study, 0, time.monotonic() - started)

    # Each worker samples from its own stream: the number of the first trial it is handed.
    study.sampler = WorkerSampler(lambda stream: build_sampler(spec.study.sampler, stream=stream))
    objective = TrialObjective(spec, tracker, prepared.parent_run_id, progress, prepared.data_tags, budget, stop)
    progress.study_start(spec.study.name, prepared.n_trials, prepared.finished, own_best_value(study))

    def stop_when_asked(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if stop.requested:
            study.stop()

    try:
        if stop.requested:  # a signal arrived while the study was being prepared
            raise _between_trials(spec, stop)
        with quiet_trial_failures():
            study.optimize(
                objective,
                timeout=spec.study.timeout,
                catch=(TrialFailed, SurplusTrial),  # recorded, and a retry queued where one may help
                callbacks=[
                    budget.after_trial,
                    stop_when_asked,
                    CheckpointCleaner(spec.study.keep_checkpoints),
                    lambda study, trial: tracker.log_parent_best(prepared.parent_run_id, study),
                ],
            )
        if stop.requested:
            raise _between_trials(spec, stop)
    except TrialInterrupted as interrupted:
        tracker.close_parent(prepared.parent_run_id, study, "KILLED")
        cause = interrupted.interrupted
        raise StudyInterrupted(
            cause.signal_number,
            f"trial {interrupted.number} stopped by {cause}; its retry is queued: "
            f"run `{resume_command(spec)}` to resume it at epoch {cause.resume_epoch + 1}",
        ) from None
    except BaseException:
        # An unexpected error, or a second signal: close the parent run too unless another worker is still
        # running trials of this study.
        tracker.close_parent(prepared.parent_run_id, study, "KILLED")
        raise
    if summarise:
        finish_study(prepared, interrupted=False, spec=spec)
    raise_if_gave_up(spec, budget, study)
    return SweepOutcome(study, budget.ran, time.monotonic() - started)


def resume_command(spec: StudySpec) -> str:
    """The command that goes on with `spec`'s study: `sweep run`, or `sweep confirm` for a confirmation."""
    study_file = spec.source if spec.source is not None else "STUDY.yaml"
    if spec.retrains:
        return f"sweep confirm {study_file} {confirm_options(spec.retrains)}"
    return f"sweep run {study_file}"


def _between_trials(spec: StudySpec, stop: StopRequest) -> StudyInterrupted:
    assert stop.signal_number is not None
    return StudyInterrupted(
        stop.signal_number,
        f"{signal_name(stop.signal_number)} between trials; nothing was lost: run `{resume_command(spec)}` to go on",
    )


def raise_if_gave_up(spec: StudySpec, budget: TrialBudget, study: optuna.Study) -> None:
    """Raise `StudyGaveUpError` when `study.max_failed_trials` trials failed for good; its one line counts
    the reasons they failed with, the most common first (`sweep.trials.failures`)."""
    if budget.gave_up(study):
        reasons = failure_reasons(study.get_trials(deepcopy=False), budget.max_retries)
        failed = sum(reason.count for reason in reasons)
        # Workers side by side may each have a trial running when the limit is reached: those may fail too.
        limit = "" if failed == budget.failure_limit else f" is {budget.failure_limit}"
        raise StudyGaveUpError(
            f"study {spec.study.name!r} stopped: {failed} trials failed for good (study.max_failed_trials{limit}): "
            f"{summarise_failures(reasons)}; `sweep status {spec.source}` shows why each failed"
        )


def finish_study(prepared: PreparedStudy, *, interrupted: bool, spec: StudySpec) -> bool:
    """The study report (`report.html`), plots, the accuracy–cost fronts (`front/`), `trials.csv`, the resolved study file (`study.yaml`: search
    space, constraints, every default), the best trial and the compute totals on the parent run, which ends
    (FINISHED, or KILLED when `interrupted` or work is left) once no trial of the study runs anywhere; then,
    with `keep_top_k`, the checkpoint artifacts of the trials outside the top k go. Returns whether the
    study's work is done (False when interrupted)."""
    study, tracker, run_id = prepared.study, prepared.tracker, prepared.parent_run_id
    if tracker is None:
        return True
    remove_failed_chain_folders(study, prepared.budget.max_retries)
    tracker.reconcile_trial_runs(study)  # runs a dead worker or an outage left RUNNING end as their trials did
    if interrupted or prepared.budget.work_left(study):
        tracker.close_parent(run_id, study, "KILLED")
        return False
    with tempfile.TemporaryDirectory(prefix="sweep-plots-") as scratch:
        folder = Path(scratch)
        tracker.log_parent_artifacts(run_id, write_plots(study, folder / "plots"), "plots")
        tracker.log_parent_artifacts(run_id, write_front_pages(study, folder / "front"), "front")
        resolved = folder / "study.yaml"
        resolved.write_text(yaml.safe_dump(spec.resolved(), sort_keys=False))
        report = write_report(spec, study, folder / "report.html", experiment_id=tracker.experiment_id)
        tracker.log_parent_artifacts(run_id, [write_trials_csv(study, folder / "trials.csv"), resolved, report])
    tracker.log_parent_best(run_id, study)
    tracker.log_parent_compute(run_id, study)
    if tracker.close_parent(run_id, study, "FINISHED") and spec.study.keep_top_k is not None:
        tracker.drop_checkpoints_outside_top(study, spec.study.keep_top_k, spec.registered_model_name)
    return True
