"""Training-loader throughput: images/s through JPEG decode + train transforms, for several num_workers.

Generates a synthetic train split (``synthesize``, longer side ``--size``) unless ``--root`` names an existing
VOC2012 root, then times whole epochs of `make_train_loader` after one warm-up epoch (worker start-up and
page cache excluded). Prints a table and the command that reproduced it.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/loader.py --images 64 --size 500 --crop 513 --batch 16
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

from trainer.data import VOCSegmentation, make_train_loader, synthesize, train_transforms


def measure(root: Path, *, crop: int, batch: int, workers: int, epochs: int, photometric: bool) -> float:
    """Steady-state images per second of the train loader over ``epochs`` timed epochs."""
    dataset = VOCSegmentation(root, "train", transforms=train_transforms(crop_size=crop, photometric=photometric))
    loader = make_train_loader(dataset, batch_size=batch, seed=0, num_workers=workers, pin_memory=False)
    images = 0
    start = 0.0
    for epoch in range(epochs + 1):
        if epoch == 1:
            start, images = time.perf_counter(), 0
        loader.sampler.set_epoch(epoch)
        for batch_images, _ in loader:
            images += batch_images.shape[0]
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="existing VOC2012 root (default: a fresh synthetic one)")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=500, help="longer side of the synthetic images")
    parser.add_argument("--crop", type=int, default=513)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after one warm-up epoch")
    parser.add_argument("--photometric", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.root or synthesize(Path(scratch) / "VOC2012", train=args.images, val=1, size=args.size, seed=0)
        rows = [
            (
                workers,
                measure(
                    root,
                    crop=args.crop,
                    batch=args.batch,
                    workers=workers,
                    epochs=args.epochs,
                    photometric=args.photometric,
                ),
            )
            for workers in args.workers
        ]
    print(f"train loader: decode + train_transforms(crop_size={args.crop}, photometric={args.photometric}), "
          f"batch {args.batch}, torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s)")  # fmt: skip
    print(f"{'num_workers':>11}  {'img/s':>7}")
    for workers, rate in rows:
        print(f"{workers:>11}  {rate:>7.1f}")
    print("command: " + shlex.join(["python", *sys.argv]))


if __name__ == "__main__":
    main()
