"""split_stats: exact counts against an independent numpy count, the weight formula, the cache and the checksum."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainer.data import stats as stats_module
from trainer.data.stats import median_frequency_weights, split_checksum, split_stats
from trainer.data.voc import voc_palette


@pytest.fixture()
def voc_copy(synth_voc: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(synth_voc, tmp_path / "VOC2012"))


def _independent_counts(root: Path, split: str) -> np.ndarray:
    ids = (root / "ImageSets/Segmentation" / f"{split}.txt").read_text().split()
    counts = np.zeros(256, dtype=np.int64)
    for image_id in ids:
        labels = np.asarray(Image.open(root / "SegmentationClass" / f"{image_id}.png"))
        values, numbers = np.unique(labels, return_counts=True)
        counts[values] += numbers
    return counts


@pytest.mark.parametrize("split", ["train", "val"])
def test_counts_match_independent_count(voc_copy: Path, split: str) -> None:
    expected = _independent_counts(voc_copy, split)
    result = split_stats(voc_copy, split)
    assert result.split == split and result.images == {"train": 8, "val": 4}[split]
    assert list(result.pixels_per_class) == expected[:21].tolist()
    assert result.ignored_pixels == expected[255] > 0
    assert sum(result.pixels_per_class) + result.ignored_pixels == expected.sum()


def test_median_frequency_weights_by_hand() -> None:
    pixels = [600, 0, 300, 100] + [0] * 17  # f = 0.6, 0.3, 0.1 ; median 0.3
    weights = median_frequency_weights(pixels)
    assert weights[:4] == pytest.approx([0.5, 0.0, 1.0, 3.0])
    assert all(w == 0 for w in weights[4:])
    assert median_frequency_weights([0] * 21) == (0.0,) * 21


def test_cache_is_written_and_reused(voc_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = split_stats(voc_copy, "train")
    cached = stats_module.cache_path(voc_copy, "train", split_checksum(voc_copy, "train"))
    assert json.loads(cached.read_text()) == first.to_dict()

    def no_decoding(path: Path) -> np.ndarray:
        raise AssertionError(f"mask {path} decoded although the cache is current")

    monkeypatch.setattr(stats_module.voc, "read_mask", no_decoding)
    assert split_stats(voc_copy, "train") == first


def test_changed_mask_changes_checksum_and_recounts(voc_copy: Path) -> None:
    before_sum, before = split_checksum(voc_copy, "val"), split_stats(voc_copy, "val")
    mask_path = voc_copy / "SegmentationClass/synth_000008.png"
    labels = np.asarray(Image.open(mask_path)).copy()
    labels[:, :] = 0
    image = Image.fromarray(labels)
    image.putpalette(voc_palette())
    image.save(mask_path)
    after_sum, after = split_checksum(voc_copy, "val"), split_stats(voc_copy, "val")
    assert len(after_sum) == 64 and after_sum != before_sum
    assert after.pixels_per_class[0] > before.pixels_per_class[0]
    assert after.pixels_per_class == tuple(_independent_counts(voc_copy, "val")[:21].tolist())


def test_checksum_is_content_based(voc_copy: Path, tmp_path: Path) -> None:
    other = Path(shutil.copytree(voc_copy, tmp_path / "elsewhere"))
    (other / "SegmentationClass/synth_000000.png").touch()
    assert split_checksum(other, "train") == split_checksum(voc_copy, "train")
    assert split_checksum(voc_copy, "train") != split_checksum(voc_copy, "trainval")


def test_damaged_cache_is_recomputed(voc_copy: Path) -> None:
    first = split_stats(voc_copy, "val")
    stats_module.cache_path(voc_copy, "val", split_checksum(voc_copy, "val")).write_text("{not json")
    assert split_stats(voc_copy, "val") == first
