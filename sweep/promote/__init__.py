"""Promotion: putting a study's best trial into MLflow's model registry behind a gate.

Owns the registry calls and aliases (`registry`), the candidate (`candidate`: the best trial, the best
within a budget, or a confirmation's winner from `confirmed_choice`), the gate that re-evaluates it against
the champion (`gate`), the rule that judges a confirmed one over seeds (`seed_rule`), the models-from-code
pyfunc that serves it (`serving`), the requirements logged with it (`requirements`) and resolving `models:/`
URIs (`model_uris`).
May import: `sweep.results`, `sweep.storage`, `sweep.tracking`, `sweep.trials`, `sweep.spec` and the base
modules; never `sweep.run`, `sweep.parallel` or `sweep.cli`.
"""
