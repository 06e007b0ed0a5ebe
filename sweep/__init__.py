"""Hyperparameter sweeps of `trainer.train` with Optuna, tracked in MLflow.

One subpackage for each thing a user meets, layered so that imports point down only (checked by the
import-linter contract "The subpackages of sweep import downwards only"):

    cli          the `sweep` command: parse, call one library function, print
    parallel     `--workers N` / `--gpus`: the supervisor, worker planning, events and the board
    run | promote   one process running a study | the registry, the promotion gate and serving
    results      reports and plots over a study
    storage      opening and reading the Optuna storage, reconnecting, study lookup, preflight
    tracking     the MLflow run lifecycle and every MLflow call
    trials       what a trial records and how it is judged: retries, budget, compute, feasibility
    spec         the study file and its sections, as typed values
    errors | database_urls | locks   the shared base
"""
