"""Seed-robust promotion, piece by piece: the retrain seeds, which trials are confirmed, the derived study,
queueing retrains once, the statistics of a confirmation and the rule that judges it against a champion,
each against values worked out by hand. Whole confirmations: `tests/e2e/test_confirm_study.py`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import study_document, unmade_data_train
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from sweep.cli import cli
from sweep.promote.confirmed_choice import CONFIRM_VALUES_TAG, champion_values, confirm_tags
from sweep.promote.gate import Champion, decide
from sweep.promote.seed_rule import ALPHA, seed_test
from sweep.results.confirmation import confirmation_of
from sweep.run.confirm import plan_retrains
from sweep.run.enqueue import enqueue_missing_retrains
from sweep.spec.confirm import confirm_options, confirmation_spec
from sweep.spec.retrain import SEED_LIMIT, Retrain, retrain_seed
from sweep.spec.study_file import StudySpec, study_spec_from_dict
from sweep.trials.own_trials import own_top_trials
from sweep.trials.record import CONFIRMS_ATTR, RUN_ID_ATTR, WARM_START_ATTR
from sweep.trials.record_values import ConfirmOrigin
from sweep.trials.record_view import TrialRecord

LR = {"optim.lr": FloatDistribution(1e-4, 1.0)}

# ---------------------------------------------------------------- the seeds


def test_retrain_seeds_step_by_a_prime_from_the_original_and_never_repeat_it() -> None:
    assert [retrain_seed(0, index) for index in range(3)] == [1_000_003, 2_000_006, 3_000_009]
    assert retrain_seed(42, 0) == 1_000_045
    # Past the top of the range they wrap: (2**31 - 1 + 1_000_003) mod 2**31 = 1_000_002.
    assert retrain_seed(SEED_LIMIT, 0) == 1_000_002
    seeds = [retrain_seed(7, index) for index in range(1000)]
    assert 7 not in seeds and len(set(seeds)) == 1000
    assert all(0 <= seed <= SEED_LIMIT for seed in seeds)
    with pytest.raises(ValueError, match="a retrain index is 0 or more, got -1"):
        retrain_seed(0, -1)


# ---------------------------------------------------------------- the candidates


def trial(value: float | None, lr: float = 0.01, **attrs: object) -> optuna.trial.FrozenTrial:
    state = TrialState.FAIL if value is None else TrialState.COMPLETE
    return create_trial(state=state, value=value, params={"optim.lr": lr}, distributions=LR, user_attrs=attrs)


def test_the_candidates_are_the_best_feasible_completed_trials_of_the_study_own() -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trial(trial(0.30))  # 0
    study.add_trial(trial(0.50))  # 1
    study.add_trial(trial(0.50))  # 2: equal to #1, ranked after it
    study.add_trial(trial(None))  # 3: failed
    study.add_trial(trial(0.90, **{WARM_START_ATTR: {"study": "other", "storage": "x", "trial": 0}}))  # 4: a copy
    infeasible = create_trial(value=0.80, params={"optim.lr": 0.01}, distributions=LR, constraints={"params_m": 1.5})
    study.add_trial(infeasible)  # 5: its network breaks a bound
    assert [t.number for t in own_top_trials(study, 2)] == [1, 2]
    assert [t.number for t in own_top_trials(study, 10)] == [1, 2, 0]


def spec(**train: object) -> StudySpec:
    return study_spec_from_dict(
        study_document(
            "tiny",
            n_trials=4,
            train=unmade_data_train(**train),
            search={"optim.lr": {"type": "float", "low": 0.001, "high": 0.1}},
        )
    )


def test_a_retrain_is_the_trial_params_with_a_seed_derived_from_the_one_it_trained_with() -> None:
    study_spec = spec(seed=5)
    original = trial(0.61, lr=0.02)
    retrains = plan_retrains(study_spec, original, 2)
    assert retrains == [
        Retrain(original.number, 0, retrain_seed(5, 0), 0.61, {"optim.lr": 0.02}),
        Retrain(original.number, 1, retrain_seed(5, 1), 0.61, {"optim.lr": 0.02}),
    ]
    assert retrains[1].trial_params() == {"optim.lr": 0.02, "seed": 2_000_011}
    searched = create_trial(
        value=0.7,
        params={"optim.lr": 0.02, "seed": 9},
        distributions={**LR, "seed": optuna.distributions.IntDistribution(0, 100)},
    )
    assert plan_retrains(study_spec, searched, 1)[0].seed == retrain_seed(9, 0)


def test_the_confirmation_study_queues_its_retrains_and_prunes_none() -> None:
    study_spec = spec()
    retrains = [Retrain(3, index, retrain_seed(0, index), 0.5, {"optim.lr": 0.02}) for index in range(3)]
    derived = confirmation_spec(study_spec, retrains)
    assert derived.study.name == "tiny-confirm"
    assert derived.study.n_trials == 3 and derived.study.pruner.type == "none" and derived.study.keep_top_k is None
    assert derived.storage_url == study_spec.storage_url
    assert derived.experiment_name == "tiny" and derived.registered_model_name == "tiny"
    assert derived.artifacts_dir == study_spec.artifacts_dir
    assert list(derived.search) == ["optim.lr", "seed"] and derived.retrains == tuple(retrains)
    assert derived.search["seed"].high == SEED_LIMIT
    config = derived.trial_config(retrains[0].trial_params(), checkpoint_dir=derived.artifacts_dir / "0")
    assert config.seed == 1_000_003 and config.optim.lr == 0.02
    assert confirm_options(retrains) == "--top 1 --seeds 3", "what a resume after Ctrl-C reruns"


def test_retrains_are_queued_once_however_often_the_confirmation_is_seeded() -> None:
    study = optuna.create_study(direction="maximize")
    retrains = [Retrain(1, index, retrain_seed(0, index), 0.5, {"optim.lr": 0.02}) for index in range(2)]
    assert enqueue_missing_retrains(study, retrains) == retrains
    assert enqueue_missing_retrains(study, retrains) == []
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [TrialRecord.of(t).origin.confirms for t in waiting] == [
        ConfirmOrigin(1, 0, 1_000_003, 0.5),
        ConfirmOrigin(1, 1, 2_000_006, 0.5),
    ]
    assert waiting[1].system_attrs["fixed_params"] == {"optim.lr": 0.02, "seed": 2_000_006}
    more = [*retrains, Retrain(4, 0, retrain_seed(0, 0), 0.4, {"optim.lr": 0.03})]
    assert enqueue_missing_retrains(study, more) == [more[2]], "a new candidate's retrain only"


# ---------------------------------------------------------------- the statistics


def retrain_trial(original: int, index: int, value: float | None, original_value: float) -> optuna.trial.FrozenTrial:
    confirms = ConfirmOrigin(original, index, retrain_seed(0, index), original_value).attr_value()
    made = trial(value, **{CONFIRMS_ATTR: confirms, RUN_ID_ATTR: f"run-{original}-{index}"})
    return made


def test_a_confirmation_ranks_its_candidates_by_the_mean_of_their_retrains() -> None:
    study = optuna.create_study(direction="maximize", study_name="tiny-confirm")
    # Trial 7 (recorded 0.90, a lucky seed): retrains 0.20 and 0.60. Trial 2 (recorded 0.50): 0.40, 0.46, 0.43.
    for index, value in enumerate([0.20, 0.60]):
        study.add_trial(retrain_trial(7, index, value, 0.90))
    for index, value in enumerate([0.40, 0.46, 0.43]):
        study.add_trial(retrain_trial(2, index, value, 0.50))
    study.add_trial(retrain_trial(2, 3, None, 0.50))  # failed for good: no value, planned all the same
    confirmation = confirmation_of(study)
    assert (confirmation.planned, confirmation.completed, confirmation.finished) == (6, 5, True)
    second, first = confirmation.candidates[1], confirmation.candidates[0]
    assert [first.trial, second.trial] == [2, 7]
    # mean (0.40 + 0.46 + 0.43) / 3 = 0.43; deviations -0.03, 0.03, 0: std sqrt(0.0018 / 2) = 0.03.
    assert first.values == [0.40, 0.46, 0.43]
    assert first.mean == pytest.approx(0.43) and first.std == pytest.approx(0.03)
    assert first.median_retrain.number == 4 and first.median_retrain.value == 0.43
    assert first.median_retrain.mlflow_run_id == "run-2-2"
    # mean 0.40; deviations -0.2, 0.2: std sqrt(0.08 / 1) = 0.2828; of two, the lower is the median.
    assert second.mean == pytest.approx(0.40) and second.std == pytest.approx(math.sqrt(0.08))
    assert second.median_retrain.value == 0.20 and second.original_value == 0.90


def test_a_single_retrain_has_no_spread_and_a_waiting_one_leaves_the_confirmation_unfinished() -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trial(retrain_trial(1, 0, 0.5, 0.6))
    retrains = [Retrain(1, 1, retrain_seed(0, 1), 0.6, {"optim.lr": 0.01})]
    enqueue_missing_retrains(study, retrains)
    confirmation = confirmation_of(study)
    assert confirmation.candidates[0].std is None
    assert (confirmation.planned, confirmation.completed, confirmation.unfinished) == (2, 1, 1)
    assert not confirmation.finished


# ---------------------------------------------------------------- the rule


def test_welch_t_and_p_match_the_hand_computed_values() -> None:
    # Candidate 0.50, 0.52, 0.54 and champion 0.40, 0.42, 0.44: means 0.52 and 0.42, each sample variance
    # (0.02² + 0 + 0.02²) / 2 = 0.0004. t = 0.10 / sqrt(0.0004/3 + 0.0004/3) = 0.10 / 0.016330 = 6.1237.
    # Welch's df = (2a)² / (2 a² / 2) = 4 (a = 0.0004/3). With 4 df, P(T <= t) = 1/2 + (3/4) x (1 - t²/(3(4+t²)))
    # for x = t / sqrt(4 + t²) = 0.950587: 1/2 + 0.75 * 0.950587 * 0.698795 = 0.998199, so p = 0.001801.
    test = seed_test([0.50, 0.52, 0.54], [0.40, 0.42, 0.44])
    assert test.t == pytest.approx(6.1237, abs=1e-4)
    assert test.p == pytest.approx(0.001801, abs=1e-6)
    assert test.better and test.p is not None and test.p < ALPHA
    assert test.text() == "one-sided Welch's t-test, alpha 0.05: t = 6.12, p = 0.0018"


def test_against_a_single_champion_value_the_test_is_the_one_sample_t_test() -> None:
    # Candidate 0.50, 0.52, 0.54 against 0.49: t = (0.52 - 0.49) / (0.02 / sqrt(3)) = 2.5981, 2 df.
    # With 2 df, P(T > t) = 1/2 - t / (2 sqrt(2 + t²)) = 0.5 - 2.5981 / (2 * 2.9580) = 0.06084: above 0.05.
    test = seed_test([0.50, 0.52, 0.54], [0.49])
    assert test.t == pytest.approx(2.5981, abs=1e-4)
    assert test.p == pytest.approx(0.06084, abs=1e-5)
    assert not test.better, "a higher mean that the seed spread can explain is no win"
    assert test.rule.endswith("against the champion's single value (the one-sample t-test)")


def test_a_single_retrain_or_no_spread_cannot_be_tested() -> None:
    single = seed_test([0.6], [0.5, 0.55])
    assert single.better and single.p is None and single.text().startswith("a single retrain: no spread to test")
    assert not seed_test([0.5], [0.5]).better
    flat = seed_test([0.5, 0.5], [0.5, 0.5])
    assert flat.p is None and not flat.better
    with pytest.raises(ValueError, match="both sides need at least one value"):
        seed_test([], [0.5])


def test_the_rule_decides_where_the_values_would_not() -> None:
    champion = Champion("1", 0.49)
    assert decide(0.52, champion, same_version=False, force=False) == "promoted"
    assert decide(0.52, champion, same_version=False, force=False, beats=False) == "challenger"
    assert decide(0.40, champion, same_version=False, force=False, beats=True) == "promoted"
    assert decide(0.40, champion, same_version=False, force=True, beats=False) == "forced"
    assert decide(0.40, None, same_version=False, force=False, beats=None) == "promoted"
    assert decide(0.40, champion, same_version=True, force=False, beats=False) == "unchanged"


def test_the_champion_is_tested_on_its_retrains_only_when_they_were_judged_on_the_same_val_split() -> None:
    tags = {CONFIRM_VALUES_TAG: json.dumps([0.41, 0.43]), "gate.val_split_checksum": "abc"}
    assert champion_values(tags, 0.47, "abc") == [0.41, 0.43]
    assert champion_values(tags, 0.47, "other") == [0.47]
    assert champion_values({}, 0.47, "abc") == [0.47]


def test_an_unconfirmed_promotion_is_tagged_so() -> None:
    assert confirm_tags(None, None) == {"sweep.confirmed": "false"}


# ---------------------------------------------------------------- what the commands show


def hand_confirmed_study(folder: Path) -> Path:
    """A study file and its storage in `folder`: trials #0 (0.50) and #1 (0.90), and the confirmation study
    with two retrains of each: #1's score 0.20 and 0.60, #0's 0.45 and 0.47."""
    study_file = folder / "study.yaml"
    study_file.write_text(yaml.safe_dump(study_document("tiny", n_trials=2, train=unmade_data_train())))
    (folder / "runs" / "tiny").mkdir(parents=True)
    storage = f"sqlite:///{folder}/runs/tiny/optuna.db"
    optuna.create_study(study_name="tiny", storage=storage, direction="maximize").add_trials([trial(0.50), trial(0.90)])
    confirm = optuna.create_study(study_name="tiny-confirm", storage=storage, direction="maximize")
    confirm.add_trials(
        [
            retrain_trial(1, 0, 0.20, 0.90),
            retrain_trial(0, 0, 0.45, 0.50),
            retrain_trial(1, 1, 0.60, 0.90),
            retrain_trial(0, 1, 0.47, 0.50),
        ]
    )
    return study_file


def test_best_confirmed_and_status_show_each_trial_mean_and_spread_best_mean_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_file = hand_confirmed_study(tmp_path)
    monkeypatch.chdir(tmp_path)
    shown = CliRunner().invoke(cli, ["best", str(study_file), "--confirmed", "--json"])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.output)
    assert (report["study"], report["finished"], report["planned"], report["completed"]) == ("tiny-confirm", True, 4, 4)
    first, second = report["candidates"]
    assert (first["trial"], first["values"], first["n"], first["median_retrain"]) == (0, [0.45, 0.47], 2, 1)
    # mean 0.46; deviations -0.01, 0.01: std sqrt(0.0002 / 1) = 0.014142.
    assert first["mean"] == pytest.approx(0.46) and first["std"] == pytest.approx(0.0141421, abs=1e-7)
    assert (second["trial"], second["original_value"], second["median_retrain"]) == (1, 0.90, 0)
    assert [retrain["seed"] for retrain in second["retrains"]] == [retrain_seed(0, 0), retrain_seed(0, 1)]

    table = CliRunner().invoke(cli, ["best", str(study_file), "--confirmed"])
    assert table.exit_code == 0, table.output
    rows = [line for line in table.output.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == ["#0", "#1"]
    assert [cell.strip() for cell in rows[0].split("│")[2:8]] == [
        "0.5000",
        "0.4600",
        "0.0141",
        "2",
        "0.4500, 0.4700",
        "#1",
    ]

    status = CliRunner().invoke(cli, ["status", str(study_file)])
    assert status.exit_code == 0, status.output
    assert "study tiny-confirm: val mIoU over seeds, best mean first" in status.output
    assert json.loads(CliRunner().invoke(cli, ["status", str(study_file), "--json"]).output)["confirmation"] == report


def test_best_confirmed_before_any_confirmation_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(study_document("tiny", n_trials=2, train=unmade_data_train())))
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    storage = f"sqlite:///{tmp_path}/runs/tiny/optuna.db"
    optuna.create_study(study_name="tiny", storage=storage, direction="maximize").add_trial(trial(0.5))
    monkeypatch.chdir(tmp_path)
    refused = CliRunner().invoke(cli, ["best", "study.yaml", "--confirmed"])
    assert refused.exit_code == 1
    assert refused.output.splitlines() == ["error: study 'tiny' was never confirmed; run `sweep confirm study.yaml`"]
    status = CliRunner().invoke(cli, ["status", "study.yaml", "--json"])
    assert "confirmation" not in json.loads(status.output), "no confirmation, no key"


def test_confirm_places_its_workers_as_sweep_run_does(tmp_path: Path) -> None:
    """--gpus, --workers-per-gpu and --timeout are `sweep run`'s own options (`placement_options`): a GPU
    listed twice is the same usage error, before any study is read."""
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(study_document("placed", train=unmade_data_train())))
    refused = CliRunner().invoke(cli, ["confirm", str(study_file), "--gpus", "0,0"])
    assert refused.exit_code == 2
    assert "--gpus '0,0' lists 0 twice; use --workers-per-gpu to share a GPU" in refused.output
    shown = CliRunner().invoke(cli, ["confirm", "--help"])
    for option in ("--timeout", "--workers", "--gpus 0,1,...", "--workers-per-gpu"):
        assert option in shown.output
