"""The `enqueue` section: partial parameter sets that a study runs before it samples any (a published recipe).

`check_enqueued` validates the sets when the study file is loaded: each key must be searched and each
value one its distribution can produce. A set then meets the config rules as surely as a sampled trial
does: `sweep.spec.space.check_against_train` has tried every bound and choice, alone and together, so a set
needs no check of its own. `sweep.run.enqueue` queues the sets as WAITING trials.

"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sweep.spec.distributions import AnyDistribution
from trainer.errors import ConfigError


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
