"""Pascal VOC 2012 segmentation: class names, the colour map, file decoding and the dataset.

The dataset root is the ``VOC2012`` folder (the one holding ``JPEGImages``). Which images belong to a split
is decided only by ``ImageSets/Segmentation/<split>.txt``; ``JPEGImages`` also holds thousands of images
without masks, so it is never listed. Masks are palette PNGs whose *indices* are the labels; 255 marks the
boundary/"void" band and is kept as 255 (the losses ignore it).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import IO, Any, Callable

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

# Re-exported: the data layer has always been where these are imported from.
from trainer.constants import IGNORE_INDEX as IGNORE_INDEX
from trainer.constants import NUM_CLASSES as NUM_CLASSES
from trainer.constants import VOC_CLASSES as VOC_CLASSES
from trainer.errors import DatasetError

try:  # libjpeg-turbo through torchvision is ~2x faster than PIL; torchvision plans to move it to TorchCodec
    from torchvision.io import ImageReadMode, decode_jpeg, read_file
except ImportError:  # pragma: no cover - depends on the installed torchvision
    decode_jpeg = None

#: Split name -> folder of its masks. ``trainaug`` masks come from `trainer.data.sbd.prepare_sbd`.
MASK_DIRS: dict[str, str] = {
    "train": "SegmentationClass",
    "val": "SegmentationClass",
    "trainval": "SegmentationClass",
    "trainaug": "SegmentationClassAug",
}

_FIX_ROOT = "run `trainer data download --root DIR` (real VOC) or `trainer data synth --root DIR` (synthetic)"

Transforms = Callable[[torch.Tensor, torch.Tensor], Any]


def voc_palette() -> list[int]:
    """The standard VOC colour map as a flat 256*3 list (bit-interleaved label -> RGB; 255 is (224, 224, 192))."""
    palette: list[int] = []
    for label in range(256):
        red = green = blue = 0
        code = label
        for shift in range(7, -1, -1):
            red |= (code & 1) << shift
            green |= ((code >> 1) & 1) << shift
            blue |= ((code >> 2) & 1) << shift
            code >>= 3
        palette += [red, green, blue]
    return palette


def split_file(root: str | Path, split: str) -> Path:
    """Path of the split's ID list; raises `DatasetError` for an unknown split name."""
    if split not in MASK_DIRS:
        raise DatasetError(Path(root), f"unknown split {split!r}; choose one of {sorted(MASK_DIRS)}")
    return Path(root) / "ImageSets" / "Segmentation" / f"{split}.txt"


def read_split_ids(root: str | Path, split: str) -> list[str]:
    """The IDs listed in the split file, in file order; fails if the root or the file is missing or empty."""
    root = Path(root)
    if not (root / "JPEGImages").is_dir():
        raise DatasetError(root, f"not a VOC2012 root (no JPEGImages folder); {_FIX_ROOT}")
    path = split_file(root, split)
    if not path.is_file():
        fix = "run `trainer data prepare-sbd`" if split == "trainaug" else _FIX_ROOT
        raise DatasetError(path, f"split file for {split!r} is missing; {fix}")
    ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise DatasetError(path, "split file lists no image IDs; regenerate it")
    return ids


def read_image(path: str | Path) -> torch.Tensor:
    """Decode an RGB image to a uint8 tensor [3, H, W]: libjpeg-turbo via torchvision, PIL as fallback."""
    path = Path(path)
    if decode_jpeg is not None:
        try:
            with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders on every call
                warnings.simplefilter("ignore", DeprecationWarning)
                decoded: torch.Tensor = decode_jpeg(read_file(str(path)), mode=ImageReadMode.RGB)
                return decoded
        except RuntimeError:
            pass  # not a JPEG torchvision can decode (e.g. a PNG saved as .jpg): let PIL try
    try:
        with Image.open(path) as image:
            array = np.array(image.convert("RGB"))
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(path, f"corrupt or unreadable image ({error}); re-download or regenerate it") from None
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def read_mask(path: str | Path) -> np.ndarray:
    """Read a palette PNG's label indices as uint8 [H, W]; only 0..20 and 255 are accepted."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            mode = image.mode
            labels = np.array(image) if mode == "P" else None
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(path, f"corrupt or unreadable mask ({error}); re-download or regenerate it") from None
    if labels is None:
        raise DatasetError(
            path, f"mask has PIL mode {mode!r}; it must be a palette (mode P) PNG whose indices are the labels"
        )
    if np.count_nonzero((labels >= NUM_CLASSES) & (labels != IGNORE_INDEX)):  # 15x faster than a lookup table
        bad = sorted(set(np.unique(labels).tolist()) - set(range(NUM_CLASSES)) - {IGNORE_INDEX})
        raise DatasetError(
            path, f"mask holds labels {bad[:10]} outside 0..20 and 255 (void); relabel or regenerate the mask"
        )
    return labels


def mask_folder(root: str | Path, split: str) -> Path:
    """The folder of the split's masks; raises `DatasetError` with the fix when it is missing."""
    folder = Path(root) / MASK_DIRS[split]
    if not folder.is_dir():
        fix = "run `trainer data prepare-sbd`" if split == "trainaug" else _FIX_ROOT
        raise DatasetError(folder, f"mask folder for split {split!r} is missing; {fix}")
    return folder


def check_same_size(image_size: tuple[int, ...], mask_size: tuple[int, ...], mask_path: Path) -> None:
    """Raise `DatasetError` naming the mask unless both sizes, (H, W), are equal."""
    if tuple(image_size) != tuple(mask_size):
        raise DatasetError(
            mask_path,
            f"mask is {tuple(mask_size)} (H, W) but its image is {tuple(image_size)}; "
            "image and mask must have the same size",
        )


def read_image_header(source: Path | IO[bytes], path: Path) -> tuple[str | None, tuple[int, int]]:
    """(format, (H, W)) of the image in `source` (a file, or its bytes) from the header alone: PIL opens
    lazily, so nothing is decoded. `DatasetError` naming `path` when it is no readable image."""
    try:
        with Image.open(source) as image:
            return image.format, (image.height, image.width)
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(path, f"corrupt or unreadable image ({error}); re-download or regenerate it") from None


class VOCSegmentation(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """The image/mask pairs of one split of a VOC2012-layout root.

    ``dataset[i]`` returns ``(image, mask)``: with ``transforms=None`` a uint8 tensor [3, H, W] and a uint8
    tensor [H, W] of the same size (labels 0..20 and 255; the losses and `ConfusionMatrix` take it as it is,
    and it is 8x smaller than int64 between loader processes); otherwise whatever ``transforms(image, mask)`` returns. Construction
    checks the root, the split file and that every listed ID has an image and a mask (cheap ``stat`` calls);
    each file's content is checked when it is loaded. Every failure is a `DatasetError` naming the file.
    """

    def __init__(self, root: str | Path, split: str, transforms: Transforms | None = None) -> None:
        self.root = Path(root)
        self.split = split
        self.transforms = transforms
        self.ids: list[str] = read_split_ids(self.root, split)
        self._mask_dir = mask_folder(self.root, split)
        for kind, path_of in (("image", self.image_path), ("mask", self.mask_path)):
            missing = [i for i in range(len(self.ids)) if not path_of(i).is_file()]
            if missing:
                names = ", ".join(self.ids[i] for i in missing[:5])
                raise DatasetError(
                    path_of(missing[0]),
                    f"{len(missing)} ID(s) listed in {split}.txt have no {kind} file (first: {names}); "
                    "remove them from the split file or restore the files",
                )

    def __len__(self) -> int:
        return len(self.ids)

    def image_path(self, index: int) -> Path:
        return self.root / "JPEGImages" / f"{self.ids[index]}.jpg"

    def mask_path(self, index: int) -> Path:
        return self._mask_dir / f"{self.ids[index]}.png"

    def image_size(self, index: int) -> tuple[int, int]:
        """The image's (H, W) from its file header (PIL opens lazily: nothing is decoded)."""
        path = self.image_path(index)
        return read_image_header(path, path)[1]

    def __getitem__(self, index: int) -> Any:
        image = read_image(self.image_path(index))
        mask = torch.from_numpy(read_mask(self.mask_path(index)))
        check_same_size(tuple(image.shape[1:]), tuple(mask.shape), self.mask_path(index))
        if self.transforms is None:
            return image, mask
        return self.transforms(image, mask)
