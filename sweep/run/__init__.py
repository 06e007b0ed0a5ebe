"""One process running a study: preparing it (storage, seeding, enqueue and warm start), the objective that
turns `trainer.train`'s reports into Optuna reports, pruning and MLflow records, sampler streams, the
progress view and the trial artifacts.

May import: `sweep.results`, `sweep.storage`, `sweep.tracking`, `sweep.trials`, `sweep.spec` and the base
modules; never `sweep.promote`, `sweep.parallel` or `sweep.cli`.
"""
