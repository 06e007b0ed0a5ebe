"""Training-loader throughput: our pipeline against a torchvision-references-style PIL pipeline.

Both read the same images (a synthetic VOC-like train split, longer side ``--size``, unless ``--root`` names
a VOC2012 root) and produce normalized float32 batches of random-scale (0.5-2), crop-``--crop``, flipped
samples, ``--batch`` per batch, ``drop_last``:

- ours: `VOCSegmentation` (torchvision's libjpeg-turbo decode) + `train_transforms` + `make_train_loader`,
  whose uint8 batches are normalized in the main process with `normalize_images`, as the training step does
  (on the device there; counted here, to be fair);
- reference: PIL decode, PIL resize of the whole image (image bilinear, mask nearest), flip, crop padded with
  0/255, then ``pil_to_tensor``, float conversion and normalization in the worker, as torchvision's
  ``references/segmentation`` does, behind a plain shuffled DataLoader.

With ``--device-path DEVICE`` a third loader is timed beside them: ours with ``data.augment_on: device``
(workers read JPEG bytes and masks and draw the crops; `DeviceAugmentation` decodes, scales, crops and flips
the batch on DEVICE, which then normalizes it; CUDA is synchronised per batch).

For each worker count, the loaders are built once (persistent workers) and warmed up for one epoch; then
``--rounds`` rounds each time one epoch of both, the order flipped every round so background load hits both
alike. Per core means per worker process, with ``num_workers=0`` counting as one.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/data_loader.py --workers 0 1 2
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from reference_pipeline import ReferenceVOC, reference_train_transforms
from torch.utils.data import DataLoader

from trainer.data.crop_params import CropSampler
from trainer.data.device_augment import DeviceAugmentation
from trainer.data.encoded import EncodedVOCSegmentation, collate_encoded
from trainer.data.loader import make_train_loader
from trainer.data.presets import train_transforms
from trainer.data.synth import synthesize
from trainer.data.transforms import normalize_images
from trainer.data.voc import VOCSegmentation


def ours(root: Path, *, crop: int, batch: int, workers: int) -> DataLoader[Any]:
    dataset = VOCSegmentation(root, "train", transforms=train_transforms(crop_size=crop))
    return make_train_loader(dataset, batch_size=batch, seed=0, num_workers=workers, pin_memory=False)


def reference(root: Path, *, crop: int, batch: int, workers: int) -> DataLoader[Any]:
    dataset = ReferenceVOC(root, "train", transforms=reference_train_transforms(crop_size=crop))
    return DataLoader(
        dataset, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers, persistent_workers=workers > 0
    )


def on_device(root: Path, *, crop: int, batch: int, workers: int) -> DataLoader[Any]:
    """Ours with ``data.augment_on: device``: the workers yield JPEG bytes, masks and crop draws."""
    dataset = EncodedVOCSegmentation(root, "train", crops=CropSampler(crop))
    return make_train_loader(
        dataset, batch_size=batch, seed=0, num_workers=workers, pin_memory=False, collate_fn=collate_encoded
    )


def epoch_seconds(loader: DataLoader[Any], *, prepare: Any = None) -> tuple[int, float]:
    """(images, seconds) of one epoch. With ``prepare`` (our loaders), each batch goes through it and then
    `normalize_images`, as the training step does; the reference's batches arrive normalized."""
    start, count = time.perf_counter(), 0
    for batch in loader:
        images = normalize_images(prepare(batch)[0]) if prepare is not None else batch[0]
        assert images.dtype == torch.float32
        count += images.shape[0]
    if images.is_cuda:
        torch.cuda.synchronize()
    return count, time.perf_counter() - start


def compare(
    root: Path, *, crop: int, batch: int, workers: int, rounds: int, device: torch.device | None
) -> dict[str, float]:
    """img/s per loader over ``rounds`` alternating epochs after one warm-up epoch each."""
    loaders = {
        "ours": ours(root, crop=crop, batch=batch, workers=workers),
        "reference": reference(root, crop=crop, batch=batch, workers=workers),
    }
    prepares: dict[str, Any] = {"ours": lambda batch: batch, "reference": None}
    if device is not None:
        loaders["device"] = on_device(root, crop=crop, batch=batch, workers=workers)
        prepares["device"] = DeviceAugmentation(crop_size=crop, device=device)
    totals = {name: [0, 0.0] for name in loaders}
    for round_index in range(rounds + 1):
        names = list(loaders) if round_index % 2 == 0 else list(reversed(loaders))
        for name in names:
            sampler = getattr(loaders[name], "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(round_index)  # type: ignore[union-attr]
            images, seconds = epoch_seconds(loaders[name], prepare=prepares[name])
            if round_index > 0:  # round 0 warms up workers and the page cache
                totals[name][0] += images
                totals[name][1] += seconds
    return {name: images / seconds for name, (images, seconds) in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="existing VOC2012 root (default: a fresh synthetic one)")
    parser.add_argument("--images", type=int, default=96, help="synthetic train images")
    parser.add_argument("--size", type=int, default=500, help="longer side of the synthetic images")
    parser.add_argument("--crop", type=int, default=513)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs of each pipeline per worker count")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI: 8 images of 64 px, crop 48")
    parser.add_argument("--json", type=Path, default=None, help="also append the rows to this JSON-lines file")
    parser.add_argument("--device-path", default=None, help="also time data.augment_on: device on this device")
    args = parser.parse_args()
    if args.smoke:
        args.images, args.size, args.crop, args.batch, args.workers, args.rounds = 8, 64, 48, 4, [0], 1
    device = torch.device(args.device_path) if args.device_path else None
    with tempfile.TemporaryDirectory() as scratch:
        root = args.root or synthesize(Path(scratch) / "VOC2012", train=args.images, val=1, size=args.size, seed=0)
        rows = {
            workers: compare(root, crop=args.crop, batch=args.batch, workers=workers, rounds=args.rounds, device=device)
            for workers in args.workers
        }
    print(f"train loader, decode + scale 0.5-2 + crop {args.crop} + flip + normalize, batch {args.batch}, "
          f"{args.rounds} round(s), torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s)\n")  # fmt: skip
    device_column = f" ours, augment on {device} img/s |" if device is not None else ""
    print(
        "| workers | ours img/s | reference img/s | ours/reference | ours img/s per core | reference img/s per core |"
        + device_column
    )
    print("|---|---|---|---|---|---|" + ("---|" if device is not None else ""))
    for workers, speeds in rows.items():
        fast, slow, cores = speeds["ours"], speeds["reference"], max(1, workers)
        line = f"| {workers} | {fast:.1f} | {slow:.1f} | {fast / slow:.2f} | {fast / cores:.1f} | {slow / cores:.1f} |"
        print(line + (f" {speeds['device']:.1f} |" if device is not None else ""))
    print("\ncommand: " + shlex.join(["python", *sys.argv]))
    if args.json is not None:
        with args.json.open("a") as out:
            for workers, speeds in rows.items():
                record = {"workers": workers, "ours_img_s": speeds["ours"], "reference_img_s": speeds["reference"]}
                if device is not None:
                    record["device_img_s"] = speeds["device"]
                out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
