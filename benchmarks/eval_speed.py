"""Whole-image val evaluation speed: batch 1 against batches of one image size, and against padded batches.

Generates a VOC-like val split: synthetic images (longer side ``--size``) cropped to the four sizes that
dominate VOC (H x W 375x500, 333x500, 500x375, 500x333), unless ``--root`` names a VOC2012 root. For each
backbone, a randomly initialised DeepLabV3+ (OS16, separable) runs `trainer.evaluation.evaluate` over the
split with:

- batch 1: `make_eval_loader(batch_size=1)`;
- same-size: `make_eval_loader(batch_size=B)`, whose batches hold one image size (no padding);
- padded: split order, mixed sizes padded bottom/right by `pad_collate` (the loader before same-size batching).

Modes alternate per round. The table gives img/s and each mode's largest metric difference from batch 1.

    OMP_NUM_THREADS=2 PYTHONPATH=. python benchmarks/eval_speed.py --images 16 --batch 8
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import DataLoader

from trainer.data.loader import make_eval_loader, pad_collate
from trainer.data.presets import eval_transforms
from trainer.data.synth import synthesize
from trainer.data.voc import VOCSegmentation
from trainer.evaluation import evaluate
from trainer.model import build_model
from trainer.runtime import DevicePolicy

VOC_SIZES = ((375, 500), (333, 500), (500, 375), (500, 333))  # (H, W)


def voc_like_val(root: Path, *, images: int, size: int) -> Path:
    """A synthetic root whose val images are cropped to the largest of `VOC_SIZES` (scaled to ``size``) that fits."""
    synthesize(root, train=1, val=images, size=size, seed=0)
    sizes = [(round(h * size / 500), round(w * size / 500)) for h, w in VOC_SIZES]
    for image_id in (root / "ImageSets/Segmentation/val.txt").read_text().split():
        for path in (root / "JPEGImages" / f"{image_id}.jpg", root / "SegmentationClass" / f"{image_id}.png"):
            with Image.open(path) as picture:
                fits = [(h, w) for h, w in sizes if h <= picture.height and w <= picture.width]
                height, width = max(fits, key=lambda hw: hw[0] * hw[1])
                picture.crop((0, 0, width, height)).save(path)
    return root


def loaders(dataset: VOCSegmentation, batch: int) -> dict[str, DataLoader[Any]]:
    return {
        "batch 1": make_eval_loader(dataset, batch_size=1, num_workers=0),
        f"same-size batch {batch}": make_eval_loader(dataset, batch_size=batch, num_workers=0),
        f"padded batch {batch}": DataLoader(dataset, batch_size=batch, collate_fn=pad_collate),
    }


def compare(dataset: VOCSegmentation, backbone: str, *, batch: int, rounds: int, device: torch.device) -> list[str]:
    """Markdown rows: mode, img/s, largest |metric - batch 1's metric| over every reported metric."""
    torch.manual_seed(0)
    policy = DevicePolicy(device, channels_last=True)
    model = policy.place(build_model(backbone, output_stride=16, separable=True))
    modes = loaders(dataset, batch)
    seconds = dict.fromkeys(modes, 0.0)
    metrics: dict[str, dict[str, float]] = {}
    evaluate(model, modes["batch 1"], policy)  # warm-up
    for round_index in range(rounds):
        for name in list(modes) if round_index % 2 == 0 else list(reversed(modes)):
            start = time.perf_counter()
            metrics[name] = evaluate(model, modes[name], policy)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds[name] += time.perf_counter() - start
    reference = metrics["batch 1"]
    rows = []
    for name in modes:
        gaps = [abs(value - reference[key]) for key, value in metrics[name].items() if not math.isnan(value)]
        rate = rounds * len(dataset) / seconds[name]
        rows.append(f"| {backbone} | {name} | {rate:.2f} | {rate / (rounds * len(dataset) / seconds['batch 1']):.2f} "
                    f"| {max(gaps):.2e} | {metrics[name]['val/miou']:.6f} |")  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, help="existing VOC2012 root (default: a fresh VOC-like synthetic one)")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--size", type=int, default=500, help="longer side of the synthetic images")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--backbones", nargs="+", default=["mobilenet_v3_large", "resnet50"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI: 4 images of 64 px, MobileNetV3")
    args = parser.parse_args()
    if args.smoke:
        args.images, args.size, args.batch, args.rounds, args.backbones = 4, 64, 2, 1, ["mobilenet_v3_large"]
    with tempfile.TemporaryDirectory() as scratch:
        root = args.root or voc_like_val(Path(scratch) / "VOC2012", images=args.images, size=args.size)
        dataset = VOCSegmentation(root, "val", transforms=eval_transforms())
        sizes = sorted({dataset.image_size(i) for i in range(len(dataset))})
        rows = [
            row
            for backbone in args.backbones
            for row in compare(
                dataset, backbone, batch=args.batch, rounds=args.rounds, device=torch.device(args.device)
            )
        ]
    print(f"whole-image val evaluation, {len(dataset)} images of sizes {sizes}, {args.rounds} round(s), "
          f"{args.device}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), random init, NHWC\n")  # fmt: skip
    print("| backbone | mode | img/s | vs batch 1 | max metric diff vs batch 1 | val mIoU |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\ncommand: " + shlex.join(["python", *sys.argv]))


if __name__ == "__main__":
    main()
