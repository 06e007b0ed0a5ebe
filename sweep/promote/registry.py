"""`sweep promote`: register the best trial's model in the MLflow Model Registry under an alias.

The registered model is a code-based pyfunc (`sweep/promote/serving.py`) whose artifact is the trial's `best.pt`,
bundled with the `trainer` package, so `models:/NAME@ALIAS` loads without unpickling and at any image
size. Promoting is idempotent: the version made from a trial's run is found again and reused. Before
the alias moves, the gate of `sweep.promote.gate` checks the candidate against its record and the current model.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec

import trainer
from sweep.errors import NothingToPromoteError
from sweep.promote.candidate import best_candidate, confirmed_candidate
from sweep.promote.confirmed_choice import (
    STALE_TAG_PREFIX,
    ConfirmedChoice,
    champion_values,
    confirm_tags,
    confirmed_choice,
)
from sweep.promote.gate import (
    Champion,
    Verdict,
    candidate_config,
    decide,
    evaluate_champion,
    reevaluate_candidate,
    val_split_checksum,
)
from sweep.promote.requirements import pip_requirements
from sweep.promote.seed_rule import SeedTest, seed_test
from sweep.results.within_budget import BUDGET_TAG_PREFIX, budget_tags
from sweep.spec.constraints import Constraints
from sweep.spec.study_file import StudySpec
from sweep.storage.lookup import load_existing_study
from sweep.tracking import TrackingStore
from sweep.trials.record_values import NetworkCost
from trainer import TrainConfig

SERVING_CODE = Path(__file__).with_name("serving.py")
TRAINER_CODE = Path(trainer.__file__).parent
"""The registered model's code: the pyfunc in `serving.py`, and the `trainer` package bundled with it."""
SIGNATURE = ModelSignature(
    inputs=Schema([TensorSpec(np.dtype(object), (-1,))]),
    outputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, -1, -1))]),
)
"""Any array in, uint8 VOC labels [N, H, W] out. The model itself accepts RGB images [N, H, W, 3] or [H, W, 3] of
integers 0..255 and refuses the rest in one line (`sweep.promote.serving.images_from`): a uint8 tensor spec would
let `mlflow models serve` cast float pixels to uint8 (0.5 -> 0) before the model could refuse them."""
INPUT_EXAMPLE = np.full((1, 16, 16, 3), 128, dtype=np.uint8)
"""What the model records as its input example: one 16x16 grey image, a request body small enough to read."""
MODEL_NAME_IN_RUN = "model"
CHECKPOINT_ARTIFACT = "checkpoint/best.pt"
"""Where each completed trial's run holds its best checkpoint."""
CHALLENGER_ALIAS = "challenger"
"""The alias a gated candidate gets when it is not better than the model the asked-for alias points to."""

__all__ = ["CHALLENGER_ALIAS", "NothingToPromoteError", "Promotion", "model_requirements", "promote"]


@dataclass(frozen=True)
class Promotion:
    """The registry entry that `promote` made or found, and the gate's verdict on it.

    `alias` is the alias the version carries now: the one asked for, or `CHALLENGER_ALIAS` when the
    gate kept the champion. `budget` is the budget the trial was chosen within (None: the best feasible
    trial, whatever its cost) and `cost` the trial's recorded network cost (None when it recorded none).
    `confirmed` is the confirmation's choice the model came from (None: unconfirmed, a single training
    run) and `seed_test` how it was tested against the champion (None: no champion, or unconfirmed)."""

    name: str
    version: str
    alias: str
    run_id: str
    trial_number: int
    value: float
    created: bool
    verdict: Verdict
    budget: Constraints | None
    cost: NetworkCost | None
    confirmed: ConfirmedChoice | None = None
    seed_test: SeedTest | None = None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{self.alias}"


def promote(
    spec: StudySpec,
    *,
    alias: str = "champion",
    name: str | None = None,
    force: bool = False,
    budget: Constraints | None = None,
) -> Promotion:
    """Gate, register (once) and alias the best feasible completed trial's model (`own_best_trial`), or with
    a `budget` the best one within it (`sweep.results.within_budget`; `OverBudgetError` when none is); see
    `sweep.promote.gate` for the gate.

    Without a budget, a finished confirmation (`sweep confirm`) decides instead: the candidate is its best
    mean's median retrain (`sweep.promote.confirmed_choice`), and it beats the champion only by the rule
    of `sweep.promote.seed_rule`.

    The candidate is re-evaluated first (`GateMismatchError`, nothing registered, when it is off its
    record), then the version `alias` points to, if any. `alias` moves only to a better candidate (or with
    `force`); otherwise the candidate gets `CHALLENGER_ALIAS`. The version is tagged with both evaluations,
    the val split's checksum, the decision, the study, the trial number, the budget (`budget_tags`) and
    whether and how it was confirmed (`confirm_tags`).
    """
    study = load_existing_study(spec)
    choice = None if budget is not None else confirmed_choice(spec)
    candidate = confirmed_candidate(study, choice) if choice is not None else best_candidate(spec, study, budget)
    model_name = name or spec.registered_model_name
    store = TrackingStore(spec.tracking_uri)
    test = None
    with tempfile.TemporaryDirectory(prefix="sweep-promote-") as scratch:
        checkpoint = _download_checkpoint(
            store,
            candidate.run_id,
            Path(scratch, "candidate"),
            candidate.label,
            "run the study again under a new study.name",
        )
        config = candidate_config(checkpoint)
        candidate_miou = reevaluate_candidate(
            checkpoint, config, candidate.value, trial_number=candidate.number, force=force
        )
        versions = store.model_versions_for_run(model_name, candidate.run_id)
        current = store.alias_version(model_name, alias)
        champion = None
        checksum = val_split_checksum(config)
        if current is not None and current not in versions:
            champion = _evaluate_version(store, model_name, current, config, Path(scratch, "champion"), alias)
            if choice is not None:
                tested = champion_values(store.version_tags(model_name, current), champion.miou, checksum)
                test = seed_test(choice.winner.values, tested)
        beats = None if test is None else test.better
        decision = decide(candidate_miou, champion, same_version=current in versions, force=force, beats=beats)
        verdict = Verdict(candidate.value, candidate_miou, champion, checksum, decision)
        version = (
            versions[0] if versions else _register(store, model_name, candidate.run_id, checkpoint, candidate.value)
        )
    on_alias = CHALLENGER_ALIAS if decision == "challenger" else alias
    store.set_model_alias(model_name, on_alias, version)
    trial_tags = {"study": candidate.study, "trial_number": str(candidate.number)}
    for stale in (BUDGET_TAG_PREFIX, STALE_TAG_PREFIX):  # an earlier promotion's budget and confirmation
        store.delete_version_tags(model_name, version, stale)
    chosen_within = {} if budget is None else budget_tags(budget)
    tags = {**verdict.tags(), **trial_tags, **chosen_within, **confirm_tags(choice, test)}
    store.set_version_tags(model_name, version, tags)
    return Promotion(
        model_name,
        version,
        on_alias,
        candidate.run_id,
        candidate.number,
        candidate.value,
        not versions,
        verdict,
        budget=budget,
        cost=candidate.cost,
        confirmed=choice,
        seed_test=test,
    )


def _evaluate_version(
    store: TrackingStore, name: str, version: str, candidate: TrainConfig, scratch: Path, alias: str
) -> Champion:
    """The version `alias` points to, evaluated on the candidate's val split (`sweep.promote.gate.evaluate_champion`)."""
    checkpoint = _download_checkpoint(
        store,
        store.version_run_id(name, version),
        scratch,
        f"{name}@{alias} (version {version})",
        "promote under another --alias or --name",
    )
    return Champion(version, evaluate_champion(checkpoint, candidate))


def _download_checkpoint(store: TrackingStore, run_id: str, destination: Path, whose: str, fix: str) -> Path:
    """The run's `best.pt`, downloaded; `NothingToPromoteError` naming `whose` and `fix` when it cannot be read."""
    try:
        return store.download_artifact(run_id, CHECKPOINT_ARTIFACT, destination)
    except (MlflowException, OSError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise NothingToPromoteError(
            f"{whose}: its checkpoint runs:/{run_id}/{CHECKPOINT_ARTIFACT} cannot be read ({reason}); nothing "
            f"was registered. Restore the run's artifacts, or {fix}"
        ) from None


def _register(store: TrackingStore, name: str, run_id: str, checkpoint: Path, value: float) -> str:
    """Log `checkpoint` as a code-based pyfunc into its run and register it; returns the version."""
    model_uri = store.log_model_to_run(
        run_id,
        name=MODEL_NAME_IN_RUN,
        python_model=SERVING_CODE,
        artifacts={"checkpoint": str(checkpoint)},
        code_paths=[TRAINER_CODE],
        pip_requirements=model_requirements(),
        signature=SIGNATURE,
        input_example=INPUT_EXAMPLE,
    )
    return store.register_model(model_uri, name, {"val_miou": f"{value:.6f}", "run_id": run_id})


def model_requirements() -> list[str]:
    """What the model's code imports, pinned to the installed versions (those that trained the model)."""
    return pip_requirements([SERVING_CODE, TRAINER_CODE], bundled={TRAINER_CODE.name})
