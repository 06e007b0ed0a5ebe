"""Making sure a run's data is there: generate the synthetic set on first use, check the splits, fingerprint them.

These functions read the data section of a config through the small `DataSource` protocol, because
`trainer.data` knows no configuration class (`trainer.config.DataConfig` satisfies it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from trainer.data.atomic import atomic_write
from trainer.data.stats import split_checksum
from trainer.data.synth import synthesize
from trainer.data.voc import VOCSegmentation


class SynthSettings(Protocol):
    """The keyword arguments of `synthesize`."""

    @property
    def train(self) -> int: ...
    @property
    def val(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def seed(self) -> int: ...


class DataSource(Protocol):
    """Where a run's data lives, which splits it uses, and whether it is generated (`synthesize` not None)."""

    @property
    def root(self) -> Path: ...
    @property
    def train_split(self) -> str: ...
    @property
    def val_split(self) -> str: ...
    @property
    def synthesize(self) -> SynthSettings | None: ...


def ensure_data(source: DataSource) -> Path:
    """Generate the synthetic data set on first use when `source.synthesize` is set and the root is absent.

    Several workers may start at once: each writes into a private folder and renames it into place, and
    the losers of that race discard their copy, so the root is never seen half-written.
    """
    root, settings = source.root, source.synthesize
    if root.exists() or settings is None:
        return root
    try:
        with atomic_write(root) as staging:
            synthesize(staging, train=settings.train, val=settings.val, size=settings.size, seed=settings.seed)
    except OSError:
        if not root.exists():
            raise
    return root


def check_data_present(source: DataSource) -> None:
    """Raise `DatasetError` (naming the fix) when the splits are missing and cannot be generated."""
    if source.synthesize is None or source.root.exists():
        for split in (source.train_split, source.val_split):
            VOCSegmentation(source.root, split)  # checks the root, the split file and every listed file


def dataset_tags(source: DataSource) -> dict[str, str]:
    """Make the data if it is generated, then name its root and fingerprint both splits (content checksums)."""
    root = ensure_data(source)
    return {
        "data.root": str(root),
        "data.train_checksum": split_checksum(root, source.train_split),
        "data.val_checksum": split_checksum(root, source.val_split),
    }
