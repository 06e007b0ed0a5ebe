"""prepare_sbd on a tiny SBD tree written with scipy.io.savemat (struct GTcls with field Segmentation)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from trainer.data.sbd import prepare_sbd
from trainer.data.voc import VOCSegmentation
from trainer.errors import DatasetError

VOC_TRAIN = [f"synth_{i:06d}" for i in range(8)]
VOC_VAL = [f"synth_{i:06d}" for i in range(8, 12)]
UNLABELLED = "synth_000012"  # a JPEG in no VOC split: SBD labels it


def _sbd_labels(root: Path, image_id: str, value: int) -> np.ndarray:
    width, height = Image.open(root / "JPEGImages" / f"{image_id}.jpg").size
    labels = np.zeros((height, width), dtype=np.uint8)
    labels[: height // 2] = value
    return labels


@pytest.fixture()
def layout(synth_voc: Path, tmp_path: Path) -> tuple[Path, Path]:
    voc_root = Path(shutil.copytree(synth_voc, tmp_path / "VOC2012"))
    dataset = tmp_path / "benchmark_RELEASE" / "dataset"
    (dataset / "cls").mkdir(parents=True)
    sbd_train, sbd_val = [UNLABELLED, VOC_TRAIN[0], VOC_VAL[0]], [VOC_TRAIN[1], UNLABELLED]
    for image_id in {*sbd_train, *sbd_val}:
        gt = {"Segmentation": _sbd_labels(voc_root, image_id, 5), "Boundaries": np.zeros((1, 1))}
        scipy.io.savemat(dataset / "cls" / f"{image_id}.mat", {"GTcls": gt})
    (dataset / "train.txt").write_text("\n".join(sbd_train) + "\n")
    (dataset / "val.txt").write_text("\n".join(sbd_val) + "\n")
    return tmp_path / "benchmark_RELEASE", voc_root


def test_trainaug_split_and_masks(layout: tuple[Path, Path]) -> None:
    sbd_dir, voc_root = layout
    result = prepare_sbd(sbd_dir, voc_root)
    expected = sorted(set(VOC_TRAIN) | {UNLABELLED})  # SBD's VOC-val image is excluded, duplicates merged
    assert result.split_file.read_text().split() == expected
    assert (result.converted, result.copied, result.up_to_date) == (1, 8, 0)
    dataset = VOCSegmentation(voc_root, "trainaug")
    assert dataset.ids == expected
    converted = Image.open(dataset.mask_path(expected.index(UNLABELLED)))
    assert converted.mode == "P"
    assert np.array_equal(np.asarray(converted), _sbd_labels(voc_root, UNLABELLED, 5))
    copied = voc_root / "SegmentationClassAug" / f"{VOC_TRAIN[0]}.png"
    assert copied.read_bytes() == (voc_root / "SegmentationClass" / f"{VOC_TRAIN[0]}.png").read_bytes()
    image, mask = dataset[0]
    assert image.shape[1:] == mask.shape


def test_rerun_is_a_no_op(layout: tuple[Path, Path]) -> None:
    sbd_dir, voc_root = layout
    prepare_sbd(sbd_dir, voc_root)
    stamp = (voc_root / "SegmentationClassAug" / f"{UNLABELLED}.png").stat().st_mtime_ns
    again = prepare_sbd(sbd_dir / "dataset", voc_root)  # the dataset folder itself is accepted too
    assert (again.converted, again.copied, again.up_to_date) == (0, 0, 9)
    assert (voc_root / "SegmentationClassAug" / f"{UNLABELLED}.png").stat().st_mtime_ns == stamp


def test_missing_mat_and_bad_mat(layout: tuple[Path, Path]) -> None:
    sbd_dir, voc_root = layout
    mat = sbd_dir / "dataset" / "cls" / f"{UNLABELLED}.mat"
    scipy.io.savemat(mat, {"GTcls": {"Segmentation": np.full((4, 4), 40, dtype=np.uint8)}})
    with pytest.raises(DatasetError, match=r"synth_000012\.mat: GTcls\.Segmentation must be .* labels 0\.\.20"):
        prepare_sbd(sbd_dir, voc_root)
    scipy.io.savemat(mat, {"other": np.zeros(2)})
    with pytest.raises(DatasetError, match="not an SBD class file"):
        prepare_sbd(sbd_dir, voc_root)
    mat.unlink()
    with pytest.raises(DatasetError, match=r"synth_000012\.mat: SBD lists this ID but its class file is missing"):
        prepare_sbd(sbd_dir, voc_root)


def test_mat_of_wrong_size(layout: tuple[Path, Path]) -> None:
    sbd_dir, voc_root = layout
    scipy.io.savemat(
        sbd_dir / "dataset/cls" / f"{UNLABELLED}.mat", {"GTcls": {"Segmentation": np.zeros((3, 5), np.uint8)}}
    )
    with pytest.raises(DatasetError, match=r"synth_000012\.mat: labels are \(5, 3\) \(W, H\) but the image is"):
        prepare_sbd(sbd_dir, voc_root)


def test_not_an_sbd_folder(tmp_path: Path, synth_voc: Path) -> None:
    with pytest.raises(DatasetError, match="not an SBD folder"):
        prepare_sbd(tmp_path, synth_voc)


def test_missing_jpeg_for_an_sbd_id(layout: tuple[Path, Path]) -> None:
    sbd_dir, voc_root = layout
    (voc_root / "JPEGImages" / f"{UNLABELLED}.jpg").unlink()
    with pytest.raises(DatasetError, match=r"1 trainaug image\(s\) missing \(first: synth_000012\.jpg\)"):
        prepare_sbd(sbd_dir, voc_root)
