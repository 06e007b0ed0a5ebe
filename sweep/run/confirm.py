"""Planning a confirmation: which trials `sweep confirm` trains again, with which seeds, as which study.

The candidates are the study's `top` best feasible completed trials of its own (`own_top_trials`), each
retrained `seeds` times (`sweep.spec.retrain`); the retrains run as the trials of the derived study
`<name>-confirm` (`sweep.spec.confirm`) through `run_study`, or `sweep run`'s workers, like any study.
Planning reads the study only, so the parent of `sweep confirm --workers` and each worker plan alike.
"""

from __future__ import annotations

from optuna.trial import FrozenTrial

from sweep.errors import NothingToConfirmError
from sweep.spec.confirm import confirmation_spec
from sweep.spec.retrain import SEED_KEY, Retrain, retrain_seed
from sweep.spec.study_file import StudySpec
from sweep.storage.lookup import load_existing_study
from sweep.trials.own_trials import no_best_reason, own_top_trials


def plan_confirmation(spec: StudySpec, *, top: int, seeds: int) -> StudySpec:
    """The confirmation study of `spec`'s `top` best trials, `seeds` retrains each; `NothingToConfirmError`
    when the study has no completed feasible trial of its own."""
    study = load_existing_study(spec)
    candidates = own_top_trials(study, top)
    if not candidates:
        why = no_best_reason(study, f"sweep run {spec.source}")
        raise NothingToConfirmError(f"study {spec.study.name!r} {why}; then confirm it")
    retrains = [retrain for trial in candidates for retrain in plan_retrains(spec, trial, seeds)]
    return confirmation_spec(spec, retrains)


def plan_retrains(spec: StudySpec, trial: FrozenTrial, seeds: int) -> list[Retrain]:
    """`seeds` retrains of the completed `trial`: its params, each with a seed derived from the seed it
    trained with (its own `seed` param when the study searched it, else the study's `train.seed`)."""
    assert trial.value is not None  # a candidate is a completed trial
    original_seed = int(trial.params.get(SEED_KEY, spec.train.seed))
    return [
        Retrain(trial.number, index, retrain_seed(original_seed, index), trial.value, dict(trial.params))
        for index in range(seeds)
    ]
