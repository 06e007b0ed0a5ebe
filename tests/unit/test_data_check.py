"""Bad files in a split: `trainer data check` finds them all up front.

A sweep's trial that meets one mid-epoch fails naming it: `tests/e2e/test_data_check_study.py`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import corrupt_jpeg, split_ids
from PIL import Image

from trainer.cli import cli as trainer_cli
from trainer.data.check import check_split
from trainer.data.voc import voc_palette


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) * 6 // 10])


def write_mask(path: Path, labels: np.ndarray) -> None:
    mask = Image.fromarray(labels.astype(np.uint8), mode="P")
    mask.putpalette(voc_palette())
    mask.save(path)


def mask_labels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.array(image)


@pytest.fixture
def damaged_voc(synth_voc: Path, tmp_path: Path) -> tuple[Path, dict[str, tuple[Path, str]]]:
    """A copy of synth_voc with five bad files in `train`; returns the root and {defect: (file, message)}."""
    root = Path(shutil.copytree(synth_voc, tmp_path / "VOC2012"))
    first, second, third, fourth, fifth = split_ids(root, "train")[:5]
    images, masks = root / "JPEGImages", root / "SegmentationClass"
    corrupt_jpeg(images / f"{first}.jpg")
    truncate(images / f"{second}.jpg")
    labels = mask_labels(masks / f"{third}.png")
    labels[0, 0] = 50
    write_mask(masks / f"{third}.png", labels)
    write_mask(masks / f"{fourth}.png", mask_labels(masks / f"{fourth}.png")[:-3])
    (images / f"{fifth}.jpg").unlink()
    return root, {
        "corrupt": (images / f"{first}.jpg", "corrupt or unreadable image"),
        "truncated": (images / f"{second}.jpg", "image file is truncated"),
        "label 50": (masks / f"{third}.png", "mask holds labels [50] outside 0..20 and 255"),
        "size": (masks / f"{fourth}.png", "but its image is"),
        "missing": (images / f"{fifth}.jpg", f"listed in train.txt but missing; restore it or remove {fifth}"),
    }


def test_check_split_reports_every_bad_file(damaged_voc: tuple[Path, dict[str, tuple[Path, str]]]) -> None:
    root, defects = damaged_voc
    result = check_split(root, "train")
    assert result.images == 8
    found = {problem.path: problem.message for problem in result.problems}
    assert set(found) == {path for path, _ in defects.values()}, "one problem per bad file, and no others"
    for path, message in defects.values():
        assert message in found[path]
    assert check_split(root, "val").problems == []


def test_check_command_prints_one_line_per_problem_and_exits_1(
    damaged_voc: tuple[Path, dict[str, tuple[Path, str]]],
) -> None:
    root, defects = damaged_voc
    result = CliRunner().invoke(trainer_cli, ["data", "check", str(root), "--split", "train", "--split", "val"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    *problems, last = result.stderr.splitlines()
    assert sorted(line.split(": ")[0] for line in problems) == sorted(str(path) for path, _ in defects.values())
    assert last == (
        f"error: {root}: 5 bad file(s) in 12 image/mask pairs of splits train, val, listed above; "
        "replace or regenerate them, or remove their IDs from the split file"
    )
    assert result.stdout == ""


def test_check_command_on_clean_data_exits_0_with_a_summary(synth_voc: Path) -> None:
    result = CliRunner().invoke(trainer_cli, ["data", "check", str(synth_voc), "--split", "val"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"{synth_voc}: 4 image/mask pairs of split val checked: every file decodes, labels are 0..20 or 255, "
        "sizes match\n"
    )
