"""Seeding a study: queueing the study file's `enqueue` sets (or a confirmation's retrains) and copying a
warm start's trials, once.

Both are idempotent, by a mark on each trial they add (the enqueued set, the warm start's origin: user
attrs named in `sweep.trials.record`), but a check-then-add is no atomic step: two processes seeding at the
same moment could both add. So one process seeds at a time:
- on a new study, its creator (the storage's unique study name makes it one), before it records the
  parent run (`PARENT_RUN_ATTR`) that the other processes wait for;
- on a study whose parent run is recorded (so its creator is done seeding), a later `sweep run` adds
  what is missing: sets added to the file since, a warm start asked for now, trials the other study
  finished since;
- a worker of `sweep run --workers` never seeds: the parent did, before starting it.
A process that finds the study neither its own nor with a parent run leaves the seeding to its creator.
Two separate `sweep run`s started at the same moment on an existing study must not both ask for new
seeds; `--workers` (whose parent seeds alone) is the way to start several at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import optuna

from sweep.run.enqueue import enqueue_missing, enqueue_missing_retrains
from sweep.run.warm_start import WarmStartReport, copy_trials
from sweep.spec.retrain import Retrain
from sweep.spec.study_file import StudySpec, load_study_spec
from sweep.storage.lookup import load_existing_study
from sweep.tracking import PARENT_RUN_ATTR
from trainer.config_loading import flatten
from trainer.errors import ConfigError


@dataclass(frozen=True)
class SeedReport:
    """What seeding did: the indexes of the `enqueue` sets queued now, the warm start's report, and the
    confirmation's retrains queued now."""

    queued: list[int]
    warm_start: WarmStartReport | None
    retrains: list[Retrain] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Lines for the console: nothing when nothing was asked for."""
        lines = [f"queued enqueue[{index}] to run first" for index in self.queued]
        lines += [
            f"queued retrain {retrain.index + 1} of trial #{retrain.trial} with seed {retrain.seed}"
            for retrain in self.retrains
        ]
        return lines + ([] if self.warm_start is None else self.warm_start.lines())


def seed_study(study: optuna.Study, spec: StudySpec, *, created: bool) -> SeedReport | None:
    """Queue `spec.enqueue`'s missing sets and `spec.retrains`' missing retrains, and copy the warm start's
    missing trials; None when this process is not the one to seed (see the module's docstring)."""
    if not (created or PARENT_RUN_ATTR in study.user_attrs):
        return None
    queued = enqueue_missing(study, spec.enqueue)
    retrains = enqueue_missing_retrains(study, spec.retrains)
    warm = None if spec.warm_start is None else _warm_start(study, spec, load_study_spec(spec.warm_start.study_file))
    return SeedReport(queued, warm, retrains)


def _warm_start(study: optuna.Study, spec: StudySpec, source: StudySpec) -> WarmStartReport:
    if source.study.name == spec.study.name and source.storage_url.same_database(spec.storage_url):
        raise ConfigError(
            "warm_start.from", f"{source.source} is this study ({spec.study.name!r}); name another", source=spec.source
        )
    return copy_trials(
        study,
        load_existing_study(source),
        storage=source.storage_url.masked,
        search=spec.search,
        train=flatten(spec.train.to_dict()),
        source_train=flatten(source.train.to_dict()),
        constraints=spec.constraints,
    )
