"""System metrics on a trial's run, sampled by MLflow's own monitor while the trial trains.

MLflow's `SystemMetricsMonitor` samples CPU and memory (psutil), disk and network, and every NVIDIA GPU
(through nvidia-ml-py, where the driver answers; on a host without one the GPU metrics are simply absent)
in a thread, and logs them to the run as `system/...` metrics (`system/cpu_utilization_percentage`,
`system/gpu_0_utilization_percentage`, ...), which the run's "System metrics" tab charts. It is
MLflow's fluent `start_run(log_system_metrics=True)` without the fluent active run, so several trials may
be monitored at once. Its sampling interval is 10 s unless `MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL` (and
`MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING`) say otherwise.
"""

from __future__ import annotations

import logging

from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

# The monitor says at INFO that it starts and stops, once per trial: noise between the sweep's own lines.
logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)


class SystemMetrics:
    """The monitor of one run: sampling from construction until `stop`."""

    def __init__(self, tracking_uri: str, run_id: str, *, resume: bool) -> None:
        """`resume`: the run was reopened (a retried trial), so its steps continue after the ones it has."""
        # MLflow's monitor is untyped.
        self._monitor = SystemMetricsMonitor(run_id, resume_logging=resume, tracking_uri=tracking_uri)  # type: ignore[no-untyped-call]
        self._monitor.start()  # type: ignore[no-untyped-call]

    def stop(self) -> None:
        """Stop sampling and log what is still buffered; a second call does nothing. MLflow logs, and does not
        raise, a failure to log them: system metrics never fail a trial."""
        self._monitor.finish()  # type: ignore[no-untyped-call]
