"""The GPU recipe's parts, checked on the CPU: deferred loss readback, device policy, fused optimizers,
compile wiring and normalization of uint8 batches on the device."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from tests.helpers import tiny_config
from trainer.components import build_parts, device_policy
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


def test_parts_use_fused_optimizers_and_compile_only_the_training_forward(synth_voc: Path, tmp_path: Path) -> None:
    config = tiny_config(synth_voc, tmp_path, compile=True, **{"optim.name": "adamw", "optim.lr": 1e-3})
    parts = build_parts(config, device_policy(config))
    assert parts.optimizer.defaults["fused"] is True
    assert isinstance(parts.train_forward, torch._dynamo.eval_frame.OptimizedModule)
    assert parts.train_forward._orig_mod is parts.model  # checkpoints and evaluation use the eager model
    eager = build_parts(tiny_config(synth_voc, tmp_path), device_policy(config))
    assert eager.train_forward is eager.model


def test_policy_normalizes_uint8_batches_where_they_land() -> None:
    policy = DevicePolicy.for_device(torch.device("cpu"), amp="off", channels_last=True)
    images = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    moved = policy.images(images)
    assert moved.dtype == torch.float32 and moved.is_contiguous(memory_format=torch.channels_last)
    # (1 - mean) / std per channel, ImageNet's statistics.
    expected = [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225]
    assert moved[0, :, 0, 0].tolist() == pytest.approx(expected, rel=1e-6)
