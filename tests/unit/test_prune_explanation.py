"""Why a trial was pruned: the explanation matches, by hand, the comparison Optuna's pruner made."""

from __future__ import annotations

import binascii
import math

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from sweep.trials.prune_explanation import PruneExplanation, best_reported, explain_prune, explanation_from_attrs

optuna.logging.set_verbosity(optuna.logging.WARNING)


def median_study(curves: dict[TrialState, list[dict[int, float]]], **pruner: int) -> optuna.Study:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1, **pruner))
    for state, states_curves in curves.items():
        for curve in states_curves:
            value = max(curve.values()) if state == TrialState.COMPLETE else None
            study.add_trial(create_trial(state=state, value=value, intermediate_values=curve))
    return study


def report_until_pruned(study: optuna.Study, curve: list[float]) -> optuna.trial.FrozenTrial | None:
    """Report `curve` at steps 1, 2, ...; the trial as stored when the pruner says stop, or None."""
    trial = study.ask()
    for step, value in enumerate(curve, start=1):
        trial.report(value, step)
        if trial.should_prune():
            return study.get_trials(deepcopy=False)[trial.number]
    return None


# Completed curves: at step 1 the values 0.1, 0.2, 0.3, 0.25 (median 0.225); at step 2 only three of them
# reported: 0.2, 0.5, 0.9 (median 0.5). The pruned trial's 0.1 at step 2 is no part of the median.
COMPLETED = [{1: 0.1, 2: 0.2}, {1: 0.2, 2: 0.5}, {1: 0.3, 2: 0.9}, {1: 0.25}]
PRUNED = [{1: 0.05, 2: 0.1}]


def test_median_explanation_is_the_median_of_completed_trials_at_the_step() -> None:
    study = median_study({TrialState.COMPLETE: COMPLETED, TrialState.PRUNED: PRUNED})
    pruned = report_until_pruned(study, [0.45, 0.3])  # 0.45 > 0.225 survives step 1; best 0.45 < 0.5 at step 2
    assert pruned is not None
    why = explain_prune(study, pruned)
    assert why == PruneExplanation(step=2, value=0.45, against=0.5, compared_trials=3)
    assert why.text() == "pruned at epoch 2: val mIoU 0.4500 < median 0.5000 of 3 trials"
    assert why.tags() == {
        "pruned_at_step": "2",
        "pruned_value": "0.45",
        "pruned_against": "0.5",
        "pruned_compared_trials": "3",
    }
    assert explanation_from_attrs(why.user_attrs()) == why


def test_an_even_count_takes_the_mean_of_the_middle_two() -> None:
    study = median_study({TrialState.COMPLETE: [*COMPLETED, {1: 0.3, 2: 0.7}]})  # step 2: 0.2, 0.5, 0.7, 0.9
    pruned = report_until_pruned(study, [0.45, 0.55])
    assert pruned is not None
    assert explain_prune(study, pruned) == PruneExplanation(step=2, value=0.55, against=0.6, compared_trials=4)


def test_warmup_and_interval_steps_move_the_step_it_is_judged_at() -> None:
    curves = [{1: 0.5, 2: 0.5, 3: 0.5}, {1: 0.7, 2: 0.7, 3: 0.7}, {1: 0.9, 2: 0.9, 3: 0.9}]
    study = median_study({TrialState.COMPLETE: curves}, n_warmup_steps=3)
    pruned = report_until_pruned(study, [0.1, 0.1, 0.1])
    assert pruned is not None
    assert explain_prune(study, pruned) == PruneExplanation(step=3, value=0.1, against=0.7, compared_trials=3)


def test_a_nan_value_is_pruned_with_nothing_to_compare() -> None:
    study = median_study({TrialState.COMPLETE: COMPLETED})
    pruned = report_until_pruned(study, [math.nan])
    assert pruned is not None
    why = explain_prune(study, pruned)
    assert (why.step, math.isnan(why.value), why.against, why.compared_trials) == (1, True, None, None)
    assert why.text() == "pruned at epoch 1: val mIoU nan (not a number)"


def hand_bracket(study_name: str, number: int) -> int:
    """Hyperband's bracket for 1..9 steps and factor 3: three brackets sharing 9 + 5 + 3 = 17 slots."""
    slot = binascii.crc32(f"{study_name}_{number}".encode()) % 17
    return 0 if slot < 9 else 1 if slot < 14 else 2


def test_hyperband_explanation_names_the_bracket_and_the_rung_that_stopped_the_trial() -> None:
    pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3)
    study = optuna.create_study(study_name="hb", direction="maximize", pruner=pruner)
    explained = []
    for number in range(30):
        value = (number * 7 % 11) / 11  # a spread of good and bad trials in every bracket
        pruned = report_until_pruned(study, [value] * 9)
        if pruned is None:
            study.tell(number, value)
            continue
        study.tell(number, state=TrialState.PRUNED)
        why = explain_prune(study, pruned)
        assert why.bracket == hand_bracket("hb", number)
        assert why.rung is not None
        # Successive halving judges a trial at step min_resource * factor ** (bracket + rung), and no later.
        assert why.step == 3 ** (why.bracket + why.rung)
        assert (why.value, why.against, why.compared_trials) == (value, None, None)
        assert (
            why.text()
            == f"pruned at epoch {why.step}: val mIoU {value:.4f}; hyperband bracket {why.bracket}, rung {why.rung}"
        )
        explained.append(why)
    assert {why.rung for why in explained} >= {0, 1}, "some trials pass a rung before they stop"


def test_other_pruners_are_refused() -> None:
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    trial = study.ask()
    trial.report(0.1, 1)
    with pytest.raises(TypeError, match="ThresholdPruner"):
        explain_prune(study, study.get_trials(deepcopy=False)[trial.number])


@pytest.mark.parametrize(
    ("reported", "best"),
    [
        ({1: 0.25, 2: 0.5, 3: 0.375}, (0.5, 2)),
        ({1: 0.5, 2: 0.5}, (0.5, 1)),  # the earliest of equals
        ({1: math.nan, 2: 0.125}, (0.125, 2)),  # a NaN epoch is no best
        ({1: math.nan}, None),
        ({}, None),
    ],
)
def test_best_reported_is_the_best_number_so_far_and_its_epoch(
    reported: dict[int, float], best: tuple[float, int] | None
) -> None:
    trial = create_trial(state=TrialState.PRUNED, intermediate_values=reported)
    assert best_reported(trial) == best
