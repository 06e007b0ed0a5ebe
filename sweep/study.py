"""Opening a study on its Optuna storage and running it to its total trial budget.

`n_trials` is the study's total over every worker and rerun: each `sweep run` runs only what is left, and a
`MaxTrialsCallback` stops workers that share the storage once the total is reached. The storage is Optuna's
own RDB storage (SQLite on a laptop, PostgreSQL across hosts), with heartbeats so that the trials of a
killed worker are failed and re-queued for a later run instead of staying RUNNING forever.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from sweep.database_urls import mask_password, sqlite_path
from sweep.errors import StorageError, StudyNotFoundError
from sweep.objective import TrialObjective
from sweep.plots import write_plots, write_trials_csv
from sweep.progress import SweepProgress
from sweep.samplers import build_pruner, build_sampler
from sweep.spec import StudySpec
from sweep.tracking import StudyTracker
from trainer.data.provision import check_data_present, dataset_tags
from trainer.errors import ConfigError, DivergedError

FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
HEARTBEAT_INTERVAL_S = 60
HEARTBEAT_GRACE_S = 180
MAX_RETRIES = 2
# Failures that end one trial (recorded on its run) while the study goes on.
TRIAL_FAILURES: tuple[type[Exception], ...] = (DivergedError, torch.cuda.OutOfMemoryError)


@dataclass(frozen=True)
class SweepOutcome:
    """What one `sweep run` did, and where the study stands."""

    study: optuna.Study
    ran: int
    wall_seconds: float


def build_storage(url: str) -> RDBStorage:
    """Optuna's RDB storage with heartbeats; a killed worker's trial is retried up to `MAX_RETRIES` times."""
    database = sqlite_path(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # heartbeats and their retry callback are flagged experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return _rdb_storage(url)
        except ImportError as error:  # SQLAlchemy found no driver for the URL's database
            raise StorageError(
                f"{mask_password(url)}: no database driver installed ({error}); "
                "for PostgreSQL run: pip install 'segsweep[postgres]'"
            ) from None


def _rdb_storage(url: str) -> RDBStorage:
    return RDBStorage(
        url,
        heartbeat_interval=HEARTBEAT_INTERVAL_S,
        grace_period=HEARTBEAT_GRACE_S,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
            max_retry=MAX_RETRIES, inherit_intermediate_values=True
        ),
    )


def open_study(spec: StudySpec) -> optuna.Study:
    """Create the study, or load it when it exists (`load_if_exists`)."""
    try:
        return _create_or_load(spec)
    except ValueError as error:  # e.g. an existing study with another direction
        raise ConfigError("study", f"{error}", source=spec.source) from None


def _create_or_load(spec: StudySpec) -> optuna.Study:
    return optuna.create_study(
        study_name=spec.study.name,
        storage=build_storage(spec.storage_url),
        sampler=build_sampler(spec.study.sampler),
        pruner=build_pruner(spec.study.pruner),
        direction=spec.study.direction,
        load_if_exists=True,
    )


def load_existing_study(spec: StudySpec) -> optuna.Study:
    """Load a study that must already exist, creating no file or table on the way.

    The storage is read first (`study_in_storage`): opening Optuna's storage would create its tables in an
    empty database. The URL is shown with its password masked.
    """
    from sweep.study_lookup import study_in_storage

    url = spec.storage_url
    run_first = f"run `sweep run {spec.source}` first"
    database = sqlite_path(url)
    if database is not None and not database.is_file():
        raise StudyNotFoundError(f"study {spec.study.name!r}: no storage at {mask_password(url)}; {run_first}")
    if not study_in_storage(url, spec.study.name):
        raise StudyNotFoundError(f"study {spec.study.name!r} is not in {mask_password(url)}; {run_first}")
    try:
        return optuna.load_study(study_name=spec.study.name, storage=build_storage(url))
    except KeyError:  # deleted since it was found
        raise StudyNotFoundError(f"study {spec.study.name!r} is not in {mask_password(url)}; {run_first}") from None


def finished_trials(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=FINISHED_STATES)


def run_study(spec: StudySpec, progress: SweepProgress) -> SweepOutcome:
    """Run the trials the study still lacks; return at once, running nothing, when none are left."""
    started = time.monotonic()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    check_data_present(spec.train.data)  # missing data fails before any study or run exists
    study = open_study(spec)
    # A seeded sampler would redraw the same first trials on every rerun: give each run its own stream.
    study.sampler = build_sampler(spec.study.sampler, stream=len(study.get_trials(deepcopy=False)))
    done = len(finished_trials(study))
    remaining = spec.study.n_trials - done
    if remaining <= 0:
        progress.already_complete(spec.study.n_trials, done)
        return SweepOutcome(study, 0, time.monotonic() - started)

    data_tags = dataset_tags(spec.train.data)
    tracker = StudyTracker(
        spec.tracking_uri, spec.experiment_name, study_name=spec.study.name, storage_url=spec.storage_url
    )
    parent_run_id = tracker.open_parent(study)
    objective = TrialObjective(spec, tracker, parent_run_id, progress, data_tags)
    progress.study_start(spec.study.name, spec.study.n_trials, done, _best_value(study))
    before = {trial.number for trial in finished_trials(study)}
    try:
        study.optimize(
            objective,
            n_trials=remaining,
            timeout=spec.study.timeout,
            catch=TRIAL_FAILURES,
            callbacks=[
                optuna.study.MaxTrialsCallback(spec.study.n_trials, states=FINISHED_STATES),
                lambda study, trial: tracker.log_parent_best(parent_run_id, study),
            ],
        )
    except BaseException:
        # Interrupted (Ctrl-C) or an unexpected error: Optuna has already failed the running trial;
        # close the parent run too unless another worker is still running trials of this study.
        tracker.close_parent(parent_run_id, study, "KILLED")
        raise
    ran = len({trial.number for trial in finished_trials(study)} - before)
    _log_study_summary(study, tracker, parent_run_id)
    return SweepOutcome(study, ran, time.monotonic() - started)


def _log_study_summary(study: optuna.Study, tracker: StudyTracker, parent_run_id: str) -> None:
    """Plots, `trials.csv` and the best trial on the parent run, which ends FINISHED once no trial runs."""
    with tempfile.TemporaryDirectory(prefix="sweep-plots-") as scratch:
        folder = Path(scratch)
        tracker.log_parent_artifacts(parent_run_id, write_plots(study, folder / "plots"), "plots")
        tracker.log_parent_artifacts(parent_run_id, [write_trials_csv(study, folder / "trials.csv")])
    tracker.log_parent_best(parent_run_id, study)
    tracker.close_parent(parent_run_id, study, "FINISHED")


def _best_value(study: optuna.Study) -> float | None:
    try:
        return float(study.best_value)
    except ValueError:  # no completed trial yet
        return None
