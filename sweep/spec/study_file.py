"""A study file: the base training config, the search space, and where trials and results go.

`load_study_spec` reads the YAML and checks every key and value before anything is created: the study
and tracking settings, the `train` section as a `TrainConfig`, every value the search can produce, the
parameter sets of `enqueue` (`sweep.spec.enqueue`), the study file `warm_start` copies trials from, and the
bounds of `constraints` (`sweep.spec.constraints`).
Each failure is a `ConfigError` naming the dotted key (`study.pruner.type`, `train.optim.lr`,
`search.optim.name.choices[1]`) and the study file. This is the only module that knows the file's shape.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from sweep.database_urls import DatabaseUrl, TrackingUri
from sweep.spec.constraints import Constraints
from sweep.spec.distributions import AnyDistribution, Distribution
from sweep.spec.enqueue import check_enqueued
from sweep.spec.retrain import Retrain
from sweep.spec.samplers import check_sampler_fits_search
from sweep.spec.settings import DEFAULT_TRACKING_URI, StudySettings, TrackingSettings
from sweep.spec.space import SWEEP_OWNED_SECTION, check_against_train, check_search_path
from sweep.spec.warm_start import WarmStartSettings
from trainer.config import TrainConfig
from trainer.config_errors import rule_keys, validation_error_to_config_error
from trainer.config_loading import apply_overrides, read_yaml, validate, validate_tagged, validate_tagged_fields
from trainer.errors import ConfigError


class _StudyFile(BaseModel):
    """The top level of a study file; each section is checked by its own model afterwards."""

    model_config = ConfigDict(extra="forbid")

    study: dict[str, Any] | None
    tracking: dict[str, Any] | None = None
    train: dict[str, Any] | None = None
    search: dict[str, Any] | None
    enqueue: Any = None
    warm_start: dict[str, Any] | None = None
    constraints: dict[str, Any] | None = None


class StudySpec(BaseModel):
    """A validated study file. Build it with `load_study_spec`; `with_overrides` applies CLI flags.

    `train` is the validated base config; `train_data` returns a copy of the mapping it was built from,
    which is what each trial's parameters are applied to. When the base alone breaks a rule that a
    searched key settles (`min_lr` with the default schedule while `optim.schedule` is searched), no trial
    sees the base as written, and `train` is the first trial's corner of the search applied to it.

    `retrains` is empty for a study file; a confirmation's study (`sweep.spec.confirm`) queues its retrains.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    study: StudySettings
    tracking: TrackingSettings = TrackingSettings()
    train: TrainConfig
    search: dict[str, Distribution]
    enqueue: list[dict[str, Any]] = []
    warm_start: WarmStartSettings | None = None
    constraints: Constraints = Constraints()
    retrains: tuple[Retrain, ...] = ()
    source: Path | None = None
    _train_data: dict[str, Any] | None = PrivateAttr(default=None)

    @property
    def train_data(self) -> dict[str, Any]:
        """A copy of the `train` mapping as written (for a spec built directly: `train` as a mapping)."""
        if self._train_data is None:
            return {key: value for key, value in self.train.to_dict().items() if key != SWEEP_OWNED_SECTION}
        return copy.deepcopy(self._train_data)

    @property
    def storage_url(self) -> DatabaseUrl:
        """`study.storage`, by default `sqlite:///runs/<name>/optuna.db`, an SQLite path made absolute."""
        default = DatabaseUrl.for_sqlite_file(Path("runs") / self.study.name / "optuna.db")
        return (self.study.storage or default).absolute()

    @property
    def tracking_uri(self) -> TrackingUri:
        """`tracking.uri`, by default `sqlite:///runs/mlflow.db`, an SQLite path made absolute."""
        return (self.tracking.uri or DEFAULT_TRACKING_URI).absolute()

    @property
    def experiment_name(self) -> str:
        return self.tracking.experiment or self.study.name

    @property
    def registered_model_name(self) -> str:
        return self.tracking.registered_model or self.study.name

    @property
    def artifacts_dir(self) -> Path:
        return self.study.artifacts_dir or Path("runs") / self.study.name / "trials"

    def trial_config(self, params: Mapping[str, Any], *, checkpoint_dir: Path) -> TrainConfig:
        """The base mapping with a trial's parameters applied, checkpointing to `checkpoint_dir` with resume."""
        overrides = {**params, f"{SWEEP_OWNED_SECTION}.dir": str(checkpoint_dir), f"{SWEEP_OWNED_SECTION}.resume": True}
        try:
            data = apply_overrides(self.train_data, overrides, TrainConfig)
        except ConfigError as error:
            raise ConfigError(error.key, error.message, source=self.source) from None
        return validate(TrainConfig, data, source=self.source)

    def with_overrides(
        self,
        *,
        n_trials: int | None = None,
        timeout: int | None = None,
        storage: DatabaseUrl | str | None = None,
        tracking_uri: TrackingUri | str | None = None,
        warm_start_from: str | Path | None = None,
    ) -> StudySpec:
        """A copy with command-line values (None: keep) validated like the file's; errors name `command line`.

        `storage` and `tracking_uri` are parsed here unless they are parsed already (the CLI's options are).

        `warm_start_from` (a study file, relative to the working directory) replaces any `warm_start`."""
        changes = {"n_trials": n_trials, "timeout": timeout, "storage": storage}
        study_data = {**self.study.model_dump(), **{key: value for key, value in changes.items() if value is not None}}
        tracking_data = {**self.tracking.model_dump(), **({"uri": tracking_uri} if tracking_uri is not None else {})}
        study = validate_tagged_fields(StudySettings, study_data, prefix="study", source="command line")
        tracking = validate(TrackingSettings, tracking_data, prefix="tracking", source="command line")
        warm_start = self.warm_start
        if warm_start_from is not None:
            warm_start = _check_warm_start({"from": str(warm_start_from)}, Path.cwd(), None, source="command line")
        if len(self.enqueue) > study.n_trials:
            raise ConfigError(
                "study.n_trials",
                f"{study.n_trials} is fewer than the {len(self.enqueue)} sets the study file enqueues",
                source="command line",
            )
        spec = self.model_copy(update={"study": study, "tracking": tracking, "warm_start": warm_start})
        _check_separate_databases(spec, source="command line")
        return spec

    def resolved(self) -> dict[str, Any]:
        """The study with every default filled in, as plain YAML types (what `sweep validate` prints).

        `train` leaves out `checkpoint`: each trial checkpoints to `<artifacts_dir>/<trial>` and resumes.
        """
        study = {
            **self.study.model_dump(mode="json"),
            "storage": str(self.storage_url),
            "artifacts_dir": str(self.artifacts_dir),
        }
        tracking = {
            "uri": str(self.tracking_uri),
            "experiment": self.experiment_name,
            "registered_model": self.registered_model_name,
            "system_metrics": self.tracking.system_metrics,
        }
        train = {key: value for key, value in self.train.to_dict().items() if key != SWEEP_OWNED_SECTION}
        search = {path: distribution.model_dump(mode="json") for path, distribution in self.search.items()}
        resolved: dict[str, Any] = {"study": study, "tracking": tracking, "train": train, "search": search}
        if self.enqueue:
            resolved["enqueue"] = self.enqueue
        if self.warm_start is not None:
            resolved["warm_start"] = {"from": str(self.warm_start.study_file)}
        if self.constraints.bounds():
            resolved["constraints"] = {key: {"max": limit} for key, limit in self.constraints.bounds().items()}
        return resolved


def load_study_spec(path: str | Path) -> StudySpec:
    """Read and fully validate a study file; any problem raises `ConfigError` naming the key and the file."""
    document = read_yaml(path)
    if not document:
        raise ConfigError(
            "",
            "the file is empty; a study needs a `study` section (at least a name) and a `search` section, "
            "as in studies/smoke.yaml",
            source=path,
        )
    return study_spec_from_dict(document, source=Path(path))


def study_spec_from_dict(data: Mapping[str, Any], *, source: Path | None = None) -> StudySpec:
    """Validate a study held as a nested mapping (the parsed YAML); `source` only labels errors."""
    document = validate(_StudyFile, data, source=source)
    study = validate_tagged_fields(StudySettings, document.study or {}, prefix="study", source=source)
    tracking = validate(TrackingSettings, document.tracking or {}, prefix="tracking", source=source)
    train_data = document.train or {}
    if SWEEP_OWNED_SECTION in train_data:
        raise ConfigError(
            f"train.{SWEEP_OWNED_SECTION}",
            "the sweep sets each trial's checkpoint folder (under study.artifacts_dir) and always resumes; remove this section",
            source=source,
        )
    train = _validate_train(train_data, document.search or {}, source=source)
    search = _validate_search(document.search or {}, train_data, source=source)
    check_sampler_fits_search(study.sampler, search, source=source)
    if train is None:
        first_corner = {path: distribution.corners()[0] for path, distribution in search.items()}
        train = validate(
            TrainConfig, apply_overrides(train_data, first_corner, TrainConfig), prefix="train", source=source
        )
    enqueue = check_enqueued(document.enqueue, search, study.n_trials, source=source)
    folder = source.parent if source is not None else Path.cwd()
    warm_start = (
        None if document.warm_start is None else _check_warm_start(document.warm_start, folder, source, source=source)
    )
    constraints = validate(Constraints, document.constraints or {}, prefix="constraints", source=source)
    spec = StudySpec(
        study=study,
        tracking=tracking,
        train=train,
        search=search,
        enqueue=enqueue,
        warm_start=warm_start,
        constraints=constraints,
        source=source,
    )
    spec._train_data = copy.deepcopy(train_data)
    _check_separate_databases(spec, source=source)
    return spec


def _validate_train(
    train_data: Mapping[str, Any], search_paths: Iterable[str], *, source: Path | None
) -> TrainConfig | None:
    """The `train` section as a `TrainConfig`, or None when it breaks only a rule that reads a searched key.

    Every trial sets that key, so the base value never trains; `check_against_train` then judges the
    rule on the values the search produces.
    """
    try:
        return TrainConfig.model_validate(dict(train_data))
    except ValidationError as error:
        if set(rule_keys(error)) & set(search_paths):
            return None
        raise validation_error_to_config_error(error, TrainConfig, prefix="train", source=source) from None


def _validate_search(
    raw: Mapping[str, Any], train_data: Mapping[str, Any], *, source: Path | None
) -> dict[str, AnyDistribution]:
    if not raw:
        raise ConfigError(
            "search",
            "is empty; map at least one TrainConfig path to a distribution, e.g. optim.lr: {type: float, low: 0.001, high: 0.1, log: true}",
            source=source,
        )
    search: dict[str, AnyDistribution] = {}
    for path, distribution in raw.items():
        check_search_path(path, source=source)
        validated = validate_tagged(Distribution, distribution, key=f"search.{path}", source=source)
        search[path] = typing.cast(AnyDistribution, validated)  # the class its `type` tag names
    check_against_train(search, train_data, source=source)
    return search


def _check_warm_start(
    data: Mapping[str, Any], folder: Path, study_file: Path | None, *, source: str | Path | None
) -> WarmStartSettings:
    """The `warm_start` section with `from` made absolute from `folder`; the file must exist and not be
    `study_file` itself. The other study is read when the warm start runs."""
    settings = validate(WarmStartSettings, data, prefix="warm_start", source=source)
    path = (folder / settings.study_file).resolve()
    if not path.is_file():
        raise ConfigError(
            "warm_start.from", f"no study file at {path}; give the path of the other study's YAML", source=source
        )
    if study_file is not None and path == study_file.resolve():
        raise ConfigError("warm_start.from", "names this study file; give another study's file", source=source)
    return WarmStartSettings(study_file=path)


def _check_separate_databases(spec: StudySpec, *, source: str | Path | None) -> None:
    if spec.storage_url.same_database(spec.tracking_uri):
        raise ConfigError(
            "study.storage",
            f"{spec.storage_url.masked!r} is also tracking.uri; Optuna's and MLflow's tables clash in one database (optuna#2866): give each its own",
            source=source,
        )
