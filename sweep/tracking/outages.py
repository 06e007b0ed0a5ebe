"""Bounded waits for an MLflow tracking server that does not answer.

Left alone, MLflow retries a failed HTTP request 7 times with exponential backoff and waits up to 120 s
for each answer (`MLFLOW_HTTP_REQUEST_MAX_RETRIES`, `_BACKOFF_FACTOR`, `_TIMEOUT`): an unreachable server
blocks a call for about 4 minutes. Calls made through `call_patiently` instead make single requests with a
bounded timeout, retried by this module until a `Patience` runs out, so each caller chooses how long an
outage may hold it up: a preflight probe not at all, an epoch's metrics a few seconds, a trial's end
about two minutes.

MLflow reads those settings from the environment on every request, so they are set for the length of one
call and restored after it. The environment is the process's: the sweep calls MLflow from one thread
per process, and a second thread calling MLflow meanwhile would see the bounded settings too.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from mlflow.exceptions import MlflowException
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import TimeoutError as TransportTimeout

from sweep.database_urls import TrackingUri
from sweep.errors import TrackingError

Result = TypeVar("Result")
_FIRST_DELAY_S = 0.5
_MAX_DELAY_S = 8.0


@dataclass(frozen=True)
class Patience:
    """How long one call may wait for the server: `total_s` of retries, each request given `request_timeout_s`.

    The first request gets the whole `request_timeout_s`; a retry gets at most what is left of `total_s`
    (at least 1 s), so a call returns or raises within about `max(total_s + 1, request_timeout_s)`.
    """

    total_s: float
    request_timeout_s: int


PROBE = Patience(total_s=0.0, request_timeout_s=10)
"""Preflight: one request; a server that does not answer within 10 s fails the command."""
EPOCH = Patience(total_s=2.0, request_timeout_s=5)
"""An epoch's metrics and tags: training waits at most a few seconds, then the batch is kept for later."""
FLUSH = Patience(total_s=120.0, request_timeout_s=60)
"""A trial's end (pending batches, artifacts, status) and a trial's start: the server has two minutes to return."""


def _is_unreachable(error: BaseException) -> bool:
    """Whether `error` is the transport failing (refused, reset, timed out, 5xx after retries), not a refusal.

    MLflow raises `MlflowException` for both, with the transport's exception as its context.
    """
    return any(isinstance(cause, (TransportError, ConnectionError, TimeoutError)) for cause in _chain(error))


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error` and the exceptions it was raised from or while handling, innermost last."""
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def call_patiently(patience: Patience, call: Callable[[], Result], *, tracking_uri: TrackingUri) -> Result:
    """`call()`, retried while the server is unreachable until `patience` runs out.

    Raises `TrackingError` (naming `tracking_uri`, password masked) when the server never answered; any
    other error of MLflow's (a refused request) is raised at once, as it came.
    """
    started = time.monotonic()
    deadline = started + patience.total_s
    delay, timeout_s, tries = _FIRST_DELAY_S, patience.request_timeout_s, 1
    while True:
        try:
            with _bounded_requests(timeout_s=timeout_s):
                return call()
        except MlflowException as error:
            if not _is_unreachable(error):
                raise
            if time.monotonic() + delay > deadline:
                retried = f" ({tries} tries in {time.monotonic() - started:.0f} s)" if tries > 1 else ""
                raise TrackingError(
                    f"the MLflow tracking server {tracking_uri.masked} cannot be reached: "
                    f"{_transport_reason(error, timeout_s)}{retried}"
                ) from None
        tries += 1
        time.sleep(delay)
        delay = min(2 * delay, _MAX_DELAY_S)
        timeout_s = min(patience.request_timeout_s, max(1, math.ceil(deadline - time.monotonic())))


@contextmanager
def _bounded_requests(*, timeout_s: int) -> Iterator[None]:
    """MLflow's HTTP requests inside the block: no retries of their own, and `timeout_s` for each answer."""
    bounds = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout_s),
    }
    saved = {name: os.environ.get(name) for name in bounds}
    os.environ.update(bounds)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _transport_reason(error: BaseException, timeout_s: int) -> str:
    """A short reason such as `Connection refused` or `no answer within 10 s`, from MLflow's long message."""
    text = str(error)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)  # refused, unreachable network, unknown host
    if errno:
        return errno.group(1).strip()
    if any(isinstance(cause, (TransportTimeout, TimeoutError)) for cause in _chain(error)):
        return f"no answer within {timeout_s} s"
    if "too many" in text.lower():  # 5xx answers until the retries ran out
        return "the server answered with errors"
    return type(error).__name__
