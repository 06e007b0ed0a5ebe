"""`trainer train` and `trainer predict` through the CLI: output, files, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from helpers import tiny_train
from PIL import Image

from trainer.cli import cli


def write_config(path: Path, root: Path, checkpoint_dir: Path) -> Path:
    path.write_text(yaml.safe_dump(tiny_train(root, checkpoint={"dir": str(checkpoint_dir)})))
    return path


def test_train_json_summary_then_predict_from_the_checkpoint(synth_voc: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", synth_voc, tmp_path / "ckpt")
    result = CliRunner().invoke(cli, ["train", str(config), "--json", "--set", "optim.lr=0.02"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert set(summary) == {"best_miou", "best_epoch", "epochs_run", "stopped_early", "checkpoint"}
    assert summary["epochs_run"] == 1 and Path(summary["checkpoint"]) == tmp_path / "ckpt" / "best.pt"

    evaluated = CliRunner().invoke(cli, ["evaluate", str(config), "--checkpoint", summary["checkpoint"], "--json"])
    assert json.loads(evaluated.output)["val/miou"] == summary["best_miou"], "evaluate reproduces the training figure"
    untrained = CliRunner().invoke(cli, ["evaluate", str(config), "--json"])
    assert json.loads(untrained.output)["val/miou"] != summary["best_miou"]

    image = synth_voc / "JPEGImages" / f"{(synth_voc / 'ImageSets/Segmentation/val.txt').read_text().split()[0]}.jpg"
    predicted = CliRunner().invoke(
        cli, ["predict", "--model", summary["checkpoint"], str(image), "--out", str(tmp_path / "out")]
    )
    assert predicted.exit_code == 0, predicted.output
    with Image.open(tmp_path / "out" / f"{image.stem}.png") as mask, Image.open(image) as original:
        assert mask.mode == "P" and mask.size == original.size
        assert set(np.unique(np.array(mask)).tolist()) <= set(range(21))
        assert mask.getpalette()[3:6] == [128, 0, 0], "VOC colour map: class 1 is dark red"
    with Image.open(tmp_path / "out" / f"{image.stem}_overlay.png") as overlay:
        assert overlay.mode == "RGB" and overlay.size == original.size


def test_print_config_resolves_defaults(synth_voc: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", synth_voc, tmp_path / "ckpt")
    result = CliRunner().invoke(cli, ["train", str(config), "--print-config", "--set", "optim.name=adam"])
    resolved = yaml.safe_load(result.output)
    assert resolved["optim"]["name"] == "adam" and resolved["optim"]["schedule"] == "poly"
    assert not (tmp_path / "ckpt").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "optim.lrr=1"], "error: --set: optim.lrr: unknown key 'lrr'; did you mean 'lr'?"),
        (
            ["--set", "model.backbone=resnet18"],
            "error: --set: model.backbone: 'resnet18' is not one of mobilenet_v3_large, resnet101, resnet50",
        ),
        (["--set", "optim.lr=-1"], "error: --set: optim.lr: Input should be greater than 0 (got -1)"),
        (["--set", "optim.lr"], "is not of the form key=value"),
    ],
)
def test_config_errors_exit_2_without_traceback(args: list[str], message: str, synth_voc: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", synth_voc, tmp_path / "ckpt")
    result = CliRunner().invoke(cli, ["train", str(config), *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_missing_data_exits_1_with_the_fix(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", tmp_path / "nowhere", tmp_path / "ckpt")
    result = CliRunner().invoke(cli, ["train", str(config)])
    assert result.exit_code == 1 and "trainer data synth" in result.output and "Traceback" not in result.output


def test_predict_from_a_missing_checkpoint_exits_1(synth_voc: Path, tmp_path: Path) -> None:
    image = next((synth_voc / "JPEGImages").glob("*.jpg"))
    result = CliRunner().invoke(
        cli, ["predict", "--model", str(tmp_path / "none.pt"), str(image), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and "none.pt: no checkpoint file there" in result.output


def test_predict_from_a_model_uri_points_to_sweep_predict(synth_voc: Path, tmp_path: Path) -> None:
    image = next((synth_voc / "JPEGImages").glob("*.jpg"))
    result = CliRunner().invoke(
        cli, ["predict", "--model", "models:/voc@champion", str(image), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 1 and "models:/voc@champion: a model URI" in result.output
    assert "sweep predict --model models:/voc@champion" in result.output
