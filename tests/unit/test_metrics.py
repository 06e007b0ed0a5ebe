"""Confusion matrix and segmentation metrics against a 3×3 example worked out by hand."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from trainer.metrics import ConfusionMatrix, SegmentationMetrics

IGNORE = 255

# Target and prediction of one 3×3 image; two pixels are ignored, leaving 7 counted.
TARGET = torch.tensor([[[0, 0, 1], [1, 2, IGNORE], [2, 2, IGNORE]]])
PRED = torch.tensor([[[0, 1, 1], [1, 2, 0], [0, 2, 1]]])
# Rows are target classes, columns predicted classes: counted (target, pred) pairs are
# (0,0) (0,1) (1,1) (1,1) (2,2) (2,0) (2,2).
EXPECTED_MATRIX = [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
# TP = (1, 2, 2); union = target + predicted - TP = (2+2-1, 2+3-2, 3+2-2) = (3, 3, 3).
EXPECTED_IOU = (Fraction(1, 3), Fraction(2, 3), Fraction(2, 3))


def test_matrix_entries_by_hand() -> None:
    confusion = ConfusionMatrix(3)
    confusion.update(PRED, TARGET)
    assert confusion.matrix.dtype == torch.int64
    assert confusion.matrix.tolist() == EXPECTED_MATRIX


def test_metrics_by_hand() -> None:
    confusion = ConfusionMatrix(3)
    confusion.update(PRED, TARGET)
    metrics = confusion.compute()
    assert metrics.per_class_iou == pytest.approx([float(v) for v in EXPECTED_IOU], abs=1e-15)
    assert metrics.miou == pytest.approx(float(sum(EXPECTED_IOU) / 3), abs=1e-15)  # 5/9
    assert metrics.pixel_accuracy == pytest.approx(5 / 7, abs=1e-15)
    # Per-class accuracy TP / target pixels = (1/2, 2/2, 2/3).
    assert metrics.mean_class_accuracy == pytest.approx(float((Fraction(1, 2) + 1 + Fraction(2, 3)) / 3), abs=1e-15)
    # Target frequencies (2/7, 2/7, 3/7) times IoUs: 2/21 + 4/21 + 6/21 = 4/7.
    assert metrics.fw_iou == pytest.approx(4 / 7, abs=1e-15)


def test_logits_are_reduced_by_argmax() -> None:
    logits = F.one_hot(PRED, 3).permute(0, 3, 1, 2).float() * 5 + torch.randn(1, 3, 3, 3) * 0.1
    confusion = ConfusionMatrix(3)
    confusion.update(logits, TARGET)
    assert confusion.matrix.tolist() == EXPECTED_MATRIX


def test_class_absent_from_target_and_prediction_is_nan_and_left_out() -> None:
    confusion = ConfusionMatrix(4)
    confusion.update(PRED, TARGET)
    metrics = confusion.compute()
    assert math.isnan(metrics.per_class_iou[3])
    assert metrics.miou == pytest.approx(5 / 9, abs=1e-15)
    assert metrics.mean_class_accuracy == pytest.approx(13 / 18, abs=1e-15)
    assert metrics.fw_iou == pytest.approx(4 / 7, abs=1e-15)


def test_class_only_predicted_has_iou_zero_and_counts() -> None:
    pred = PRED.clone()
    pred[0, 0, 0] = 3  # a class-0 pixel predicted as class 3, which never occurs in the target
    confusion = ConfusionMatrix(4)
    confusion.update(pred, TARGET)
    metrics = confusion.compute()
    assert metrics.per_class_iou == pytest.approx([0.0, 2 / 3, 2 / 3, 0.0], abs=1e-15)
    assert metrics.miou == pytest.approx((2 / 3 + 2 / 3) / 4, abs=1e-15)
    # Mean class accuracy only averages over classes present in the target: (0 + 1 + 2/3) / 3.
    assert metrics.mean_class_accuracy == pytest.approx(5 / 9, abs=1e-15)


def test_empty_matrix_gives_zero_scores_and_nan_per_class() -> None:
    confusion = ConfusionMatrix(3)
    confusion.update(PRED, torch.full_like(TARGET, IGNORE))
    metrics = confusion.compute()
    assert (metrics.miou, metrics.pixel_accuracy, metrics.mean_class_accuracy, metrics.fw_iou) == (
        0.0,
        0.0,
        0.0,
        0.0,
    )
    assert all(math.isnan(iou) for iou in metrics.per_class_iou)


def test_reset_clears_counts() -> None:
    confusion = ConfusionMatrix(3)
    confusion.update(PRED, TARGET)
    confusion.reset()
    assert confusion.matrix.sum().item() == 0
    confusion.update(PRED, TARGET)
    assert confusion.matrix.tolist() == EXPECTED_MATRIX


@pytest.mark.parametrize("seed", [0, 1])
def test_two_updates_equal_one_update_of_the_concatenation(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    pred = torch.randint(0, 5, (4, 7, 9), generator=generator)
    target = torch.randint(0, 5, (4, 7, 9), generator=generator)
    target[torch.rand(4, 7, 9, generator=generator) < 0.2] = IGNORE
    split = ConfusionMatrix(5)
    split.update(pred[:1], target[:1])
    split.update(pred[1:], target[1:])
    whole = ConfusionMatrix(5)
    whole.update(pred, target)
    assert torch.equal(split.matrix, whole.matrix)
    assert split.compute() == whole.compute()  # every class occurs, so no NaN defeats the equality
    valid = target != IGNORE
    reference = torch.zeros(5, 5, dtype=torch.int64)
    for t, p in zip(target[valid].tolist(), pred[valid].tolist(), strict=True):
        reference[t, p] += 1
    assert torch.equal(whole.matrix, reference)


def test_out_of_range_labels_are_not_counted() -> None:
    confusion = ConfusionMatrix(3)
    confusion.update(torch.tensor([[[0, 7, 1]]]), torch.tensor([[[0, 1, 9]]]))
    assert confusion.matrix.tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 0]]


@pytest.mark.parametrize(
    ("pred", "match"),
    [
        (
            torch.zeros(1, 3, 4, dtype=torch.int64),
            r"prediction shape \(1, 3, 4\) does not match target shape \(1, 3, 3\)",
        ),
        (torch.zeros(1, 4, 3, 3), r"logits of shape \(1, 4, 3, 3\) do not match"),
        (torch.zeros(1, 3, 3, 4), r"prediction shape \(1, 3, 4\) does not match"),
    ],
)
def test_shape_mismatch_is_value_error(pred: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ConfusionMatrix(3).update(pred, TARGET)


def test_as_dict_uses_class_names_or_indices() -> None:
    metrics = SegmentationMetrics(
        miou=0.5, pixel_accuracy=0.75, mean_class_accuracy=0.6, fw_iou=0.7, per_class_iou=(0.25, 0.75)
    )
    assert metrics.as_dict() == {
        "miou": 0.5,
        "pixel_accuracy": 0.75,
        "mean_class_accuracy": 0.6,
        "fw_iou": 0.7,
        "iou/0": 0.25,
        "iou/1": 0.75,
    }
    named = metrics.as_dict(["background", "aeroplane"])
    assert named["iou/background"] == 0.25 and named["iou/aeroplane"] == 0.75
    with pytest.raises(ValueError, match="got 1 class names for 2 classes"):
        metrics.as_dict(["background"])


def test_matrix_stays_on_requested_device() -> None:
    confusion = ConfusionMatrix(3, device="cpu")
    confusion.update(PRED, TARGET)
    assert confusion.matrix.device.type == "cpu"
