"""Bad files in a split: `trainer data check` finds them all up front, and a sweep's trial fails naming one.

The decision (docs/reliability.md): a bad file found mid-epoch is never skipped. The trial fails with the
file's name (in its `fail_reason`, its MLflow run and the one `error:` line of `sweep run`), because a skipped
sample would silently change the data set that the study's trials are compared on.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from click.testing import CliRunner
from helpers import QUICK_LATENCY, tiny_train
from PIL import Image

from trainer.cli import cli as trainer_cli
from trainer.data.check import check_split
from trainer.data.voc import voc_palette


def split_ids(root: Path, split: str) -> list[str]:
    return (root / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()


def corrupt_jpeg(path: Path) -> None:
    """Zero 200 bytes inside the entropy-coded data: the header still parses, the pixels do not decode."""
    data = bytearray(path.read_bytes())
    data[400:600] = bytes(200)
    path.write_bytes(bytes(data))


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


@pytest.mark.slow
def test_a_bad_file_mid_epoch_fails_the_trial_naming_it(
    synth_voc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loader workers included: the file reaches the trial as a DatasetError, never as a skipped sample."""
    from sweep.cli import cli as sweep_cli

    monkeypatch.chdir(tmp_path)
    root = Path(shutil.copytree(synth_voc, tmp_path / "VOC2012"))
    bad = root / "JPEGImages" / f"{split_ids(root, 'train')[3]}.jpg"
    corrupt_jpeg(bad)
    train = tiny_train(root)
    train["data"]["num_workers"] = 2
    Path("study.yaml").write_text(
        yaml.safe_dump(
            {
                "study": {"latency": QUICK_LATENCY, "name": "bad-file", "n_trials": 2},
                "train": train,
                "search": {"optim.lr": {"type": "float", "low": 0.01, "high": 0.05}},
            }
        )
    )
    result = CliRunner().invoke(sweep_cli, ["run", "study.yaml", "--quiet"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"error: {bad}: corrupt or unreadable image" in result.output
    study = optuna.load_study(study_name="bad-file", storage="sqlite:///runs/bad-file/optuna.db")
    [trial] = study.trials  # the study stops: every later trial would meet the same file
    assert trial.state == optuna.trial.TrialState.FAIL
    assert trial.user_attrs["fail_reason"].startswith(f"DatasetError: {bad}: corrupt or unreadable image")

    from mlflow.tracking import MlflowClient

    run = MlflowClient(f"sqlite:///{tmp_path}/runs/mlflow.db").get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED"
