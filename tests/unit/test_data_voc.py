"""VOCSegmentation: layout, decoding and every bad-data failure, each naming the file and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainer.data.voc import IGNORE_INDEX, NUM_CLASSES, VOC_CLASSES, VOCSegmentation, voc_palette
from trainer.errors import DatasetError


@pytest.fixture()
def voc_copy(synth_voc: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the session's synthetic root."""
    return Path(shutil.copytree(synth_voc, tmp_path / "VOC2012"))


def test_constants_and_palette() -> None:
    assert len(VOC_CLASSES) == NUM_CLASSES == 21 and VOC_CLASSES[0] == "background"
    palette = voc_palette()
    assert len(palette) == 768
    assert palette[3:6] == [128, 0, 0] and palette[15 * 3 : 16 * 3] == [192, 128, 128]
    assert palette[255 * 3 :] == [224, 224, 192]


@pytest.mark.parametrize(("split", "count"), [("train", 8), ("val", 4), ("trainval", 12)])
def test_split_decides_images_and_unlabelled_jpegs_are_ignored(synth_voc: Path, split: str, count: int) -> None:
    dataset = VOCSegmentation(synth_voc, split)
    assert len(dataset) == count
    listed = set((synth_voc / "ImageSets/Segmentation/trainval.txt").read_text().split())
    unlabelled = {p.stem for p in (synth_voc / "JPEGImages").glob("*.jpg")} - listed
    assert unlabelled and not unlabelled & set(dataset.ids)


def test_item_types_and_mask_indices(synth_voc: Path) -> None:
    dataset = VOCSegmentation(synth_voc, "train")
    image, mask = dataset[3]
    assert image.dtype == torch.uint8 and image.shape[0] == 3
    assert mask.dtype == torch.uint8 and mask.shape == image.shape[1:]
    expected = np.array(Image.open(dataset.mask_path(3)))  # indices of the palette PNG, no RGB conversion
    assert torch.equal(mask, torch.from_numpy(expected))
    assert IGNORE_INDEX in mask.unique().tolist()
    assert dataset.image_path(3).name == f"{dataset.ids[3]}.jpg"


def test_transforms_result_is_returned(synth_voc: Path) -> None:
    dataset = VOCSegmentation(synth_voc, "val", transforms=lambda image, mask: ("x", mask.shape))
    assert dataset[0][0] == "x"


def test_png_saved_as_jpg_falls_back_to_pil(voc_copy: Path) -> None:
    dataset = VOCSegmentation(voc_copy, "train")
    path = dataset.image_path(0)
    reference = np.array(Image.open(path))
    Image.open(path).save(path, format="PNG")
    assert torch.equal(dataset[0][0], torch.from_numpy(reference).permute(2, 0, 1))


def _save_mask(path: Path, labels: np.ndarray) -> None:
    image = Image.fromarray(labels.astype(np.uint8))
    image.putpalette(voc_palette())
    image.save(path)


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no JPEGImages.*trainer data (download|synth)"):
        VOCSegmentation(tmp_path / "nowhere", "train")


def test_unknown_and_missing_split(voc_copy: Path) -> None:
    with pytest.raises(DatasetError, match="unknown split 'test'"):
        VOCSegmentation(voc_copy, "test")
    (voc_copy / "ImageSets/Segmentation/val.txt").unlink()
    with pytest.raises(DatasetError, match=r"val\.txt: split file for 'val' is missing"):
        VOCSegmentation(voc_copy, "val")
    with pytest.raises(DatasetError, match="prepare-sbd"):
        VOCSegmentation(voc_copy, "trainaug")


def test_empty_split(voc_copy: Path) -> None:
    (voc_copy / "ImageSets/Segmentation/val.txt").write_text("\n")
    with pytest.raises(DatasetError, match="lists no image IDs"):
        VOCSegmentation(voc_copy, "val")


@pytest.mark.parametrize(
    ("folder", "suffix", "kind"), [("JPEGImages", "jpg", "image"), ("SegmentationClass", "png", "mask")]
)
def test_listed_id_without_file(voc_copy: Path, folder: str, suffix: str, kind: str) -> None:
    (voc_copy / folder / f"synth_000009.{suffix}").unlink()
    with pytest.raises(DatasetError, match=rf"synth_000009\.{suffix}: 1 ID\(s\) listed in val\.txt have no {kind}"):
        VOCSegmentation(voc_copy, "val")


def test_corrupt_image(voc_copy: Path) -> None:
    dataset = VOCSegmentation(voc_copy, "train")
    dataset.image_path(1).write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DatasetError, match=r"synth_000001\.jpg: corrupt or unreadable image.*regenerate"):
        dataset[1]


def test_mask_with_labels_out_of_range(voc_copy: Path) -> None:
    dataset = VOCSegmentation(voc_copy, "train")
    labels = np.array(Image.open(dataset.mask_path(2)))
    labels[0, :3] = [21, 100, 254]
    _save_mask(dataset.mask_path(2), labels)
    with pytest.raises(DatasetError, match=r"synth_000002\.png: mask holds labels \[21, 100, 254\] outside 0\.\.20"):
        dataset[2]


def test_mask_not_palette(voc_copy: Path) -> None:
    dataset = VOCSegmentation(voc_copy, "train")
    Image.open(dataset.mask_path(0)).convert("RGB").save(dataset.mask_path(0))
    with pytest.raises(DatasetError, match=r"mode 'RGB'; it must be a palette \(mode P\) PNG"):
        dataset[0]


def test_corrupt_mask(voc_copy: Path) -> None:
    dataset = VOCSegmentation(voc_copy, "train")
    dataset.mask_path(0).write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=r"synth_000000\.png: corrupt or unreadable mask"):
        dataset[0]


def test_image_and_mask_sizes_differ(voc_copy: Path) -> None:
    dataset = VOCSegmentation(voc_copy, "train")
    labels = np.array(Image.open(dataset.mask_path(4)))
    _save_mask(dataset.mask_path(4), labels[:-1])
    with pytest.raises(DatasetError, match=r"synth_000004\.png: mask is .* but its image is .* same size"):
        dataset[4]
