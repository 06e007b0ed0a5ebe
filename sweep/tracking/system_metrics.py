"""System metrics on a trial's run, sampled by MLflow's own monitor while the trial trains.

MLflow's `SystemMetricsMonitor` samples CPU and memory (psutil), disk and network, and every NVIDIA GPU
(through nvidia-ml-py, where the driver answers; on a host without one the GPU metrics are simply absent)
in a thread, and logs them to the run as `system/...` metrics (`system/cpu_utilization_percentage`,
`system/gpu_0_utilization_percentage`, ...), which the run's "System metrics" tab charts. It is
MLflow's fluent `start_run(log_system_metrics=True)` without the fluent active run, so several trials may
be monitored at once. Its sampling interval is 10 s unless `MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL` (and
`MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING`) say otherwise.

A new run's samples can be held back (`held=True`) until `release`: MLflow's compare view plots first the
metric its first run logged first, and the trial's run logs its objective first (`sweep.tracking.trial_run`).
Sampling starts at once; only the sending waits, so no sample is lost and each keeps its time and step.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
from mlflow.utils.autologging_utils import BatchMetricsLogger

# The monitor says at INFO that it starts and stops, once per trial: noise between the sweep's own lines.
logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)


class SystemMetrics:
    """The monitor of one run: sampling from construction until `stop`."""

    def __init__(self, tracking_uri: str, run_id: str, *, resume: bool, held: bool = False) -> None:
        """`resume`: the run was reopened (a retried trial), so its steps continue after the ones it has.
        `held`: what is sampled is sent only after `release` (or `stop`)."""
        # MLflow's monitor is untyped.
        self._monitor = SystemMetricsMonitor(run_id, resume_logging=resume, tracking_uri=tracking_uri)  # type: ignore[no-untyped-call]
        self._held = _HeldMetricsLogger(run_id, tracking_uri) if held else None
        if self._held is not None:
            # The monitor sends through its public `mlflow_logger`; this one holds the batches back.
            self._monitor.mlflow_logger = self._held
        self._monitor.start()  # type: ignore[no-untyped-call]

    def release(self) -> None:
        """Send what was held and everything sampled from now on; a second call does nothing."""
        if self._held is not None:
            self._held.release()

    def stop(self) -> None:
        """Stop sampling and log what is still buffered (held or not); a second call does nothing. MLflow
        logs, and does not raise, a failure to log them: system metrics never fail a trial."""
        self.release()
        self._monitor.finish()  # type: ignore[no-untyped-call]


class _HeldMetricsLogger(BatchMetricsLogger):
    """MLflow's batch logger, keeping what the monitor records (time-stamped as it is recorded) until
    `release`. The monitor's thread records while the trial's thread releases: one lock orders them."""

    def __init__(self, run_id: str, tracking_uri: str) -> None:
        super().__init__(run_id, tracking_uri=tracking_uri)  # type: ignore[no-untyped-call]  # untyped in MLflow
        self._lock = threading.RLock()
        self._releasable = False

    def record_metrics(self, metrics: Any, step: Any = None) -> None:
        with self._lock:
            super().record_metrics(metrics, step)  # type: ignore[no-untyped-call]

    def flush(self) -> None:
        with self._lock:
            if self._releasable:
                super().flush()  # type: ignore[no-untyped-call]

    def release(self) -> None:
        with self._lock:
            self._releasable = True
            self.flush()
