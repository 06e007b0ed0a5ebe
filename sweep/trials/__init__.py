"""What a trial records and how it is judged.

Owns the names of a trial's user attrs (`record`), retry chains (`retries`), the study's budget of trials
(`budget`), compute accounting (`compute`), feasibility under the study's constraints (`feasibility`),
why a trial was pruned (`prune_explanation`), own versus warm-start-copied trials (`own_trials`), and a
trial's checkpoint folder and its clean-up (`folders`, `disk`).
May import: `sweep.spec` and the base modules; never tracking, storage or anything above.
"""
