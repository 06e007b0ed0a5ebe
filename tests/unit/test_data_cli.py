"""`trainer data ...` through click's CliRunner: outputs, exit codes (1 data errors, 2 usage), no tracebacks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner
from PIL import Image

from trainer.cli import cli
from trainer.data.stats import split_stats


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["data", *args])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in output
    if result.exit_code not in (0, 1, 2):
        raise AssertionError(output) from result.exception
    return result.exit_code, output


def test_synth_then_stats_json(tmp_path: Path) -> None:
    code, output = _run("synth", "--root", str(tmp_path / "v"), "--train", "3", "--val", "2", "--size", "40")
    assert code == 0 and str(tmp_path / "v") in output
    code, output = _run("stats", "--root", str(tmp_path / "v"), "--split", "train", "--json")
    payload = json.loads(output)
    assert code == 0 and list(payload) == ["split", "images", "pixels_per_class", "ignored_pixels", "class_weights"]
    assert payload == split_stats(tmp_path / "v", "train").to_dict() and payload["images"] == 3


def test_stats_table(synth_voc: Path, tmp_path: Path) -> None:
    root = shutil.copytree(synth_voc, tmp_path / "VOC2012")
    code, output = _run("stats", "--root", str(root), "--split", "val")
    assert code == 0 and "background" in output and "tvmonitor" in output and "4 images" in output


@pytest.mark.parametrize(
    "args",
    [
        ["stats", "--root", "x", "--split", "test"],
        ["stats", "--split", "val"],
        ["synth", "--root", "x", "--train", "0"],
        ["download", "--root", "x", "--md5", "xyz"],
        ["prepare-sbd", "--root", "x"],
        ["nope"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert _run(*args)[0] == 2


def test_missing_root_exits_1_with_hint(tmp_path: Path) -> None:
    code, output = _run("stats", "--root", str(tmp_path / "missing"), "--split", "train")
    assert code == 1 and output.startswith("error: ") and "trainer data synth" in output


def test_corrupt_mask_exits_1(synth_voc: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(synth_voc, tmp_path / "VOC2012"))
    (root / "SegmentationClass/synth_000001.png").write_bytes(b"broken")
    code, output = _run("stats", "--root", str(root), "--split", "train")
    assert code == 1 and "synth_000001.png: corrupt or unreadable mask" in output


def test_download_every_mirror_failing_exits_1(tmp_path: Path) -> None:
    code, output = _run("download", "--root", str(tmp_path), "--url", "http://127.0.0.1:9/none.tar", "--no-progress")
    assert code == 1 and "failed on every mirror" in output


def test_download_when_complete_says_so(tmp_path: Path) -> None:
    (tmp_path / "VOCdevkit/VOC2012/JPEGImages").mkdir(parents=True)
    (tmp_path / ".voc2012-complete").write_text("6cd6e144f989b92b3379bac3b3de84fd\n")
    code, output = _run("download", "--root", str(tmp_path))
    assert code == 0 and "already complete" in output and "VOCdevkit/VOC2012" in output


def test_prepare_sbd(synth_voc: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(synth_voc, tmp_path / "VOC2012"))
    dataset = tmp_path / "sbd" / "dataset"
    (dataset / "cls").mkdir(parents=True)
    width, height = Image.open(root / "JPEGImages/synth_000012.jpg").size
    labels = np.zeros((height, width), np.uint8)
    scipy.io.savemat(dataset / "cls" / "synth_000012.mat", {"GTcls": {"Segmentation": labels}})
    (dataset / "train.txt").write_text("synth_000012\n")
    (dataset / "val.txt").write_text("")
    code, output = _run("prepare-sbd", "--sbd", str(tmp_path / "sbd"), "--root", str(root))
    assert code == 0 and "trainaug: 9 images (1 converted from SBD, 8 copied from VOC" in output
    code, output = _run("prepare-sbd", "--sbd", str(tmp_path / "nothing"), "--root", str(root))
    assert code == 1 and "not an SBD folder" in output
