"""Facts about the Pascal VOC label set that the data, the config and the model must agree on.

Labels are the indices of `VOC_CLASSES` (0 is background); `IGNORE_INDEX` marks the void band around
objects, which no loss or metric counts. `LATENCY_IMAGE_SIZE` is the side of the square image whose
inference latency `trainer.model_cost` measures: 513, the VOC evaluation size of the DeepLab papers.
"""

from __future__ import annotations

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
NUM_CLASSES = len(VOC_CLASSES)
IGNORE_INDEX = 255
LATENCY_IMAGE_SIZE = 513
