"""The MLflow run lifecycle of a study, against a real local MLflow SQLite store."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState, create_trial

from sweep.tracking import BATCH_LIMIT, PARENT_RUN_ATTR, StudyTracker, TrackingStore, TrialRun
from sweep.tracking.tags import BOOKKEEPING_KEYS
from sweep.trials.record import RUN_ID_ATTR
from sweep.trials.record_values import AttemptCompute
from trainer.config import TrainConfig

STORAGE = "postgresql+psycopg2://sweeper:secret@db/optuna"
_experiments = itertools.count()


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow store for the module (creating its schema takes seconds); each test has its own experiment."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


@pytest.fixture
def client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri)


@pytest.fixture
def tracker(tracking_uri: str) -> StudyTracker:
    return StudyTracker(tracking_uri, f"experiment-{next(_experiments)}", study_name="tiny", storage_url=STORAGE)


def maximize() -> optuna.Study:
    return optuna.create_study(study_name="tiny", direction="maximize")


def test_open_parent_creates_once_then_reattaches(tracker: StudyTracker, client: MlflowClient) -> None:
    study = maximize()
    run_id = tracker.open_parent(study)
    assert study.user_attrs[PARENT_RUN_ATTR] == run_id
    tags = client.get_run(run_id).data.tags
    assert tags["sweep.role"] == "study" and tags["optuna.study_name"] == "tiny"
    assert tags["optuna.storage"] == "postgresql+psycopg2://sweeper:***@db/optuna"
    assert tracker.close_parent(run_id, study, "FINISHED")
    assert client.get_run(run_id).info.status == "FINISHED"

    assert tracker.open_parent(study) == run_id, "a rerun reattaches through the user attr"
    assert client.get_run(run_id).info.status == "RUNNING"
    assert tracker.open_parent(maximize()) == run_id, "a study without the user attr finds the parent by its tags"
    assert len(client.search_runs([tracker.experiment_id])) == 1


def test_open_parent_replaces_a_parent_missing_from_the_store(tracker: StudyTracker, client: MlflowClient) -> None:
    study = maximize()
    study.set_user_attr(PARENT_RUN_ATTR, "0" * 32)  # the tracking store was reset while the study survived
    run_id = tracker.open_parent(study)
    assert run_id != "0" * 32 and study.user_attrs[PARENT_RUN_ATTR] == run_id
    assert client.get_run(run_id).info.status == "RUNNING"


@pytest.mark.parametrize("status", ["FINISHED", "KILLED"])
def test_close_parent_waits_for_running_trials(tracker: StudyTracker, client: MlflowClient, status: str) -> None:
    study = maximize()
    run_id = tracker.open_parent(study)
    running = study.ask()  # another worker's trial
    assert not tracker.close_parent(run_id, study, status)  # type: ignore[arg-type]
    assert client.get_run(run_id).info.status == "RUNNING"
    study.tell(running, 0.5)
    assert tracker.close_parent(run_id, study, status)  # type: ignore[arg-type]
    assert client.get_run(run_id).info.status == status


ENDINGS: list[tuple[Callable[[TrialRun], None], str, dict[str, str], dict[str, float]]] = [
    (
        lambda run: run.finish(0.625, 2),
        "FINISHED",
        {"optuna.state": "COMPLETE", "best_miou": "0.625000"},
        {"best_val_miou": 0.625, "best_epoch": 2.0},
    ),
    (
        lambda run: run.prune(2, best=(0.5, 2)),
        "KILLED",
        {"optuna.state": "PRUNED", "pruned": "true", "pruned_at_epoch": "2"},
        {"best_val_miou": 0.5, "best_epoch": 2.0},
    ),
    (
        lambda run: run.prune(None),
        "KILLED",
        {"optuna.state": "PRUNED", "pruned_at_epoch": "None"},
        {"best_val_miou": 0.25},  # only the first epoch's best so far
    ),
    (
        lambda run: run.prune(2, why={"pruned_at_step": "2", "pruned_against": "0.5"}, best=(0.25, 1)),
        "KILLED",
        {"optuna.state": "PRUNED", "pruned_at_epoch": "2", "pruned_at_step": "2", "pruned_against": "0.5"},
        {"best_val_miou": 0.25, "best_epoch": 1.0},
    ),
    (
        lambda run: run.fail(ValueError("loss is nan")),
        "FAILED",
        {"optuna.state": "FAIL", "error": "ValueError: loss is nan"},
        {"best_val_miou": 0.25},
    ),
]


@pytest.mark.parametrize(
    ("end", "status", "tags", "objective"),
    ENDINGS,
    ids=["finish", "prune", "prune-before-any-epoch", "prune-explained", "fail"],
)
def test_trial_run_records_config_epochs_and_its_end(
    tracker: StudyTracker,
    client: MlflowClient,
    end: Callable[[TrialRun], None],
    status: str,
    tags: dict[str, str],
    objective: dict[str, float],
) -> None:
    study = maximize()
    parent = tracker.open_parent(study)
    trial = study.ask()
    config = TrainConfig.model_validate({"checkpoint": {"dir": f"runs/trials/trial-{trial.number}"}})
    run = tracker.start_trial(trial, config, parent, {"data.root": "data/voc"})
    assert trial.user_attrs[RUN_ID_ATTR] == run.run_id
    run.log_epoch(1, {"val/miou": 0.25, "train/loss": 1.5})
    run.log_epoch(2, {"val/miou": 0.5, "train/loss": 1.0})
    end(run)

    recorded = client.get_run(run.run_id)
    assert recorded.info.status == status and recorded.info.run_name == f"trial-{trial.number}"
    assert tags.items() <= recorded.data.tags.items()
    assert recorded.data.tags["mlflow.parentRunId"] == parent and recorded.data.tags["sweep.role"] == "trial"
    assert recorded.data.tags["optuna.trial_number"] == str(trial.number)
    assert recorded.data.tags["data.root"] == "data/voc", "the data's resolved root wins over the config's"
    assert recorded.data.params["optim.lr"] == "0.01" and recorded.data.params["model.backbone"] == "resnet50"
    assert not BOOKKEEPING_KEYS & recorded.data.params.keys(), "paths are tags, not params"
    assert recorded.data.tags["checkpoint.dir"] == f"runs/trials/trial-{trial.number}"
    assert recorded.data.tags["checkpoint.resume"] == "True" and recorded.data.tags["model.weights_path"] == "None"
    history = client.get_metric_history(run.run_id, "val/miou")
    assert sorted((metric.step, metric.value) for metric in history) == [(1, 0.25), (2, 0.5)]
    assert {key: value for key, value in recorded.data.metrics.items() if key.startswith("best_")} == objective
    # The best so far at the first epoch, as the run's first metric (the compare view's first axis); then
    # a completed trial's at its best epoch, or a pruned one's best so far, at its epoch.
    assert next(iter(recorded.data.metrics)) == "best_val_miou"
    ended = [(int(objective["best_epoch"]), objective["best_val_miou"])] if "best_epoch" in objective else []
    logged = client.get_metric_history(run.run_id, "best_val_miou")
    assert sorted((metric.step, metric.value) for metric in logged) == sorted([(1, 0.25), *ended])


def test_experiment_opens_on_its_runs_in_the_ui(tracker: StudyTracker, client: MlflowClient, tracking_uri: str) -> None:
    assert client.get_experiment(tracker.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    older = client.create_experiment("made-before-the-tag")
    chosen = client.create_experiment("kind-chosen-in-the-ui", tags={"mlflow.experimentKind": "genai_development"})
    for name in ("made-before-the-tag", "kind-chosen-in-the-ui"):
        StudyTracker(tracking_uri, name, study_name="tiny", storage_url=STORAGE)
    assert client.get_experiment(older).tags["mlflow.experimentKind"] == "custom_model_development"
    assert client.get_experiment(chosen).tags["mlflow.experimentKind"] == "genai_development", "left as it was"


def test_trial_run_records_system_metrics_until_its_end(
    tracker: StudyTracker, client: MlflowClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    study = maximize()
    parent = tracker.open_parent(study)
    quiet = tracker.start_trial(study.ask(), TrainConfig(), parent, {})
    run = tracker.start_trial(study.ask(), TrainConfig(), parent, {}, system_metrics=True)
    run.log_summary({"model/params_m": 11.7})
    time.sleep(1.5)
    assert client.get_run(run.run_id).data.metrics == {}, "sampled, but held until the objective has gone"
    run.log_epoch(1, {"val/miou": 0.5})
    time.sleep(0.5)
    run.finish(0.5, 1)
    quiet.finish(0.5, 1)
    samples = client.get_metric_history(run.run_id, "system/cpu_utilization_percentage")
    assert len(samples) >= 2 and all(0.0 <= sample.value <= 100.0 * 64 for sample in samples)
    (epoch,) = client.get_metric_history(run.run_id, "val/miou")
    assert min(sample.timestamp for sample in samples) < epoch.timestamp, "held samples keep their own time"
    metrics = client.get_run(run.run_id).data.metrics
    assert list(metrics)[:3] == ["best_val_miou", "val/miou", "model/params_m"], "the objective first"
    assert {"system/system_memory_usage_megabytes", "system/system_memory_usage_percentage"} <= metrics.keys()
    assert not [key for key in client.get_run(quiet.run_id).data.metrics if key.startswith("system/")]
    ended = len(samples)
    time.sleep(0.5)
    assert len(client.get_metric_history(run.run_id, "system/cpu_utilization_percentage")) == ended, "it stopped"


def test_retried_trial_reopens_the_same_run(tracker: StudyTracker, client: MlflowClient) -> None:
    study = maximize()
    parent = tracker.open_parent(study)
    dead = study.ask()
    first = tracker.start_trial(dead, TrainConfig(), parent, {})
    first.fail(KeyboardInterrupt())
    study.tell(dead, state=optuna.trial.TrialState.FAIL)
    # What Optuna's heartbeat does to a stale trial: enqueue a copy that inherits the user attrs.
    study.enqueue_trial({}, user_attrs=dict(study.trials[0].user_attrs))
    retried = study.ask()
    second = tracker.start_trial(retried, TrainConfig(), parent, {})
    assert second.run_id == first.run_id
    run = client.get_run(second.run_id)
    assert run.info.status == "RUNNING" and run.info.run_name == "trial-1"
    assert run.data.tags["optuna.trial_number"] == "1"
    assert len(client.search_runs([tracker.experiment_id], "tags.`sweep.role` = 'trial'")) == 1


def test_log_parent_best_and_artifacts(tracker: StudyTracker, client: MlflowClient, tmp_path: Path) -> None:
    study = maximize()
    parent = tracker.open_parent(study)
    tracker.log_parent_best(parent, study)  # no completed trial yet: nothing to log
    assert client.get_run(parent).data.metrics == {}
    study.enqueue_trial({"optim.lr": 0.05})
    study.optimize(lambda trial: trial.suggest_float("optim.lr", 1e-4, 1.0), n_trials=1)
    tracker.log_parent_best(parent, study)
    run = client.get_run(parent)
    assert run.data.metrics["best_value"] == pytest.approx(0.05)
    assert run.data.tags["best.trial_number"] == "0" and run.data.tags["best.optim.lr"] == "0.05"

    study.add_trial(create_trial(state=TrialState.PRUNED, user_attrs=AttemptCompute(1, 3.0, 0.0, 4).user_attrs()))
    tracker.log_parent_compute(parent, study)  # the completed trial recorded no figures: one chain of 1 epoch
    metrics = client.get_run(parent).data.metrics
    assert (metrics["compute/epochs"], metrics["compute/no_pruning_epochs"]) == (1.0, 4.0)
    assert metrics["compute/epochs_saved"] == 0.75 and "compute/no_pruning_wall_s" not in metrics

    plot = tmp_path / "history.png"
    plot.write_bytes(b"png")
    tracker.log_parent_artifacts(parent, [plot], "plots")
    assert [item.path for item in client.list_artifacts(parent, "plots")] == ["plots/history.png"]
    stored = Path(client.download_artifacts(parent, "plots/history.png", str(tmp_path / "back")))
    assert stored.read_bytes() == b"png"


def test_artifacts_live_beside_a_local_sqlite_store(
    tracker: StudyTracker, tracking_uri: str, client: MlflowClient
) -> None:
    location = client.get_experiment(tracker.experiment_id).artifact_location
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    assert location == (database.parent / "mlartifacts" / client.get_experiment(tracker.experiment_id).name).as_uri()


def test_log_batch_splits_at_mlflow_limits(tracking_uri: str, client: MlflowClient) -> None:
    store = TrackingStore(tracking_uri)
    run_id = store.create_run(store.experiment_id("batching"), "many", {})
    count = 2 * BATCH_LIMIT + 50
    store.log_batch(
        run_id,
        metrics={f"m{i}": float(i) for i in range(count)},
        step=7,
        params={f"p{i}": i for i in range(count)},
        tags={f"t{i}": str(i) for i in range(BATCH_LIMIT + 1)},
    )
    data = client.get_run(run_id).data
    assert len(data.params) == count and data.params["p249"] == "249"
    assert len(data.metrics) == count and data.metrics["m123"] == 123.0
    assert {f"t{i}" for i in range(BATCH_LIMIT + 1)} <= data.tags.keys()
    assert store.metric_history(run_id, "m5") == [(7, 5.0)]


def test_experiment_id_is_found_again(tracking_uri: str) -> None:
    store = TrackingStore(tracking_uri)
    assert store.experiment_id("same") == TrackingStore(tracking_uri).experiment_id("same")


def test_no_model_versions_before_promotion(tracking_uri: str, client: MlflowClient) -> None:
    store = TrackingStore(tracking_uri)
    run_id = store.create_run(store.experiment_id("registry"), "trial-0", {})
    client.create_registered_model("voc")
    assert store.model_versions_for_run("voc", run_id) == []
    assert store.model_aliases("voc") == {}
