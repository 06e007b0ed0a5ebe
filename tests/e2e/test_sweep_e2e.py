"""End to end: a small study through the CLI, checked in Optuna's storage, MLflow's store and on disk.

The study is the session's `finished_study` (tests/e2e/conftest.py), which test_sweep_disk_studies reads too.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers import PRUNING_STUDY_TRIALS
from optuna.trial import TrialState

from sweep.cli import cli as sweep_cli

pytestmark = pytest.mark.slow

N_TRIALS = PRUNING_STUDY_TRIALS


def invoke(command: Any, args: list[str]) -> Result:
    return CliRunner().invoke(command, args, catch_exceptions=False)


def trial_runs(finished: dict[str, Any]) -> list[Any]:
    client = finished["client"]
    experiment = client.get_experiment_by_name("tiny")
    return client.search_runs([experiment.experiment_id], "tags.`sweep.role` = 'trial'")


def test_run_finishes_the_study_and_a_rerun_runs_nothing(finished_study: dict[str, Any]) -> None:
    assert finished_study["result"].exit_code == 0, finished_study["result"].output
    study = finished_study["study"]
    states = [trial.state for trial in study.trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == N_TRIALS
    assert TrialState.COMPLETE in states and TrialState.PRUNED in states and TrialState.FAIL in states
    failed = [trial for trial in study.trials if trial.state == TrialState.FAIL]
    assert len(study.trials) == N_TRIALS + len(failed), "each diverged trial gave its place to a new one"
    assert all("the same params would fail again" in t.user_attrs["failed_for_good"] for t in failed)
    rerun = finished_study["rerun"]
    assert rerun.exit_code == 0 and "nothing to run" in rerun.output and "ran 0 trials" in rerun.output
    assert len(trial_runs(finished_study)) == len(study.trials), "a rerun creates no run"


def test_one_child_run_per_trial_under_one_parent_with_matching_states(finished_study: dict[str, Any]) -> None:
    study, client = finished_study["study"], finished_study["client"]
    runs = {run.info.run_id: run for run in trial_runs(finished_study)}
    parents = {run.data.tags["mlflow.parentRunId"] for run in runs.values()}
    assert parents == {study.user_attrs["mlflow_parent_run_id"]}
    assert client.get_run(parents.pop()).info.status == "FINISHED"
    expected_status = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED", TrialState.FAIL: "FAILED"}
    for trial in study.trials:
        run = runs[trial.user_attrs["mlflow_run_id"]]
        assert run.data.tags["optuna.trial_number"] == str(trial.number)
        assert run.info.status == expected_status[trial.state]
        if trial.state == TrialState.PRUNED:
            assert run.data.tags["pruned"] == "true"
        if trial.state == TrialState.FAIL:
            assert run.data.tags["error"].startswith("DivergedError: loss diverged")
            assert trial.user_attrs["fail_reason"].startswith("DivergedError")


def test_runs_record_whole_config_tags_and_per_epoch_metrics(finished_study: dict[str, Any]) -> None:
    study, client = finished_study["study"], finished_study["client"]
    completed = [t for t in study.trials if t.state == TrialState.COMPLETE]
    run = client.get_run(completed[0].user_attrs["mlflow_run_id"])
    params = run.data.params
    assert params["data.crop_size"] == "48" and params["model.backbone"] == "mobilenet_v3_large"
    assert float(params["optim.lr"]) == completed[0].params["optim.lr"]
    assert not {"checkpoint.dir", "checkpoint.resume", "data.root"} & params.keys(), "bookkeeping is in tags"
    tags = run.data.tags
    assert tags["checkpoint.dir"].endswith(f"/trial-{completed[0].number}") and tags["checkpoint.resume"] == "True"
    assert tags["optuna.study_name"] == "tiny" and tags["optuna.storage"].endswith("runs/tiny/optuna.db")
    assert {"torch.version", "optuna.version", "mlflow.version", "host"} <= tags.keys()
    assert len(tags["data.train_checksum"]) == 64
    for key in ("val/miou", "val/pixel_accuracy", "train/loss", "lr", "val/iou/background"):
        history = client.get_metric_history(run.info.run_id, key)
        assert sorted(metric.step for metric in history) == [1, 2], key
    mious = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "val/miou")}
    assert max(mious.values()) == pytest.approx(completed[0].value)
    assert completed[0].intermediate_values == pytest.approx(mious)


def test_completed_runs_carry_their_objective_as_metrics(finished_study: dict[str, Any]) -> None:
    study, client = finished_study["study"], finished_study["client"]
    for trial in study.trials:
        metrics = client.get_run(trial.user_attrs["mlflow_run_id"]).data.metrics
        if trial.state == TrialState.COMPLETE:
            assert metrics["best_val_miou"] == pytest.approx(trial.value)
            assert metrics["best_epoch"] == trial.user_attrs["best_epoch"]
        elif trial.state == TrialState.PRUNED:  # the best value so far, which the median pruner judged
            reported = trial.intermediate_values
            best_epoch = max(reported, key=lambda epoch: (reported[epoch], -epoch))
            assert (metrics["best_val_miou"], metrics["best_epoch"]) == (reported[best_epoch], best_epoch)
            assert client.get_run(trial.user_attrs["mlflow_run_id"]).data.tags["pruned"] == "true"
        else:
            assert "best_val_miou" not in metrics, trial.state
    experiment = client.get_experiment_by_name("tiny")
    ranked = client.search_runs([experiment.experiment_id], order_by=["metrics.`best_val_miou` DESC"], max_results=1)
    assert ranked[0].data.metrics["best_val_miou"] == pytest.approx(study.best_value), "the runs table sorts by it"


def test_the_experiment_opens_as_model_training_and_the_run_prints_its_links(finished_study: dict[str, Any]) -> None:
    study, client = finished_study["study"], finished_study["client"]
    experiment = client.get_experiment_by_name("tiny")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs_page = f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs"
    lines = finished_study["result"].output.splitlines()
    assert (
        f"MLflow UI: start it with `mlflow ui --backend-store-uri sqlite:///{finished_study['workdir']}/runs/mlflow.db`, then open"
        in lines
    )
    sorted_page = f"{runs_page}?workflowType=machine_learning&orderByKey=metrics.%60best_val_miou%60&orderByAsc=false"
    assert f"runs (best first): {sorted_page}" in lines
    best_run = study.best_trial.user_attrs["mlflow_run_id"]
    assert f"best run: {runs_page}/{best_run}?workflowType=machine_learning" in lines


def test_trial_runs_record_system_metrics(finished_study: dict[str, Any]) -> None:
    study, client = finished_study["study"], finished_study["client"]
    for trial in study.trials:
        run_id = trial.user_attrs["mlflow_run_id"]
        assert client.get_metric_history(run_id, "system/cpu_utilization_percentage"), trial.number
        assert "system/system_memory_usage_megabytes" in client.get_run(run_id).data.metrics


def test_completed_runs_carry_checkpoint_table_and_overlays(finished_study: dict[str, Any]) -> None:
    study, client = finished_study["study"], finished_study["client"]
    trial = next(t for t in study.trials if t.state == TrialState.COMPLETE)
    run_id = trial.user_attrs["mlflow_run_id"]
    listed = {item.path for item in client.list_artifacts(run_id)}
    assert {"checkpoint", "per_class_iou.csv", "overlays"} <= listed
    assert [item.path for item in client.list_artifacts(run_id, "checkpoint")] == ["checkpoint/best.pt"]
    assert len(client.list_artifacts(run_id, "overlays")) == 3
    table = Path(client.download_artifacts(run_id, "per_class_iou.csv")).read_text().splitlines()
    assert table[0] == "class,iou" and len(table) == 22
    parent = study.user_attrs["mlflow_parent_run_id"]
    plots = {item.path for item in client.list_artifacts(parent, "plots")}
    assert {"plots/optimization_history.png", "plots/intermediate_values.png"} <= plots
    assert {"plots/optimization_history.html", "plots/parallel_coordinate.html"} <= plots, "interactive beside PNG"
    trials_csv = Path(client.download_artifacts(parent, "trials.csv")).read_text().splitlines()
    assert len(trials_csv) == len(study.trials) + 1
    assert client.get_run(parent).data.metrics["best_value"] == pytest.approx(study.best_value)


def test_status_and_best_report_the_study(finished_study: dict[str, Any]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(finished_study["workdir"])
        status = invoke(sweep_cli, ["status", str(finished_study["study_file"]), "--json"])
        best = invoke(sweep_cli, ["best", str(finished_study["study_file"]), "--json"])
    assert status.exit_code == 0 and best.exit_code == 0
    rows = json.loads(status.output)["trials"]
    assert [row["number"] for row in rows] == list(range(len(finished_study["study"].trials)))
    assert {row["state"] for row in rows} == {"COMPLETE", "PRUNED", "FAIL"}
    summary = json.loads(best.output)
    assert summary["number"] == finished_study["study"].best_trial.number
    assert summary["metrics"]["val/miou"] == pytest.approx(finished_study["study"].best_value)
    run_id = finished_study["study"].best_trial.user_attrs["mlflow_run_id"]
    assert summary["checkpoint_uri"] == f"runs:/{run_id}/checkpoint/best.pt"
    assert summary["model_uri"] in [summary["checkpoint_uri"], *summary["registered_model_uris"]]
    assert summary["best_epoch"] in (1, 2)


def test_pruned_runs_say_why_and_every_trial_accounts_for_its_compute(finished_study: dict[str, Any]) -> None:
    study, client = finished_study["study"], finished_study["client"]
    runs = {run.info.run_id: run for run in trial_runs(finished_study)}
    explanations = []
    for trial in study.trials:
        run = runs[trial.user_attrs["mlflow_run_id"]]
        epochs = len(trial.intermediate_values)
        assert trial.user_attrs["attempt_epochs"] == epochs and trial.user_attrs["attempt_planned_epochs"] == 2
        assert trial.user_attrs["attempt_wall_s"] > 0 and trial.user_attrs["attempt_gpu_s"] == 0.0, "CPU trials"
        assert run.data.metrics["compute/epochs"] == epochs and run.data.metrics["compute/gpu_s"] == 0.0
        assert run.data.metrics["compute/wall_s"] == pytest.approx(trial.user_attrs["attempt_wall_s"])
        if trial.state != TrialState.PRUNED:
            continue
        # The median pruner compares the best value so far with the median, at the pruned step, of the trials
        # completed by then (one worker: those numbered before it).
        step = max(trial.intermediate_values)
        earlier = [t.intermediate_values[step] for t in study.trials[: trial.number] if t.state == TrialState.COMPLETE]
        value, median = max(trial.intermediate_values.values()), statistics.median(earlier)
        assert value < median
        tags = run.data.tags
        assert tags["pruned_at_step"] == str(step) and float(tags["pruned_value"]) == value
        assert float(tags["pruned_against"]) == pytest.approx(median)
        assert tags["pruned_compared_trials"] == str(len(earlier))
        assert trial.user_attrs["pruned_against"] == pytest.approx(median)
        explanations.append(
            f"pruned at epoch {step}: val mIoU {value:.4f} < median {median:.4f} of {len(earlier)} trials"
        )
    assert explanations
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(finished_study["workdir"])
        patch.setenv("COLUMNS", "400")  # the table's notes on one line
        status = invoke(sweep_cli, ["status", str(finished_study["study_file"])])
        as_json = invoke(sweep_cli, ["status", str(finished_study["study_file"]), "--json"])
    assert all(explanation in status.output for explanation in explanations), status.output
    # Without pruning, each pruned trial would have trained both epochs; the others trained what they did.
    trained = sum(len(trial.intermediate_values) for trial in study.trials)
    no_pruning = sum(2 if t.state == TrialState.PRUNED else len(t.intermediate_values) for t in study.trials)
    saved = 1 - trained / no_pruning
    line = f"pruning saved {100 * saved:.1f}% of epochs ({trained} trained of {no_pruning} without pruning"
    assert line in status.output and line in finished_study["result"].output
    compute = json.loads(as_json.output)["compute"]
    assert (compute["epochs"], compute["no_pruning_epochs"]) == (trained, no_pruning)
    assert compute["epochs_saved"] == pytest.approx(saved)
    parent = client.get_run(study.user_attrs["mlflow_parent_run_id"]).data.metrics
    assert parent["compute/epochs_saved"] == pytest.approx(saved) and parent["compute/epochs"] == trained
    assert parent["compute/wall_s"] == pytest.approx(sum(t.user_attrs["attempt_wall_s"] for t in study.trials))


def test_promote_is_idempotent_and_the_alias_predicts(finished_study: dict[str, Any], synth_voc: Path) -> None:
    workdir, client = finished_study["workdir"], finished_study["client"]
    best_run_id = finished_study["study"].best_trial.user_attrs["mlflow_run_id"]
    trained = client.get_run(best_run_id).info
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        first = invoke(sweep_cli, ["promote", str(finished_study["study_file"])])
        second = invoke(sweep_cli, ["promote", str(finished_study["study_file"])])
        out = workdir / "predictions"
        image = (
            synth_voc / "JPEGImages" / f"{(synth_voc / 'ImageSets/Segmentation/val.txt').read_text().split()[0]}.jpg"
        )
        predicted = invoke(
            sweep_cli, ["predict", "--model", "models:/tiny-voc@champion", str(image), "--out", str(out)]
        )
    assert first.exit_code == 0 and "registered tiny-voc version 1" in first.output
    assert second.exit_code == 0 and "already registered as tiny-voc version 1" in second.output
    versions = client.search_model_versions("name = 'tiny-voc'")
    assert len(versions) == 1
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        best = json.loads(invoke(sweep_cli, ["best", str(finished_study["study_file"]), "--json"]).output)
    assert best["model_uri"] == "models:/tiny-voc@champion"
    assert best["registered_model_uris"] == ["models:/tiny-voc@champion", "models:/tiny-voc/1"]
    version = client.get_model_version_by_alias("tiny-voc", "champion")
    best = finished_study["study"].best_trial
    assert str(version.version) == "1" and version.tags["trial_number"] == str(best.number)
    assert version.tags["study"] == "tiny" and float(version.tags["val_miou"]) == pytest.approx(best.value, abs=1e-6)
    promoted = client.get_run(best_run_id).info
    assert trained.status == "FINISHED" and trained.end_time is not None
    assert (promoted.status, promoted.start_time, promoted.end_time) == (
        trained.status,
        trained.start_time,
        trained.end_time,
    ), "promote keeps the run as training ended it: its state, and its duration in the UI"
    linked = [
        model for model in client.search_logged_models([trained.experiment_id]) if model.source_run_id == best_run_id
    ]
    assert [f"models:/{model.model_id}" for model in linked] == [version.source], (
        "the version's model, linked to the run"
    )
    assert predicted.exit_code == 0, predicted.output
    from PIL import Image

    with Image.open(out / f"{image.stem}.png") as mask:
        assert mask.mode == "P" and mask.size == Image.open(image).size
    assert (out / f"{image.stem}_overlay.png").is_file()


def test_registered_model_loads_as_pyfunc_at_any_size(finished_study: dict[str, Any]) -> None:
    import mlflow
    import numpy as np

    finished = finished_study
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(finished["workdir"])
        invoke(sweep_cli, ["promote", str(finished["study_file"])])
        mlflow.set_tracking_uri(f"sqlite:///{finished['workdir']}/runs/mlflow.db")
        model = mlflow.pyfunc.load_model("models:/tiny-voc@champion")
    image = np.random.default_rng(0).integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    labels = model.predict(image[None])
    assert labels.shape == (1, 37, 53) and labels.dtype == np.uint8 and labels.max() <= 20
