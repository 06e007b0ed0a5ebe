"""The study a confirmation runs: `<name>-confirm`, derived from a study file, whose trials are retrains.

`sweep confirm` trains the best trials of a study again with fresh seeds (`sweep.spec.retrain`). The
retrains are the trials of a linked study in the same storage and the same MLflow experiment, so that
`sweep run`'s machinery (workers, `--gpus`, retries, resume after a signal, the parent run) runs them
unchanged. The derived study differs from the file's in what a confirmation needs:
- its name is `<name>-confirm` and its `n_trials` the number of retrains: each retrain is queued, none sampled;
- it prunes nothing: a retrain's value is compared with the others', so each trains to the end;
- `seed` is searched over [0, SEED_LIMIT], so that a retrain's queued seed is a parameter of its trial;
- it keeps every checkpoint (no `keep_top_k`): the retrain with the median value is the one promoted.
"""

from __future__ import annotations

from collections.abc import Sequence

from sweep.spec.distributions import IntDistribution
from sweep.spec.retrain import SEED_KEY, SEED_LIMIT, Retrain
from sweep.spec.samplers import NoPrunerSpec
from sweep.spec.study_file import StudySpec

CONFIRM_SUFFIX = "-confirm"


def confirm_study_name(study_name: str) -> str:
    """The name of the study that confirms `study_name`'s best trials."""
    return f"{study_name}{CONFIRM_SUFFIX}"


def confirmation_spec(spec: StudySpec, retrains: Sequence[Retrain]) -> StudySpec:
    """The confirmation study of `spec` that runs `retrains` (at least one): same storage, experiment,
    registered model, artifacts folder, training config and constraints; see the module's docstring."""
    if not retrains:
        raise ValueError("a confirmation runs at least one retrain")
    study = spec.study.model_copy(
        update={
            "name": confirm_study_name(spec.study.name),
            "n_trials": len(retrains),
            "pruner": NoPrunerSpec(),
            "storage": spec.storage_url,
            "artifacts_dir": spec.artifacts_dir,
            "keep_top_k": None,
        }
    )
    tracking = spec.tracking.model_copy(
        update={
            "uri": spec.tracking_uri,
            "experiment": spec.experiment_name,
            "registered_model": spec.registered_model_name,
        }
    )
    search = {**spec.search, SEED_KEY: IntDistribution(low=0, high=SEED_LIMIT)}
    update = {"study": study, "tracking": tracking, "search": search, "enqueue": [], "warm_start": None}
    return spec.model_copy(update={**update, "retrains": tuple(retrains)})


def confirm_options(retrains: Sequence[Retrain]) -> str:
    """`--top K --seeds N`: the options of `sweep confirm` that plan `retrains` again."""
    top = len({retrain.trial for retrain in retrains})
    seeds = max(retrain.index for retrain in retrains) + 1
    return f"--top {top} --seeds {seeds}"
