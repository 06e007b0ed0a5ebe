"""Build the standard ``trainaug`` split (10,582 images) from SBD and VOC 2012.

SBD (Hariharan et al., 2011) ships its labels as MATLAB files ``dataset/cls/<id>.mat`` holding a struct
``GTcls`` whose field ``Segmentation`` is the label image (0..20, no boundary band). `prepare_sbd` converts
each needed one once into ``<voc_root>/SegmentationClassAug/<id>.png`` (a palette PNG, like VOC's masks),
copies VOC's own train masks in too, and writes ``ImageSets/Segmentation/trainaug.txt``:

    trainaug = (SBD train ∪ SBD val ∪ VOC train) − VOC val, sorted and de-duplicated.

An ID that has a VOC mask keeps VOC's mask (finer outlines, with the 255 band). Files are written through a
temporary name and renamed, so an interrupted run leaves no half-written PNG and a rerun only does what
is missing: the function is idempotent.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from trainer.data import voc
from trainer.data.atomic import atomic_write
from trainer.errors import DatasetError

AUG_MASK_DIR = voc.MASK_DIRS["trainaug"]


@dataclass(frozen=True)
class SbdResult:
    """What `prepare_sbd` did: masks converted from .mat, copied from VOC, already present; the split file."""

    converted: int
    copied: int
    up_to_date: int
    split_file: Path

    @property
    def images(self) -> int:
        return self.converted + self.copied + self.up_to_date


def _sbd_dataset_dir(sbd_dir: Path) -> Path:
    for candidate in (sbd_dir / "dataset", sbd_dir / "benchmark_RELEASE" / "dataset", sbd_dir):
        if (candidate / "cls").is_dir() and (candidate / "train.txt").is_file():
            return candidate
    raise DatasetError(
        sbd_dir, "not an SBD folder (expected dataset/cls/*.mat and dataset/train.txt, val.txt); "
        "extract benchmark.tgz from the SBD site and pass its benchmark_RELEASE folder"
    )  # fmt: skip


def read_sbd_mat(path: Path) -> np.ndarray:
    """The uint8 label image of an SBD ``.mat`` file (``GTcls.Segmentation``), checked to hold 0..20 only."""
    try:
        segmentation = scipy.io.loadmat(str(path), squeeze_me=True, struct_as_record=False)["GTcls"].Segmentation
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as error:
        raise DatasetError(path, f"not an SBD class file with GTcls.Segmentation ({error!r}); re-extract SBD") from None
    labels = np.asarray(segmentation)
    if labels.ndim != 2 or labels.size == 0 or labels.min() < 0 or labels.max() >= voc.NUM_CLASSES:
        raise DatasetError(path, f"GTcls.Segmentation must be a 2-D array of labels 0..20 (shape {labels.shape})")
    return labels.astype(np.uint8)


def _ids(path: Path) -> set[str]:
    if not path.is_file():
        raise DatasetError(path, "split list is missing; check the SBD/VOC folders are complete")
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def prepare_sbd(sbd_dir: str | Path, voc_root: str | Path) -> SbdResult:
    """Write ``SegmentationClassAug/*.png`` and ``trainaug.txt`` under ``voc_root`` (see the module docstring).

    Raises `DatasetError` when a folder or list is missing, an ID has no JPEG in ``voc_root/JPEGImages``, or
    a ``.mat`` file is missing or malformed.
    """
    dataset_dir, voc_root = _sbd_dataset_dir(Path(sbd_dir)), Path(voc_root)
    voc_train = set(voc.read_split_ids(voc_root, "train"))
    voc_val = set(voc.read_split_ids(voc_root, "val"))
    sbd_ids = _ids(dataset_dir / "train.txt") | _ids(dataset_dir / "val.txt")
    trainaug = sorted((sbd_ids | voc_train) - voc_val)
    missing_images = [i for i in trainaug if not (voc_root / "JPEGImages" / f"{i}.jpg").is_file()]
    if missing_images:
        raise DatasetError(
            voc_root / "JPEGImages", f"{len(missing_images)} trainaug image(s) missing (first: {missing_images[0]}.jpg); "
            "the VOC2012 trainval tarball holds all of them: run `trainer data download`"
        )  # fmt: skip
    out_dir = voc_root / AUG_MASK_DIR
    out_dir.mkdir(exist_ok=True)
    palette = voc.voc_palette()
    converted = copied = up_to_date = 0
    for image_id in trainaug:
        target = out_dir / f"{image_id}.png"
        if target.is_file():
            up_to_date += 1
            continue
        voc_mask = voc_root / voc.MASK_DIRS["train"] / f"{image_id}.png"
        if image_id in voc_train:
            voc.read_mask(voc_mask)  # refuse to copy a malformed mask
            with atomic_write(target) as partial:
                shutil.copyfile(voc_mask, partial)
            copied += 1
            continue
        mat = dataset_dir / "cls" / f"{image_id}.mat"
        if not mat.is_file():
            raise DatasetError(mat, "SBD lists this ID but its class file is missing; re-extract SBD")
        mask = Image.fromarray(read_sbd_mat(mat))
        with Image.open(voc_root / "JPEGImages" / f"{image_id}.jpg") as image:
            if image.size != mask.size:
                raise DatasetError(mat, f"labels are {mask.size} (W, H) but the image is {image.size}; wrong SBD file")
        mask.putpalette(palette)
        with atomic_write(target) as partial:
            mask.save(partial, format="PNG")
        converted += 1
    split_path = voc.split_file(voc_root, "trainaug")
    with atomic_write(split_path) as partial:
        partial.write_text("".join(f"{i}\n" for i in trainaug))
    return SbdResult(converted, copied, up_to_date, split_path)
