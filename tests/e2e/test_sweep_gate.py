"""The gate of `sweep promote`, end to end: two real studies, one real MLflow registry, generated data.

Study `good` learns (lr 0.05), study `bad` barely moves (lr 1e-9) and has separable convolutions in its
head (other weights) and validates on another split (`train`), so the champion it is compared with must be
evaluated with the config saved in the champion's own checkpoint (with the candidate's, its weights would
not load), but on the candidate's val split.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from click.testing import CliRunner, Result
from helpers import study_document, tiny_train
from mlflow.tracking import MlflowClient

from sweep.cli import cli as sweep_cli
from sweep.promote.gate import MIOU_TOLERANCE
from trainer import config_from_dict
from trainer.checkpoint import load_checkpoint
from trainer.data.stats import split_checksum
from trainer.evaluation import evaluate_checkpoint

pytestmark = pytest.mark.slow

MODEL = "gate-voc"


def gate_study(name: str, data_root: Path, lr: float, separable: bool, val_split: str) -> dict[str, Any]:
    train = tiny_train(
        data_root,
        seed=0,
        epochs=2,
        model={"backbone": "mobilenet_v3_large", "separable": separable},
        optim={"name": "sgd", "backbone_lr_mult": 1.0},
    )
    train["data"]["val_split"] = val_split
    return study_document(
        name,
        n_trials=1,
        train=train,
        search={"optim.lr": {"type": "categorical", "choices": [lr]}},
        sampler=None,
        pruner=None,
        tracking={"registered_model": MODEL},
    )


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(sweep_cli, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def studies(synth_voc: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both studies run once in one working folder, so they share the tracking store and its registry."""
    workdir = tmp_path_factory.mktemp("gate")
    files = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        for name, lr, separable, val_split in (("good", 0.05, False, "val"), ("bad", 1e-9, True, "train")):
            files[name] = workdir / f"{name}.yaml"
            files[name].write_text(yaml.safe_dump(gate_study(name, synth_voc, lr, separable, val_split)))
            result = invoke(["run", str(files[name]), "--quiet"])
            assert result.exit_code == 0, result.output
    values = {
        name: optuna.load_study(study_name=name, storage=f"sqlite:///{workdir}/runs/{name}/optuna.db").best_value
        for name in files
    }
    assert values["good"] > values["bad"] + 0.01, f"the fixture needs one clearly worse study: {values}"
    return {
        "workdir": workdir,
        "files": files,
        "values": values,
        "client": MlflowClient(f"sqlite:///{workdir}/runs/mlflow.db"),
    }


def champion_miou_on(client: MlflowClient, run_id: str, val_split: str, scratch: Path) -> float:
    """The run's best.pt evaluated with its own config on `val_split`, independently of the gate's code."""
    checkpoint = Path(client.download_artifacts(run_id, "checkpoint/best.pt", str(scratch)))
    config = load_checkpoint(checkpoint)["config"]
    config["data"]["val_split"] = val_split
    return evaluate_checkpoint(config_from_dict(config), checkpoint)["val/miou"]


def promote(studies: dict[str, Any], name: str, *extra: str) -> Result:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(studies["workdir"])
        return CliRunner().invoke(sweep_cli, ["promote", str(studies["files"][name]), *extra])


def test_a_worse_candidate_becomes_challenger_and_force_moves_the_alias(
    studies: dict[str, Any], synth_voc: Path
) -> None:
    client, values = studies["client"], studies["values"]
    first = promote(studies, "good")
    assert first.exit_code == 0, first.output
    champion = client.get_model_version_by_alias(MODEL, "champion")
    tags = champion.tags
    assert tags["gate.decision"] == "promoted" and tags["gate.champion_miou"] == "none"
    assert tags["study"] == "good" and tags["trial_number"] == "0"
    assert float(tags["gate.recorded_miou"]) == pytest.approx(values["good"], abs=1e-6)
    assert float(tags["gate.candidate_miou"]) == pytest.approx(values["good"], abs=MIOU_TOLERANCE)
    assert tags["gate.val_split_checksum"] == split_checksum(synth_voc, "val")

    worse = promote(studies, "bad")
    assert worse.exit_code == 0, worse.output
    assert "not better than version 1" in worse.output and "'challenger' -> models:/gate-voc@challenger" in worse.output
    assert client.get_model_version_by_alias(MODEL, "champion").version == champion.version, "the champion stays"
    challenger = client.get_model_version_by_alias(MODEL, "challenger")
    assert challenger.version != champion.version and challenger.tags["study"] == "bad"
    assert challenger.tags["gate.decision"] == "challenger" and challenger.tags["gate.champion_version"] == "1"
    assert challenger.tags["gate.val_split_checksum"] == split_checksum(synth_voc, "train")
    on_candidate_split = champion_miou_on(client, champion.run_id, "train", studies["workdir"])
    assert abs(on_candidate_split - values["good"]) > 1e-3, "the test needs splits on which the champion differs"
    assert float(challenger.tags["gate.champion_miou"]) == pytest.approx(on_candidate_split, abs=1e-6)
    assert float(challenger.tags["gate.candidate_miou"]) == pytest.approx(values["bad"], abs=MIOU_TOLERANCE)

    forced = promote(studies, "bad", "--force")
    assert forced.exit_code == 0, forced.output
    assert "already registered as gate-voc version 2" in forced.output
    moved = client.get_model_version_by_alias(MODEL, "champion")
    assert moved.version == challenger.version and moved.tags["gate.decision"] == "forced"
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 2, "re-promoting creates no version"

    again = promote(studies, "bad")
    assert again.exit_code == 0 and "(unchanged)" in again.output
    assert client.get_model_version_by_alias(MODEL, "champion").tags["gate.decision"] == "unchanged"


def test_a_candidate_off_its_record_is_refused_with_both_numbers(studies: dict[str, Any]) -> None:
    client, recorded = studies["client"], studies["values"]["good"]
    forged = recorded + 0.1
    database = studies["workdir"] / "runs" / "good" / "optuna.db"
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE trial_values SET value = ?", (forged,))
    try:
        refused = promote(studies, "good", "--name", "gate-refused")
    finally:
        with sqlite3.connect(database) as connection:
            connection.execute("UPDATE trial_values SET value = ?", (recorded,))
    assert refused.exit_code == 1, refused.output
    assert "Traceback" not in refused.output
    (line,) = [line for line in refused.output.splitlines() if line.startswith("error:")]
    numbers = re.search(r"re-evaluates to val mIoU ([\d.]+), but the study recorded ([\d.]+)", line)
    assert numbers is not None and "--force" in line, line
    assert float(numbers[1]) == pytest.approx(recorded, abs=MIOU_TOLERANCE)
    assert float(numbers[2]) == pytest.approx(forged, abs=1e-4)
    assert client.search_model_versions("name = 'gate-refused'") == [], "nothing is registered"
