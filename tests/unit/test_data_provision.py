"""Data provisioning (generate on first use, check, fingerprint) and the one atomic-write helper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trainer.config import DataConfig
from trainer.data import provision
from trainer.data.atomic import atomic_write
from trainer.data.provision import check_data_present, dataset_tags, ensure_data
from trainer.data.stats import split_checksum
from trainer.errors import DatasetError

SMALL = {"train": 4, "val": 2, "size": 32, "seed": 3}


def data_config(root: Path, synthesize: dict[str, Any] | None = None) -> DataConfig:
    return DataConfig.model_validate({"root": str(root), "synthesize": synthesize})


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_replaces_a_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    for text in ("old", "new"):
        with atomic_write(target, durable=True) as partial:
            assert partial.parent == target.parent and not partial.exists()
            partial.write_text(text)
    assert target.read_text() == "new" and leftovers(target.parent) == []


def test_failed_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="half-way"), atomic_write(target) as partial:
        partial.write_text("half")
        raise RuntimeError("half-way")
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_atomic_folder_loses_to_an_existing_one_and_is_discarded(tmp_path: Path) -> None:
    target = tmp_path / "root"
    (target / "kept").mkdir(parents=True)
    with pytest.raises(OSError), atomic_write(target) as staging:
        (staging / "mine").mkdir(parents=True)
    assert [p.name for p in target.iterdir()] == ["kept"] and leftovers(tmp_path) == []


def test_ensure_data_generates_once(tmp_path: Path) -> None:
    config = data_config(tmp_path / "voc", SMALL)
    assert ensure_data(config) == config.root
    assert len((config.root / "ImageSets/Segmentation/train.txt").read_text().split()) == 4
    stamp = (config.root / "ImageSets/Segmentation/train.txt").stat().st_mtime_ns
    ensure_data(config)
    assert (config.root / "ImageSets/Segmentation/train.txt").stat().st_mtime_ns == stamp
    assert leftovers(tmp_path) == []


def test_ensure_data_keeps_the_copy_of_a_worker_that_finished_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = data_config(tmp_path / "voc", SMALL)
    real = provision.synthesize

    def race(root: Path, **settings: int) -> Path:
        real(config.root, **settings)  # the other worker renames its copy into place meanwhile
        (config.root / "winner").touch()
        return real(root, **settings)

    monkeypatch.setattr(provision, "synthesize", race)
    assert ensure_data(config) == config.root
    assert (config.root / "winner").is_file() and leftovers(tmp_path) == []


def test_ensure_data_without_synthesize_creates_nothing(tmp_path: Path) -> None:
    assert ensure_data(data_config(tmp_path / "absent")) == tmp_path / "absent"
    assert not (tmp_path / "absent").exists()


def test_check_data_present(tmp_path: Path, synth_voc: Path) -> None:
    check_data_present(data_config(synth_voc))
    check_data_present(data_config(tmp_path / "later", SMALL))  # generated when the run starts
    with pytest.raises(DatasetError, match=r"absent: not a VOC2012 root .*trainer data synth"):
        check_data_present(data_config(tmp_path / "absent"))


def test_dataset_tags_fingerprint_both_splits(synth_voc: Path) -> None:
    assert dataset_tags(data_config(synth_voc)) == {
        "data.root": str(synth_voc),
        "data.train_checksum": split_checksum(synth_voc, "train"),
        "data.val_checksum": split_checksum(synth_voc, "val"),
    }
