"""The `study` and `tracking` sections of a study file: Optuna's study settings and MLflow's location."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, field_validator, model_validator
from pydantic_core import CoreSchema, core_schema

from sweep.database_urls import DatabaseUrl, StoreUrl, TrackingUri, parse_storage_url, parse_tracking_uri
from sweep.spec.constraints import LatencyProbe
from sweep.spec.samplers import MedianPrunerSpec, PrunerSpec, SamplerSpec, TPESamplerSpec
from trainer.config_errors import RuleViolation

DEFAULT_TRACKING_URI = DatabaseUrl.for_sqlite_file(Path("runs/mlflow.db"))
NonEmpty = Annotated[str, Field(min_length=1)]


class _ParsedBy:
    """A URL field: a string, parsed once by `parse` (whose `ValueError` says what is wrong); a value that
    is parsed already (`with_overrides`, a command-line option) is kept as it is."""

    def __init__(self, parse: Callable[[str], StoreUrl]) -> None:
        self._parse = parse

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_wrap_validator_function(self._validate, handler(str))

    def _validate(self, value: Any, as_string: core_schema.ValidatorFunctionWrapHandler) -> StoreUrl:
        # Pydantic's string check would turn a parsed value back into a plain `str`.
        return self._parse(value if isinstance(value, StoreUrl) else as_string(value))


StorageUrl = Annotated[DatabaseUrl, _ParsedBy(parse_storage_url)]
TrackingUriField = Annotated[TrackingUri, _ParsedBy(parse_tracking_uri)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StudySettings(_Section):
    """The Optuna study: its name, goal and budget, how it samples and prunes, and where it is stored.

    The objective is the best val mIoU of each trial, which is better when higher, so `direction` may
    only be `maximize` (the key stays so that a study file may say so). `n_trials` is the study's total
    over all workers and reruns; `timeout` (seconds) bounds one `sweep run`. `storage` None means `sqlite:///runs/<name>/optuna.db` and `artifacts_dir` None means
    `runs/<name>/trials`, both relative to the working directory.

    Disk hygiene: `keep_checkpoints` says which local checkpoints (`last.pt`, `best.pt`) outlive their
    trial. `best_in_mlflow` removes a completed trial's folder once its `best.pt` is logged to MLflow as
    `checkpoint/best.pt`; `all` keeps every completed trial's folder. Pruned trials and trials failed for
    good (an error the study catches, so no retry comes) leave no folder either way; a trial whose worker
    died keeps its folder, since its heartbeat retry resumes from it. `keep_top_k` (None: keep all) deletes,
    when the study ends, the `checkpoint/` artifacts of completed trials ranked below the best k by value,
    except on runs that have a registered model version.

    Failures (docs/reliability.md): a trial that fails with an error a retry may cure (a checkpoint that
    cannot be written, a lost service, a dead worker) runs again with the same params, resuming from its
    last checkpoint, up to `max_retries` times; one stopped by SIGINT or SIGTERM always runs again, and
    that is no failure. A trial that fails for good (a diverged loss, bad data, or no retries left) frees
    its place in `n_trials` for a new trial, until `max_failed_trials` (None: `n_trials`) have failed for
    good; then the study stops. A worker records a heartbeat every `heartbeat_interval` seconds; a trial
    whose heartbeat is older than `heartbeat_grace` seconds is taken as dead by any host and retried (on
    the dead worker's own host, a rerun sees at once that its process is gone).

    `latency` says how each trial's inference latency is measured before it trains (`sweep.spec.constraints`).
    """

    name: str
    direction: Literal["maximize"] = "maximize"
    n_trials: Annotated[int, Field(ge=1)] = 20
    timeout: Annotated[int, Field(ge=1)] | None = None
    sampler: SamplerSpec = TPESamplerSpec()
    pruner: PrunerSpec = MedianPrunerSpec()
    storage: StorageUrl | None = None
    artifacts_dir: Path | None = None
    keep_checkpoints: Literal["best_in_mlflow", "all"] = "best_in_mlflow"
    keep_top_k: Annotated[int, Field(ge=1)] | None = None
    max_retries: Annotated[int, Field(ge=0)] = 2
    max_failed_trials: Annotated[int, Field(ge=1)] | None = None
    heartbeat_interval: Annotated[int, Field(ge=1)] = 60
    heartbeat_grace: Annotated[int, Field(ge=2)] = 180
    latency: LatencyProbe = LatencyProbe()

    @property
    def failure_limit(self) -> int:
        """How many trials may fail for good before the study stops."""
        return self.n_trials if self.max_failed_trials is None else self.max_failed_trials

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(
                f"{name!r} may use only letters, digits, '_', '.' and '-' (it names folders and the study)"
            )
        if set(name) == {"."}:
            raise ValueError(f"{name!r} would name the current or parent folder; use a word")
        return name

    @field_validator("direction", mode="before")
    @classmethod
    def _objective_is_maximised(cls, direction: object) -> object:
        if direction == "minimize":
            raise ValueError(
                "the objective is val mIoU, which is better when higher, so a study can only maximize it; "
                "set direction: maximize or remove the key"
            )
        return direction

    @model_validator(mode="after")
    def _grace_outlasts_heartbeats(self) -> StudySettings:
        if self.heartbeat_grace <= self.heartbeat_interval:
            raise RuleViolation(
                f"{self.heartbeat_grace} s must be longer than heartbeat_interval ({self.heartbeat_interval} s), "
                "or live trials would be taken for dead; use at least twice the interval",
                key="heartbeat_grace",
                involves=("heartbeat_grace", "heartbeat_interval"),
            )
        return self


class TrackingSettings(_Section):
    """The MLflow server or database, and the names used there (None: the study's name).

    `system_metrics`: each trial's run records the host's CPU, memory, disk, network and NVIDIA GPU use
    while it trains, as `system/...` metrics sampled by MLflow every 10 s
    (`MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL` changes that); `false` records none.
    """

    uri: TrackingUriField | None = None
    experiment: NonEmpty | None = None
    registered_model: NonEmpty | None = None
    system_metrics: bool = True
