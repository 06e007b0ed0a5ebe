"""The study file: its sections as frozen, typed values, checked before anything is created.

Owns the YAML's shape (`study_file`), the `study` and `tracking` settings, the search space and its
distributions, the sampler and pruner sections, the `enqueue`, `warm_start` and `constraints` sections, and
the study a confirmation derives from a study file (`confirm`, `retrain`).
Acting on a section (queueing, copying trials, judging a trial) belongs to the packages above.
May import: the base modules (`sweep.errors`, `sweep.database_urls`), `trainer` config, pydantic, Optuna's
distributions and samplers.
"""

from sweep.spec.study_file import StudySpec, load_study_spec, study_spec_from_dict

__all__ = ["StudySpec", "load_study_spec", "study_spec_from_dict"]
