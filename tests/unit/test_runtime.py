"""The runtime policy shared by training and evaluation.

The layering that keeps imports light is checked in fresh interpreters: `tests/e2e/test_runtime_imports.py`.
"""

from __future__ import annotations

import pytest
import torch

from trainer.errors import ConfigError
from trainer.runtime import DevicePolicy, resolve_device


@pytest.mark.parametrize(
    ("device", "amp", "dtype", "scaler"),
    [
        ("cpu", "bf16", None, False),  # the CPU always runs float32
        ("cpu", "fp16", None, False),
        ("cuda", "bf16", torch.bfloat16, False),
        ("cuda", "fp16", torch.float16, True),
        ("cuda", "off", None, False),
    ],
)
def test_mixed_precision_applies_on_cuda_only(device: str, amp: str, dtype: torch.dtype | None, scaler: bool) -> None:
    policy = DevicePolicy.for_device(torch.device(device), amp=amp, channels_last=True)
    assert policy.autocast_dtype is dtype and policy.needs_grad_scaler is scaler and policy.channels_last


def test_policy_places_model_and_images_in_one_memory_format() -> None:
    policy = DevicePolicy(torch.device("cpu"), channels_last=True)
    model = policy.place(torch.nn.Conv2d(3, 4, 3))
    images = policy.images(torch.zeros(2, 3, 8, 8))
    assert model.weight.is_contiguous(memory_format=torch.channels_last)
    assert images.is_contiguous(memory_format=torch.channels_last) and not images.is_contiguous()
    with policy.autocast():
        assert not torch.is_autocast_enabled("cpu")


@pytest.mark.parametrize(
    ("name", "message"),
    [("gpu", r"'gpu' is not a device; use auto, cpu, cuda or cuda:N"), ("cuda:0", r"CUDA is not available")],
)
def test_unusable_device_is_a_config_error(name: str, message: str) -> None:
    if name.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ConfigError, match=message):
        resolve_device(name)
