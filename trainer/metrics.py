"""Semantic-segmentation metrics accumulated in a confusion matrix that stays on the device.

`ConfusionMatrix.update` adds one batch without reading anything back to the host, so evaluation loops
keep the GPU busy; `compute` (once per evaluation) turns the counts into `SegmentationMetrics`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SegmentationMetrics:
    """Scores derived from a confusion matrix (rows: target class, columns: predicted class).

    - `per_class_iou[c]` = TP / (TP + FP + FN). A class absent from both the targets and the predictions
      has IoU NaN ("no evidence") and is left out of `miou`; a class that is predicted but never present
      in the target has IoU 0 and does count.
    - `miou`: mean of the non-NaN per-class IoUs.
    - `pixel_accuracy`: correctly labelled pixels / counted pixels.
    - `mean_class_accuracy`: mean over the classes present in the target of TP / (pixels of that class).
    - `fw_iou`: per-class IoU weighted by each class's share of the target pixels.

    The four top-level numbers are never NaN, so they can go straight to Optuna: with nothing counted
    (an empty matrix) they are 0.0 and every per-class IoU is NaN.
    """

    miou: float
    pixel_accuracy: float
    mean_class_accuracy: float
    fw_iou: float
    per_class_iou: tuple[float, ...]

    def as_dict(self, class_names: Sequence[str] | None = None) -> dict[str, float]:
        """The metrics as one flat dict, e.g. for `mlflow.log_metrics`.

        Keys: `miou`, `pixel_accuracy`, `mean_class_accuracy`, `fw_iou` and `iou/<c>` per class, where
        `<c>` is the class name when `class_names` is given (one per class), else the class index.
        Per-class entries keep their NaN for absent classes.
        """
        if class_names is not None and len(class_names) != len(self.per_class_iou):
            raise ValueError(f"got {len(class_names)} class names for {len(self.per_class_iou)} classes")
        names = class_names if class_names is not None else [str(index) for index in range(len(self.per_class_iou))]
        flat = {
            "miou": self.miou,
            "pixel_accuracy": self.pixel_accuracy,
            "mean_class_accuracy": self.mean_class_accuracy,
            "fw_iou": self.fw_iou,
        }
        flat.update({f"iou/{name}": iou for name, iou in zip(names, self.per_class_iou, strict=True)})
        return flat


def _mean_or_zero(values: torch.Tensor) -> float:
    """nanmean as a Python float, 0.0 when every value is NaN (or there are none)."""
    mean = values.nanmean().item() if values.numel() else math.nan
    return 0.0 if math.isnan(mean) else mean


class ConfusionMatrix:
    """Accumulates a `num_classes` x `num_classes` int64 confusion matrix over batches.

    `update(pred, target)` takes predicted labels [N, H, W] or logits [N, C, H, W] (reduced by argmax over
    C) and target labels [N, H, W]. Pixels whose target is `ignore_index` are not counted; neither are
    labels outside [0, num_classes), since checking them would need a host sync (the data layer validates
    masks). Counts live on `device`; with `device=None` they follow the device of the data.

    The counts are added with `index_add_` into one extra "discard" bin that collects uncounted pixels,
    instead of boolean indexing or `torch.bincount`, both of which read back from a CUDA device.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, device: torch.device | str | None = None) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self._follow_data = device is None
        # Flattened matrix followed by the discard bin at index num_classes ** 2.
        self._counts = torch.zeros(num_classes * num_classes + 1, dtype=torch.int64, device=device)

    @property
    def matrix(self) -> torch.Tensor:
        """int64 [C, C]; entry [t, p] counts pixels of target class t predicted as class p."""
        return self._counts[:-1].view(self.num_classes, self.num_classes)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch. Raises ValueError when pred (after argmax) and target shapes differ."""
        if pred.is_floating_point():
            if pred.dim() != target.dim() + 1 or pred.shape[1] != self.num_classes:
                raise ValueError(
                    f"logits of shape {tuple(pred.shape)} do not match target {tuple(target.shape)} "
                    f"and {self.num_classes} classes; expected [N, {self.num_classes}, H, W]"
                )
            pred = pred.argmax(dim=1)
        if pred.shape != target.shape:
            raise ValueError(f"prediction shape {tuple(pred.shape)} does not match target shape {tuple(target.shape)}")
        if self._follow_data and self._counts.device != target.device:
            self._counts = self._counts.to(target.device)
        classes = self.num_classes
        target = target.to(device=self._counts.device, dtype=torch.int64).flatten()
        pred = pred.to(device=self._counts.device, dtype=torch.int64).flatten()
        counted = (target != self.ignore_index) & (target >= 0) & (target < classes) & (pred >= 0) & (pred < classes)
        bins = torch.where(counted, target * classes + pred, torch.full_like(target, classes * classes))
        self._counts.index_add_(0, bins, torch.ones_like(bins))

    def reset(self) -> None:
        """Forget every counted pixel."""
        self._counts.zero_()

    def compute(self) -> SegmentationMetrics:
        """The metrics of everything counted since construction or the last `reset` (one host sync)."""
        matrix = self.matrix.to(device="cpu", dtype=torch.float64)
        true_positives = matrix.diag()
        target_pixels = matrix.sum(dim=1)
        predicted_pixels = matrix.sum(dim=0)
        total = matrix.sum().item()
        union = target_pixels + predicted_pixels - true_positives
        iou = torch.where(union > 0, true_positives / union.clamp_min(1), torch.full_like(union, math.nan))
        class_accuracy = torch.where(
            target_pixels > 0,
            true_positives / target_pixels.clamp_min(1),
            torch.full_like(target_pixels, math.nan),
        )
        if total == 0:
            pixel_accuracy = fw_iou = 0.0
        else:
            pixel_accuracy = true_positives.sum().item() / total
            # Classes absent from the target have weight 0 and may have NaN IoU: leave them out.
            present = target_pixels > 0
            fw_iou = (target_pixels[present] / total * iou[present]).sum().item()
        return SegmentationMetrics(
            miou=_mean_or_zero(iou),
            pixel_accuracy=pixel_accuracy,
            mean_class_accuracy=_mean_or_zero(class_accuracy),
            fw_iou=fw_iou,
            per_class_iou=tuple(iou.tolist()),
        )
