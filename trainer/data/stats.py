"""Per-split label statistics (pixel counts, class weights) and a content checksum, cached beside the data.

`split_checksum` is the SHA-256 of the split file's bytes followed by, for each listed ID in order, the ID
and the SHA-256 of its mask file's bytes. It depends only on content (not on paths or mtimes), so a copy of
the data on another machine gets the same value; the sweep layer logs it as an MLflow tag. Computing it
reads the mask bytes but decodes nothing.

`split_stats` decodes every mask once and caches the result as JSON in ``<root>/.stats/<split>-<key>.json``
where ``key`` is the first 16 hex digits of the checksum; any change to the split or its masks makes a new
key and so a recount.

Class weights use median-frequency balancing (Eigen & Fergus, 2015) over the split's labelled pixels:
``f_c = pixels_c / sum(pixels)`` (ignored 255 pixels excluded), ``w_c = median(f over classes present) / f_c``
for classes present and ``w_c = 0`` for absent ones, so a weighted cross-entropy never rewards a class the
split does not contain.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.data import voc
from trainer.data.atomic import atomic_write
from trainer.constants import IGNORE_INDEX, NUM_CLASSES

CACHE_DIR = ".stats"


@dataclass(frozen=True)
class SplitStats:
    """Label statistics of one split: ``pixels_per_class`` and ``class_weights`` hold one entry per VOC class."""

    split: str
    images: int
    pixels_per_class: tuple[int, ...]
    ignored_pixels: int
    class_weights: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with exactly the keys split, images, pixels_per_class, ignored_pixels, class_weights."""
        return {field.name: _jsonable(getattr(self, field.name)) for field in dataclasses.fields(self)}


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def median_frequency_weights(pixels_per_class: list[int] | tuple[int, ...]) -> tuple[float, ...]:
    """``median(f_present) / f_c`` for classes present, 0 for absent ones (see the module docstring)."""
    counts = np.asarray(pixels_per_class, dtype=np.float64)
    present = counts > 0
    if not present.any():
        return tuple(0.0 for _ in counts)
    frequency = counts / counts.sum()
    median = float(np.median(frequency[present]))
    weights = np.zeros_like(frequency)
    weights[present] = median / frequency[present]
    return tuple(float(w) for w in weights)


def split_checksum(root: str | Path, split: str) -> str:
    """SHA-256 hex of the split file plus each listed mask's bytes (raises `DatasetError` if files are missing)."""
    dataset = voc.VOCSegmentation(root, split)
    digest = hashlib.sha256(voc.split_file(root, split).read_bytes())
    for index, image_id in enumerate(dataset.ids):
        mask_digest = hashlib.sha256(dataset.mask_path(index).read_bytes()).digest()
        digest.update(image_id.encode() + b"\0" + mask_digest)
    return digest.hexdigest()


def cache_path(root: str | Path, split: str, checksum: str) -> Path:
    """Where `split_stats` caches the statistics for this content."""
    return Path(root) / CACHE_DIR / f"{split}-{checksum[:16]}.json"


def _count(root: Path, split: str) -> SplitStats:
    dataset = voc.VOCSegmentation(root, split)
    counts = np.zeros(256, dtype=np.int64)
    for index in range(len(dataset)):
        counts += np.bincount(voc.read_mask(dataset.mask_path(index)).ravel(), minlength=256)
    pixels = tuple(int(c) for c in counts[:NUM_CLASSES])
    return SplitStats(split, len(dataset), pixels, int(counts[IGNORE_INDEX]), median_frequency_weights(pixels))


def _load_cached(path: Path, split: str) -> SplitStats | None:
    try:
        payload = json.loads(path.read_text())
        stats = SplitStats(
            split=str(payload["split"]),
            images=int(payload["images"]),
            pixels_per_class=tuple(int(n) for n in payload["pixels_per_class"]),
            ignored_pixels=int(payload["ignored_pixels"]),
            class_weights=tuple(float(w) for w in payload["class_weights"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or damaged cache: recount and rewrite it
    valid = stats.split == split and len(stats.pixels_per_class) == len(stats.class_weights) == NUM_CLASSES
    return stats if valid else None


def split_stats(root: str | Path, split: str) -> SplitStats:
    """Pixel counts per class, ignored pixels and class weights of a split, from the cache when it is current.

    Raises `DatasetError` for missing or malformed data. A cache that cannot be written (read-only data)
    only warns: the statistics are still returned.
    """
    root = Path(root)
    path = cache_path(root, split, split_checksum(root, split))
    cached = _load_cached(path, split)
    if cached is not None:
        return cached
    stats = _count(root, split)
    try:
        with atomic_write(path) as partial:
            partial.write_text(json.dumps(stats.to_dict(), indent=1))
    except OSError as error:
        warnings.warn(f"could not cache split statistics at {path}: {error}", stacklevel=2)
    return stats
