"""synthesize: VOC layout, determinism, label content and speed."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from trainer.data.synth import SYNTH_CLASSES, synthesize


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_is_byte_identical_and_other_seed_differs(tmp_path: Path) -> None:
    first = _files(synthesize(tmp_path / "a", train=4, val=2, size=48, seed=5))
    assert first == _files(synthesize(tmp_path / "b", train=4, val=2, size=48, seed=5))
    other = _files(synthesize(tmp_path / "c", train=4, val=2, size=48, seed=6))
    assert other.keys() == first.keys()
    assert all(other[name] != first[name] for name in first if name.endswith((".jpg", ".png")))


def test_layout_splits_and_unlabelled_images(synth_voc: Path) -> None:
    sets = synth_voc / "ImageSets/Segmentation"
    train, val = (sets / "train.txt").read_text().split(), (sets / "val.txt").read_text().split()
    assert len(train) == 8 and len(val) == 4 and not set(train) & set(val)
    assert (sets / "trainval.txt").read_text().split() == train + val
    masks = {p.stem for p in (synth_voc / "SegmentationClass").glob("*.png")}
    images = {p.stem for p in (synth_voc / "JPEGImages").glob("*.jpg")}
    assert masks == set(train + val) and len(images - masks) == 1  # unlabelled, in no split


def test_masks_are_palette_with_classes_and_boundary_band(synth_voc: Path) -> None:
    allowed = {0, 255} | {label for label, *_ in SYNTH_CLASSES}
    seen: set[int] = set()
    for mask_path in sorted((synth_voc / "SegmentationClass").glob("*.png")):
        mask = Image.open(mask_path)
        image = Image.open(synth_voc / "JPEGImages" / f"{mask_path.stem}.jpg")
        assert mask.mode == "P" and mask.size == image.size and max(mask.size) == 64
        labels = np.asarray(mask)
        seen |= set(np.unique(labels).tolist())
        objects = labels[(labels != 0) & (labels != 255)]
        if objects.size:  # every object is outlined by the void band
            assert (labels == 255).any()
    assert seen <= allowed and len(seen - {0, 255}) >= 4


def test_object_colours_differ_by_class(synth_voc: Path) -> None:
    means: dict[int, list[np.ndarray]] = {}
    for mask_path in sorted((synth_voc / "SegmentationClass").glob("*.png")):
        labels = np.asarray(Image.open(mask_path))
        image = np.asarray(Image.open(synth_voc / "JPEGImages" / f"{mask_path.stem}.jpg"), dtype=float)
        for label in set(np.unique(labels).tolist()) - {0, 255}:
            means.setdefault(label, []).append(image[labels == label].mean(0))
    centres = {label: np.mean(values, 0) for label, values in means.items()}
    labels = sorted(centres)
    gaps = [np.abs(centres[a] - centres[b]).max() for a in labels for b in labels if a < b]
    assert min(gaps) > 15  # mean colours alone already separate the classes


def test_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    synthesize(tmp_path / "speed", train=64, val=1, size=128)
    assert time.perf_counter() - start < 5.0
