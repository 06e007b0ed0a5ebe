"""`Batch`: one `log_batch` request's metrics, params and tags, made once and sent as often as it takes.

Metrics are stamped when the batch is made, not when it is sent: a batch sent twice (its first answer was
lost, or it waited out a server outage) carries identical metrics, which MLflow's store keeps once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlflow.entities import Metric, Param, RunTag

BATCH_LIMIT = 100
"""MLflow accepts at most 100 params and 100 tags per `log_batch` call."""
_MAX_PARAM_LENGTH = 6000


@dataclass(frozen=True)
class Batch:
    """At most `BATCH_LIMIT` metrics, params and tags each: what one `log_batch` call sends."""

    metrics: tuple[Metric, ...] = ()
    params: tuple[Param, ...] = ()
    tags: tuple[RunTag, ...] = ()


def make_batches(
    *,
    metrics: Mapping[str, float] | None = None,
    step: int = 0,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
) -> list[Batch]:
    """Metrics (all at `step`, stamped now), params and tags in as few batches as MLflow's limits allow."""
    timestamp = int(time.time() * 1000)
    metric_list = [Metric(key, float(value), timestamp, step) for key, value in (metrics or {}).items()]
    param_list = [Param(key, str(value)[:_MAX_PARAM_LENGTH]) for key, value in (params or {}).items()]
    tag_list = [RunTag(key, value) for key, value in (tags or {}).items()]
    return [
        Batch(
            tuple(metric_list[start : start + BATCH_LIMIT]),
            tuple(param_list[start : start + BATCH_LIMIT]),
            tuple(tag_list[start : start + BATCH_LIMIT]),
        )
        for start in range(0, max(len(metric_list), len(param_list), len(tag_list)), BATCH_LIMIT)
    ]
