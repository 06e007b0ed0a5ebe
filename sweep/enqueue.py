"""The `enqueue` section: partial parameter sets that a study runs before it samples any (a published recipe).

`check_enqueued` validates the sets when the study file is loaded: each key must be searched and each
value one its distribution can produce. A set then meets the config rules as surely as a sampled trial
does: `sweep.space.check_against_train` has tried every bound and choice, alone and together, so a set
needs no check of its own. `enqueue_missing` queues the sets as WAITING trials; Optuna hands them out first
and takes their values as fixed (`trial.suggest_*` returns them), while the keys a set leaves out are
sampled as usual.

Each queued trial carries its set in the user attr `ENQUEUED_ATTR`, which tells it apart from a WAITING
retry (whose `failed_trial` system attr `sweep.retries` reads) and makes queueing idempotent: a set
already carried by a trial of the study is not queued again, so a rerun runs nothing twice. Exactly one
process queues, at a time when no other does: the study's creator (`sweep.seeding`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna

from sweep.distributions import AnyDistribution
from sweep.retries import is_surplus
from trainer.errors import ConfigError

ENQUEUED_ATTR = "enqueued"
"""The user attr of a trial queued from the study file's `enqueue` list: the set, as written."""


def check_enqueued(
    raw: Any,
    search: Mapping[str, AnyDistribution],
    n_trials: int,
    *,
    source: Path | None,
) -> list[dict[str, Any]]:
    """The `enqueue` list, each set checked against the search; `ConfigError` at `enqueue[i].<key>` (or
    `enqueue[i]`, `enqueue`) otherwise."""
    if raw is None:
        return []
    example = "e.g. enqueue: [{optim.name: sgd, optim.lr: 0.01}]"
    if not isinstance(raw, list):
        raise ConfigError("enqueue", f"must be a list of parameter sets, {example}", source=source)
    if len(raw) > n_trials:
        raise ConfigError(
            "enqueue",
            f"lists {len(raw)} sets but study.n_trials is {n_trials}; each set is a trial of the budget: "
            "raise n_trials or drop sets",
            source=source,
        )
    sets: list[dict[str, Any]] = []
    for index, params in enumerate(raw):
        key = f"enqueue[{index}]"
        if not isinstance(params, dict) or not params:
            raise ConfigError(key, f"must be a non-empty mapping of searched keys to values, {example}", source=source)
        for path, value in params.items():
            distribution = search.get(path)
            if distribution is None:
                raise ConfigError(
                    f"{key}.{path}",
                    f"is not searched; a set fixes values of the search's keys ({', '.join(search)}): "
                    f"search {path} or set it in the train section",
                    source=source,
                )
            reason = distribution.rejects(value)
            if reason is not None:
                raise ConfigError(f"{key}.{path}", f"{reason}; change the value or widen the search", source=source)
        if params in sets:
            raise ConfigError(key, f"repeats enqueue[{sets.index(params)}]; each set runs once", source=source)
        sets.append(dict(params))
    return sets


def enqueue_missing(study: optuna.Study, sets: Sequence[Mapping[str, Any]]) -> list[int]:
    """Queue each set that no trial of the study carries yet; the indexes of those queued, in order.

    A surplus trial (created after the budget was taken, never run) does not count as carrying its set,
    so a rerun with a larger `n_trials` queues it again.
    """
    carried = [
        trial.user_attrs[ENQUEUED_ATTR]
        for trial in study.get_trials(deepcopy=False)
        if ENQUEUED_ATTR in trial.user_attrs and not is_surplus(trial)
    ]
    queued = []
    for index, params in enumerate(sets):
        if dict(params) not in carried:
            study.enqueue_trial(dict(params), user_attrs={ENQUEUED_ATTR: dict(params)})
            queued.append(index)
    return queued
