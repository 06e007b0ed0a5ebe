"""`LossReadback`: losses stay on the device until a readback, which checks and reports each in order."""

from __future__ import annotations

import math

import pytest
import torch

from trainer.errors import DivergedError
from trainer.runtime import DevicePolicy
from trainer.step import LossReadback


def test_reads_back_every_n_steps_in_order_and_averages() -> None:
    reported: list[tuple[int, float, float]] = []
    readback = LossReadback(epoch=3, every=3, report=lambda *row: reported.append(row))
    for iteration, loss in enumerate([2.0, 1.0, 0.5, 0.25], start=1):
        readback.add(iteration, torch.tensor(loss), lr=0.1 * iteration)
        if iteration < 3:
            assert reported == []  # nothing is read back before the third step
    assert [row[0] for row in reported] == [1, 2, 3]
    readback.flush()
    assert reported == [(1, 2.0, 0.1), (2, 1.0, 0.2), (3, 0.5, pytest.approx(0.3)), (4, 0.25, 0.4)]
    assert readback.mean == pytest.approx((2.0 + 1.0 + 0.5 + 0.25) / 4)


def test_names_the_first_non_finite_iteration_even_when_read_late() -> None:
    reported: list[int] = []
    readback = LossReadback(epoch=2, every=10, report=lambda iteration, loss, lr: reported.append(iteration))
    for iteration, loss in enumerate([1.0, 0.9, math.inf, math.nan], start=1):
        readback.add(iteration, torch.tensor(loss), lr=0.01)
    with pytest.raises(DivergedError) as caught:
        readback.flush()
    assert (caught.value.epoch, caught.value.iteration) == (2, 3)
    assert reported == [1, 2]


def test_only_cuda_defers_the_readback() -> None:
    cpu = DevicePolicy.for_device(torch.device("cpu"), amp="bf16", channels_last=True, loss_sync_every=25)
    cuda = DevicePolicy.for_device(torch.device("cuda"), amp="bf16", channels_last=True, loss_sync_every=25)
    assert (cpu.loss_sync_every, cpu.autocast_dtype) == (1, None)
    assert (cuda.loss_sync_every, cuda.autocast_dtype) == (25, torch.bfloat16)
