"""What a trial records and how it is judged.

Owns what a trial records: the names of its user attrs (`record`), the typed view every reader reads them
through (`record_view`: `TrialRecord.of(trial)`), the writers that store them (`record_writes`) and the
formats of the values with several parts (`record_values`). And how a trial is judged: retry chains
(`retries`), the study's budget of trials (`budget`), compute accounting (`compute`), feasibility under
the study's constraints (`feasibility`), why a trial was pruned (`prune_explanation`), why the trials that
failed for good failed, counted (`failures`), own versus warm-start-copied trials (`own_trials`), and a
trial's checkpoint folder, whether it can be made, and its clean-up (`folders`, `disk`).
May import: `sweep.spec` and the base modules; never tracking, storage or anything above.
"""
