"""Batched whole-image evaluation gives batch 1's metrics exactly: batches hold images of one size, no padding."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import torch
from PIL import Image

from trainer.data.loader import make_eval_loader
from trainer.data.presets import eval_transforms
from trainer.data.voc import VOCSegmentation
from trainer.evaluation import evaluate
from trainer.model import build_model
from trainer.runtime import DevicePolicy


def _two_sizes(root: Path) -> None:
    """Crop every val image and mask to 44x64 or 64x44 (H x W), so batches of one size can form."""
    for image_id in (root / "ImageSets/Segmentation/val.txt").read_text().split():
        for path in (root / "JPEGImages" / f"{image_id}.jpg", root / "SegmentationClass" / f"{image_id}.png"):
            with Image.open(path) as picture:
                box = (0, 0, 64, 44) if picture.width >= picture.height else (0, 0, 44, 64)
                picture.crop(box).save(path)


def test_batched_metrics_equal_batch_one(synth_voc: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(synth_voc, tmp_path / "VOC2012"))
    _two_sizes(root)
    dataset = VOCSegmentation(root, "val", transforms=eval_transforms())
    assert len({dataset.image_size(i) for i in range(len(dataset))}) == 2
    torch.manual_seed(0)
    model = build_model("mobilenet_v3_large", output_stride=16, separable=True).eval()
    policy = DevicePolicy(torch.device("cpu"))
    single = evaluate(model, make_eval_loader(dataset, batch_size=1, num_workers=0), policy)
    batched = evaluate(model, make_eval_loader(dataset, batch_size=4, num_workers=0), policy)
    assert single.keys() == batched.keys()
    for name, value in single.items():
        assert (math.isnan(value) and math.isnan(batched[name])) or value == batched[name], name
