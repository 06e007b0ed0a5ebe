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
import optuna
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec
from optuna.trial import FrozenTrial

import trainer
from sweep.errors import NothingToPromoteError, OverBudgetError
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
from sweep.results.front import measured_candidates
from sweep.results.within_budget import BUDGET_TAG_PREFIX, best_within, budget_tags, over_budget_reason
from sweep.spec.constraints import Constraints
from sweep.spec.study_file import StudySpec
from sweep.storage.lookup import load_existing_study
from sweep.tracking import TrackingStore
from sweep.trials.own_trials import no_best_reason, own_best_trial
from sweep.trials.record import RUN_ID_ATTR
from sweep.trials.record_values import NetworkCost
from sweep.trials.record_view import TrialRecord
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
    trial, whatever its cost) and `cost` the trial's recorded network cost (None when it recorded none)."""

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

    The candidate is re-evaluated first (`GateMismatchError`, nothing registered, when it is off its
    record), then the version `alias` points to, if any. `alias` moves only to a better candidate (or with
    `force`); otherwise the candidate gets `CHALLENGER_ALIAS`. The version is tagged with both evaluations,
    the val split's checksum, the decision, the study, the trial number and the budget (`budget_tags`).
    """
    study = load_existing_study(spec)
    best = own_best_trial(study)
    if best is not None and budget is not None:
        best = _best_within(study, spec.study.name, budget)
    if best is None:
        raise NothingToPromoteError(f"study {spec.study.name!r} {no_best_reason(study, f'sweep run {spec.source}')}")
    assert best.value is not None  # the best trial is a completed one
    run_id = TrialRecord.of(best).mlflow_run_id
    if run_id is None:
        raise NothingToPromoteError(f"best trial #{best.number} has no MLflow run id (user attr {RUN_ID_ATTR!r})")
    model_name = name or spec.registered_model_name
    store = TrackingStore(spec.tracking_uri)
    with tempfile.TemporaryDirectory(prefix="sweep-promote-") as scratch:
        checkpoint = _download_checkpoint(
            store,
            run_id,
            Path(scratch, "candidate"),
            f"best trial #{best.number}",
            "run the study again under a new study.name",
        )
        config = candidate_config(checkpoint)
        candidate_miou = reevaluate_candidate(checkpoint, config, best.value, trial_number=best.number, force=force)
        versions = store.model_versions_for_run(model_name, run_id)
        current = store.alias_version(model_name, alias)
        champion = None
        if current is not None and current not in versions:
            champion = _evaluate_version(store, model_name, current, config, Path(scratch, "champion"), alias)
        decision = decide(candidate_miou, champion, same_version=current in versions, force=force)
        verdict = Verdict(best.value, candidate_miou, champion, val_split_checksum(config), decision)
        version = versions[0] if versions else _register(store, model_name, run_id, checkpoint, best.value)
    on_alias = CHALLENGER_ALIAS if decision == "challenger" else alias
    store.set_model_alias(model_name, on_alias, version)
    trial_tags = {"study": spec.study.name, "trial_number": str(best.number)}
    store.delete_version_tags(model_name, version, BUDGET_TAG_PREFIX)  # a promotion before this one's budget
    chosen_within = {} if budget is None else budget_tags(budget)
    store.set_version_tags(model_name, version, {**verdict.tags(), **trial_tags, **chosen_within})
    return Promotion(
        model_name,
        version,
        on_alias,
        run_id,
        best.number,
        best.value,
        not versions,
        verdict,
        budget=budget,
        cost=TrialRecord.of(best).network_cost,
    )


def _best_within(study: optuna.Study, study_name: str, budget: Constraints) -> FrozenTrial:
    """The candidate trial `best_within` chooses under `budget`; `OverBudgetError` naming the budget and the
    cheapest figures when none keeps it."""
    measured = measured_candidates(study)
    chosen = best_within(measured, budget)
    if chosen is None:
        raise OverBudgetError(f"study {study_name!r} {over_budget_reason(measured, budget)}")
    return study.get_trials(deepcopy=False)[chosen.number]


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
