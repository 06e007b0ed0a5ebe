"""The names of everything the sweep records on an Optuna trial, in one place.

A trial's user attrs are the sweep's record of it, read back by `sweep status`, `best`, `promote`, the
retry logic, the budget and the reports, on any host and after any restart. Each key below is recorded by
one module (named in its docstring) through a writer of `sweep.trials.record_writes`, and read back as a
field of `sweep.trials.record_view.TrialRecord`; the values with several parts have their format in
`sweep.trials.record_values`. Keys that start with `PER_ATTEMPT_PREFIX` describe one attempt: a retry does
not inherit them.
"""

from __future__ import annotations

# Where the trial came from.
ENQUEUED_ATTR = "enqueued"
"""On a trial queued from the study file's `enqueue` list: the parameter set, as written (`sweep.run.enqueue`)."""
WARM_START_ATTR = "warm_start_origin"
"""On a trial copied from another study (`sweep.run.warm_start`): `{study, storage, trial}`, its origin. It
is no trial of this study's budget."""
CONFIRMS_ATTR = "confirms"
"""On a retrain of a confirmation (`sweep.run.enqueue`): `{trial, retrain, seed, original_value}`, the
original trial it trains again, its index among that trial's retrains, its seed and the original's value."""
SURPLUS_ATTR = "surplus"
"""On a trial created after the study's budget was taken, which never runs (`sweep.trials.budget`)."""
STREAM_ATTR = "sampler_stream"
"""The sampler stream the trial's params were drawn from (`sweep.run.streams`)."""

# Who ran it, and how an attempt ended (`sweep.trials.retries`).
PER_ATTEMPT_PREFIX = "attempt_"
"""User attrs whose names start so describe one attempt (`sweep.trials.compute`)."""
FAIL_REASON_ATTR = "fail_reason"
"""`TypeName: message` of the error that ended an attempt."""
FAILED_FOR_GOOD_ATTR = "failed_for_good"
"""Set by the objective before an attempt fails when no retry will come, with the reason why."""
INTERRUPTED_ATTR = "interrupted"
"""Set on an attempt stopped by SIGINT/SIGTERM: which signal, during which epoch."""
WORKER_ATTR = "worker"
"""`host:pid` of the process running the attempt (shown by `sweep status`)."""
PROCESS_ATTR = "worker_process"
"""`{"host", "pid", "started"}`: enough to tell, on that host, whether the process still runs."""
PER_ATTEMPT_ATTRS = (FAIL_REASON_ATTR, FAILED_FOR_GOOD_ATTR, INTERRUPTED_ATTR, WORKER_ATTR, PROCESS_ATTR)
"""Attrs about one attempt that a retry's copy leaves out, beside those named with `PER_ATTEMPT_PREFIX`."""

# What an attempt cost (`sweep.trials.compute`).
EPOCHS_ATTR = f"{PER_ATTEMPT_PREFIX}epochs"
"""Epochs the attempt trained."""
WALL_S_ATTR = f"{PER_ATTEMPT_PREFIX}wall_s"
"""Seconds the attempt ran."""
GPU_S_ATTR = f"{PER_ATTEMPT_PREFIX}gpu_s"
"""GPU-seconds the attempt held (0 on the CPU)."""
PLANNED_EPOCHS_ATTR = f"{PER_ATTEMPT_PREFIX}planned_epochs"
"""Epochs the attempt would have trained had nothing stopped it."""

# The network it trained (`sweep.trials.feasibility`).
NETWORK_COST_ATTR = "network_cost"
"""The measured figures `{params_m, gflops, latency_ms, measured_on}`, written in one call so that a worker
killed while recording leaves all or nothing."""
INFEASIBLE_ATTR = "infeasible"
"""On a trial whose network broke a bound of the study's `constraints`: which bound, by how much."""

# Why it was pruned (`sweep.trials.prune_explanation`).
PRUNED_AT_STEP_ATTR = "pruned_at_step"
PRUNED_VALUE_ATTR = "pruned_value"
PRUNED_AGAINST_ATTR = "pruned_against"
PRUNED_COMPARED_TRIALS_ATTR = "pruned_compared_trials"
PRUNED_BRACKET_ATTR = "pruned_bracket"
PRUNED_RUNG_ATTR = "pruned_rung"

# Its files and runs.
CHECKPOINT_DIR_ATTR = "checkpoint_dir"
"""The folder of the trial's checkpoints while it trains (`sweep.trials.disk`)."""
NAMESPACE_ATTR = "checkpoint_namespace"
"""The namespace under `study.artifacts_dir` that keeps two studies' trial folders apart (`sweep.trials.folders`)."""
RUN_ID_ATTR = "mlflow_run_id"
"""The id of the trial's MLflow run (`sweep.tracking`)."""
BEST_EPOCH_ATTR = "best_epoch"
"""A completed trial's epoch of its best val mIoU, its objective value (`sweep.tracking`)."""
EPOCHS_RUN_ATTR = "epochs_run"
"""A completed trial's epochs in all, over every attempt (`sweep.run.objective`)."""
CHECKPOINT_ATTR = "checkpoint"
"""A completed trial's best checkpoint as its run logged it, `runs:/<run id>/checkpoint/best.pt`
(`sweep.run.objective`): disk hygiene deletes the local file it was uploaded from (`sweep.trials.disk`)."""
