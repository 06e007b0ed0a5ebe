"""Giving each worker its own sampler stream, unique across every worker and host, with no coordination.

A seeded sampler repeats its draws in every process that builds it, so workers started together would
suggest the same trials. `WorkerSampler` builds the study's sampler on the worker's first trial, with
that trial's number as the stream: the storage hands each trial number to exactly one worker, so no two
workers (nor two runs of `sweep run`, one after the other) ever share a stream. A single worker on a fresh
study gets stream 0, the spec's seed itself, and one that resumes a study of N trials gets stream N.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from sweep.trials.record_writes import write_sampler_stream


class WorkerSampler(BaseSampler):
    """Delegates to `build(stream)`, built once, on this worker's first trial, with its number as `stream`."""

    def __init__(self, build: Callable[[int], BaseSampler]) -> None:
        self._build = build
        self._sampler: BaseSampler | None = None
        self.stream: int | None = None

    @property
    def sampler(self) -> BaseSampler:
        if self._sampler is None:
            raise RuntimeError("the sampler is built on the worker's first trial (before_trial)")
        return self._sampler

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if self._sampler is None:
            self.stream = trial.number
            self._sampler = self._build(trial.number)
        self._sampler.before_trial(study, trial)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.sampler.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self.sampler.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self.sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        if self._sampler is not None:
            self._sampler.reseed_rng()


def record_stream(trial: optuna.Trial) -> None:
    """Keep the stream the trial was sampled from in its user attrs (`sampler_stream`)."""
    sampler = trial.study.sampler
    if isinstance(sampler, WorkerSampler) and sampler.stream is not None:
        write_sampler_stream(trial, sampler.stream)
