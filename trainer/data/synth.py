"""A small, learnable, VOC-layout dataset generated from a seed, for tests, smoke runs and benchmarks.

Each image shows 1-3 objects of `SYNTH_CLASSES` (VOC labels) on a cluttered background (colour gradient,
low-frequency blotches, pixel noise, distractor strokes that stay background). A class is told apart by its
shape, colour and texture together, so a small model learns it in a few epochs while chance stays far below.
Masks are palette PNGs with a 255 "void" band a few pixels wide along object outlines, as in real VOC.
A few JPEGs are written without a mask and outside every split, like VOC's unlabelled images.

The output is a pure function of the arguments: every image draws from ``numpy.random.default_rng([seed, i])``,
JPEGs are saved at a fixed quality, and nothing records a time, so the same seed gives byte-identical files.
"""

from __future__ import annotations

from typing import Any

from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import binary_dilation

from trainer.data.voc import voc_palette

#: (VOC label, shape, base RGB, texture) of each synthetic class.
SYNTH_CLASSES: tuple[tuple[int, str, tuple[int, int, int], str], ...] = (
    (1, "triangle", (205, 205, 220), "solid"),  # aeroplane
    (7, "rectangle", (200, 40, 40), "hstripes"),  # car
    (8, "disc", (235, 145, 35), "checker"),  # cat
    (12, "ellipse", (115, 70, 30), "diagonal"),  # dog
    (15, "tall_ellipse", (60, 90, 210), "vstripes"),  # person
    (16, "ring", (40, 165, 60), "dots"),  # pottedplant
)
JPEG_QUALITY = 90


def _shape(name: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Boolean mask of a shape of radius ``r`` given pixel offsets from its centre."""
    return np.asarray(_shape_expression(name, dx, dy, r), dtype=bool)


def _shape_expression(name: str, dx: np.ndarray, dy: np.ndarray, r: float) -> Any:
    if name == "disc":
        return dx**2 + dy**2 <= r**2
    if name == "ring":
        return (dx**2 + dy**2 <= r**2) & (dx**2 + dy**2 >= (0.55 * r) ** 2)
    if name == "ellipse":
        return (dx / r) ** 2 + (dy / (0.55 * r)) ** 2 <= 1
    if name == "tall_ellipse":
        return (dx / (0.45 * r)) ** 2 + (dy / r) ** 2 <= 1
    if name == "rectangle":
        return (np.abs(dx) <= r) & (np.abs(dy) <= 0.6 * r)
    if name == "triangle":
        return (dy <= 0.75 * r) & (np.abs(dx) <= 0.6 * (dy + r))
    raise ValueError(f"unknown shape {name!r}")


def _texture(name: str, x: np.ndarray, y: np.ndarray, period: float, phase: float) -> np.ndarray:
    """A 0/1 pattern (float) over the whole image; the object keeps it where it is drawn."""
    return np.asarray(_texture_expression(name, x, y, period, phase), dtype=float)


def _texture_expression(name: str, x: np.ndarray, y: np.ndarray, period: float, phase: float) -> Any:
    if name == "solid":
        return np.zeros(np.broadcast_shapes(x.shape, y.shape))
    if name == "hstripes":
        return np.broadcast_to(((y + phase) // period) % 2, np.broadcast_shapes(x.shape, y.shape))
    if name == "vstripes":
        return np.broadcast_to(((x + phase) // period) % 2, np.broadcast_shapes(x.shape, y.shape))
    if name == "checker":
        return (((x + phase) // period) + ((y + phase) // period)) % 2
    if name == "diagonal":
        return ((x + y + phase) // period) % 2
    if name == "dots":
        return (np.sin((x + phase) * 2 * np.pi / period) * np.sin(y * 2 * np.pi / period) > 0.4).astype(float)
    raise ValueError(f"unknown texture {name!r}")


def _background(rng: np.random.Generator, height: int, width: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Float RGB [H, W, 3] clutter: gradient + blotches + strokes (all labelled background)."""
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * x / width + np.sin(angle) * y / height + 1) / 2
    start, end = rng.uniform(30, 225, size=(2, 3))
    image: np.ndarray = start + ramp[..., None] * (end - start)
    blotches = rng.normal(0, 35, size=(4, 4, 3)).astype(np.float32)
    for channel in range(3):  # bilinear upsampling of a coarse grid gives smooth, low-frequency colour noise
        plane = Image.fromarray(blotches[..., channel], mode="F").resize((width, height), Image.Resampling.BILINEAR)
        image[..., channel] += np.asarray(plane)
    for _ in range(rng.integers(3, 7)):
        (x0, x1), (y0, y1) = rng.uniform(0, width, 2), rng.uniform(0, height, 2)
        seg_x, seg_y = x1 - x0, y1 - y0
        t = np.clip(((x - x0) * seg_x + (y - y0) * seg_y) / (seg_x**2 + seg_y**2 + 1e-9), 0, 1)
        near = (x - x0 - t * seg_x) ** 2 + (y - y0 - t * seg_y) ** 2 <= rng.uniform(0.5, 2.5) ** 2
        image[near] = rng.uniform(0, 255, size=3)
    return image


def _sample(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One (uint8 RGB [H, W, 3], uint8 label [H, W]) pair whose longer side is ``size``."""
    short = int(round(size * rng.uniform(0.7, 1.0)))
    height, width = (short, size) if rng.random() < 0.7 else (size, short)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    image = _background(rng, height, width, x, y)
    labels = np.zeros((height, width), dtype=np.uint8)
    for _ in range(rng.integers(1, 4)):
        label, shape, colour, texture = SYNTH_CLASSES[rng.integers(len(SYNTH_CLASSES))]
        radius = rng.uniform(0.15, 0.3) * min(height, width)
        cx, cy = rng.uniform(0.5 * radius, width - 0.5 * radius), rng.uniform(0.5 * radius, height - 0.5 * radius)
        inside = _shape(shape, x - cx, y - cy, radius)
        pattern = _texture(texture, x, y, period=max(3.0, size / 24), phase=rng.uniform(0, 8))
        rgb = np.clip(np.array(colour) + rng.normal(0, 12, size=3), 0, 255)
        image[inside] = rgb * (1 - 0.45 * pattern[inside, None])
        labels[inside] = label
    image += rng.normal(0, 8, size=image.shape)
    edges = np.zeros_like(labels, dtype=bool)
    edges[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edges[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    edges[1:, :] |= labels[1:, :] != labels[:-1, :]
    edges[:-1, :] |= labels[1:, :] != labels[:-1, :]
    band = binary_dilation(edges, iterations=max(1, size // 200)) if edges.any() else edges
    labels[band] = 255
    return np.clip(image, 0, 255).astype(np.uint8), labels


def synthesize(root: str | Path, *, train: int = 64, val: int = 32, size: int = 128, seed: int = 0) -> Path:
    """Write a synthetic VOC2012-layout root and return it.

    ``size`` is each image's longer side (the shorter is 70-100% of it, mostly landscape). Writes
    ``JPEGImages/*.jpg``, ``SegmentationClass/*.png`` (palette, labels in `SYNTH_CLASSES` plus 0 and 255) and
    ``ImageSets/Segmentation/{train,val,trainval}.txt``, plus ``max(1, (train + val) // 16)`` unlabelled JPEGs
    listed in no split. Existing files of the same names are overwritten.
    """
    if train < 1 or val < 1 or size < 16:
        raise ValueError(f"need train >= 1, val >= 1 and size >= 16 (got {train=}, {val=}, {size=})")
    root = Path(root)
    images_dir, masks_dir, sets_dir = root / "JPEGImages", root / "SegmentationClass", root / "ImageSets/Segmentation"
    for folder in (images_dir, masks_dir, sets_dir):
        folder.mkdir(parents=True, exist_ok=True)
    palette = voc_palette()
    labelled = train + val
    ids = [f"synth_{i:06d}" for i in range(labelled + max(1, labelled // 16))]
    for i, image_id in enumerate(ids):
        image, labels = _sample(np.random.default_rng([seed, i]), size)
        Image.fromarray(image).save(images_dir / f"{image_id}.jpg", format="JPEG", quality=JPEG_QUALITY)
        if i < labelled:
            mask = Image.fromarray(labels)
            mask.putpalette(palette)
            mask.save(masks_dir / f"{image_id}.png", format="PNG")
    splits = {"train": ids[:train], "val": ids[train:labelled], "trainval": ids[:labelled]}
    for name, split_ids in splits.items():
        (sets_dir / f"{name}.txt").write_text("".join(f"{image_id}\n" for image_id in split_ids))
    return root
