"""Finding every bad file of a split before training or a sweep starts (`trainer data check`).

Training decodes each file when a batch needs it and stops at the first bad one, naming it (a sweep's
trial fails with that message). `check_split` decodes every image and mask of a split exactly as training
does and reports all the problems at once: files listed but missing, images that do not decode (corrupt
or truncated), masks that are not palette PNGs or hold labels outside 0..20 and 255, and masks whose size
differs from their image's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trainer.data.voc import check_same_size, mask_folder, read_image, read_mask, read_split_ids, split_file
from trainer.errors import DatasetError


@dataclass(frozen=True)
class Problem:
    """One bad file and what is wrong with it."""

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class SplitCheck:
    """The outcome of `check_split`: how many image/mask pairs the split lists, and every problem found."""

    split: str
    images: int
    problems: list[Problem] = field(default_factory=list)


def check_split(root: str | Path, split: str) -> SplitCheck:
    """Decode every image and mask that `split` lists under the VOC2012 `root`; report each bad file.

    A missing root, split file or mask folder is no per-file problem: it raises `DatasetError` with the fix.
    """
    root = Path(root)
    ids = read_split_ids(root, split)
    masks = mask_folder(root, split)
    listed_in = split_file(root, split).name
    problems: list[Problem] = []
    for image_id in ids:
        image_path, mask_path = root / "JPEGImages" / f"{image_id}.jpg", masks / f"{image_id}.png"
        missing = [path for path in (image_path, mask_path) if not path.is_file()]
        problems += [
            Problem(path, f"listed in {listed_in} but missing; restore it or remove {image_id} from {listed_in}")
            for path in missing
        ]
        if not missing:
            problems += _pair_problems(image_path, mask_path)
    return SplitCheck(split, len(ids), problems)


def _pair_problems(image_path: Path, mask_path: Path) -> list[Problem]:
    """The problems of one image/mask pair that is present: each file that does not decode, else their sizes."""
    problems = []
    try:
        image_size = tuple(read_image(image_path).shape[1:])
    except DatasetError as error:
        problems.append(_problem(error))
    try:
        mask_size = read_mask(mask_path).shape
    except DatasetError as error:
        problems.append(_problem(error))
    if problems:
        return problems
    try:
        check_same_size(image_size, mask_size, mask_path)
    except DatasetError as error:
        return [_problem(error)]
    return []


def _problem(error: DatasetError) -> Problem:
    return Problem(error.path, error.message)
