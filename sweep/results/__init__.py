"""Reading a study back: the rows of `sweep status`, the best trial of `sweep best`, compute and disk
totals, links into MLflow's UI, and the plots of a finished study.

May import: `sweep.storage`, `sweep.tracking`, `sweep.trials`, `sweep.spec` and the base modules.
"""
