"""What a configured network costs to run: parameters, forward FLOPs, and measured inference latency.

A sweep under a latency or size budget needs these figures before it trains anything, so
`measure_model_cost` builds only the network, from the model section of a `TrainConfig`, without its
initial weights (they change no figure here):
- `params_m`: millions of parameters, every tensor that `model.parameters()` yields;
- `gflops`: billions of floating-point operations of one eval-mode forward pass of one image at the
  training crop size, as `torch.utils.flop_counter` counts them (2 per multiply-add; convolutions,
  matrix products and attention, not the element-wise work). Counted on the meta device: no memory, no time;
- `latency_ms`: the median wall milliseconds of one forward pass and argmax of one image of
  `image_size`² already on the device, after `warmup` passes, under the config's `DevicePolicy` (the
  device, autocast dtype and memory format that evaluation uses). CUDA is synchronized around each pass.

Latency is a measurement: it depends on the device, the CPU threads, what else runs there, and the torch
build. The spread of the timed passes is kept beside the median (`latency_spread_ms`, their interquartile
range). A noisy measurement (`trainer.latency_noise`: a wide spread, or other processes competing for the
CPUs) is taken once more; noisy again, it is kept with `latency_reliable` False and `latency_warning` saying
why, and a sweep does not judge feasibility by it. A reliable latency is cached for the life of the
process by what it depends on (`LatencyKey`: the model section, device, precision, threads, ...), so a
study's trials of one architecture under unchanged conditions share one measurement; an unreliable one is
measured again next time. The counts are cached by model section and crop size.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from trainer.components import build_network, device_policy
from trainer.config import TrainConfig
from trainer.config.sections import ModelConfig
from trainer.constants import LATENCY_IMAGE_SIZE
from trainer.latency_noise import LatencyMeasurement, interquartile_range, others_runnable
from trainer.runtime import DevicePolicy, use_cpu_share


@dataclass(frozen=True)
class ModelCost:
    """The cost figures of one network (see the module docstring for how each is taken)."""

    params_m: float
    gflops: float
    latency_ms: float
    crop_size: int
    latency_image_size: int
    device: str
    precision: str
    latency_spread_ms: float | None = None
    """The interquartile range of the timed passes; None when not known (a cost written by hand)."""
    latency_reliable: bool = True
    latency_warning: str | None = None
    """Why `latency_ms` is not to be trusted (`trainer.latency_noise`); None exactly when it is reliable."""

    def figures(self) -> dict[str, float]:
        """`params_m`, `gflops` and `latency_ms`: the figures a budget can bound."""
        return {"params_m": self.params_m, "gflops": self.gflops, "latency_ms": self.latency_ms}


@dataclass(frozen=True)
class LatencyKey:
    """What a latency measurement depends on; equal keys in one process share one measurement."""

    model: tuple[tuple[str, object], ...]
    device: str
    precision: str
    channels_last: bool
    cudnn_benchmark: bool
    threads: int
    image_size: int
    warmup: int
    repeats: int


_MEASURED: dict[LatencyKey, LatencyMeasurement] = {}
"""Reliable measurements only."""


def count_parameters(model: nn.Module) -> int:
    """The number of scalars in the model's parameters (buffers such as BatchNorm statistics not counted)."""
    return sum(parameter.numel() for parameter in model.parameters())


def shape_only_network(model_config: ModelConfig) -> nn.Module:
    """The network on the meta device, in eval mode: its shapes and operations, no memory, no weights."""
    with torch.device("meta"):
        return build_network(model_config, initial_weights=False).eval()


def forward_flops(model: nn.Module, image_size: int) -> int:
    """FLOPs of one forward pass of `model` (as it is: train or eval mode) over one `image_size`² image;
    a meta-device model (`shape_only_network`) is counted without computing anything."""
    device = next(model.parameters()).device
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.zeros(1, 3, image_size, image_size, device=device))
    return int(counter.get_total_flops())


@torch.inference_mode()
def measure_latency_ms(
    model: nn.Module,
    policy: DevicePolicy,
    *,
    image_size: int,
    warmup: int,
    repeats: int,
    on_pass: Callable[[float], None] | None = None,
) -> float:
    """The median milliseconds of `repeats` timed passes (forward and argmax) of one `image_size`² image,
    after `warmup` untimed ones; `model` is already placed by `policy` and in eval mode. `on_pass` is
    called with each timed pass's milliseconds."""
    if repeats < 1 or warmup < 0 or image_size < 1:
        raise ValueError(f"need repeats >= 1, warmup >= 0 and image_size >= 1, got {repeats}, {warmup}, {image_size}")
    generator = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (1, 3, image_size, image_size), dtype=torch.uint8, generator=generator)
    inputs = policy.images(image)

    def one_pass() -> None:
        with policy.autocast():
            model(inputs).argmax(dim=1)

    for _ in range(warmup):
        one_pass()
    timings = []
    for _ in range(repeats):
        _synchronize(policy.device)
        started = time.perf_counter()
        one_pass()
        _synchronize(policy.device)
        timings.append(1000 * (time.perf_counter() - started))
        if on_pass is not None:
            on_pass(timings[-1])
    return statistics.median(timings)


def measure_model_cost(
    config: TrainConfig, *, image_size: int = LATENCY_IMAGE_SIZE, warmup: int = 3, repeats: int = 10
) -> ModelCost:
    """Parameters, GFLOPs at `config.data.crop_size` and latency at `image_size`² of the network `config`
    describes, on its device under its precision policy and this process's CPU share (`use_cpu_share`); a
    reliable latency is measured once per process and `LatencyKey`. Like training, it sets
    `torch.backends.cudnn.benchmark` unless `config.deterministic`. Raises `ConfigError` when the config's
    device is unusable (`resolve_device`) or a thread variable is malformed (`use_cpu_share`)."""
    policy = device_policy(config)
    use_cpu_share()
    precision = "float32" if policy.autocast_dtype is None else str(policy.autocast_dtype).removeprefix("torch.")
    key = LatencyKey(
        model=tuple(sorted(config.model.model_dump(mode="json", exclude={"pretrained", "weights_path"}).items())),
        device=str(policy.device),
        precision=precision,
        channels_last=policy.channels_last,
        cudnn_benchmark=not config.deterministic,
        threads=torch.get_num_threads(),
        image_size=image_size,
        warmup=warmup,
        repeats=repeats,
    )
    latency = _MEASURED.get(key)
    if latency is None:
        torch.backends.cudnn.benchmark = not config.deterministic  # what training sets: cuDNN picks its kernels
        network = policy.place(build_network(config.model, initial_weights=False)).eval()
        latency = _measure_latency(network, policy, image_size=image_size, warmup=warmup, repeats=repeats)
        if latency.warning() is not None:  # once more: the noisy moment may have passed
            latency = _measure_latency(network, policy, image_size=image_size, warmup=warmup, repeats=repeats)
        if latency.warning() is None:
            _MEASURED[key] = latency
    params, flops = _counts(config.model, config.data.crop_size)
    return ModelCost(
        params_m=params / 1e6,
        gflops=flops / 1e9,
        latency_ms=latency.median_ms,
        crop_size=config.data.crop_size,
        latency_image_size=image_size,
        device=str(policy.device),
        precision=precision,
        latency_spread_ms=latency.spread_ms,
        latency_reliable=latency.warning() is None,
        latency_warning=latency.warning(),
    )


def _measure_latency(
    network: nn.Module, policy: DevicePolicy, *, image_size: int, warmup: int, repeats: int
) -> LatencyMeasurement:
    """`measure_latency_ms`, with the spread of its passes and, on the CPU, the tasks runnable beside them."""
    timings: list[float] = []
    on_cpu = policy.device.type == "cpu"
    beside = others_runnable() if on_cpu else []
    median = measure_latency_ms(
        network, policy, image_size=image_size, warmup=warmup, repeats=repeats, on_pass=timings.append
    )
    beside += others_runnable() if on_cpu else []
    return LatencyMeasurement(
        median_ms=median,
        spread_ms=interquartile_range(timings),
        others_runnable=statistics.median_low(beside) if beside else None,
        threads=torch.get_num_threads(),
        cpus=os.cpu_count() or 1,
    )


@functools.cache
def _counts(model_config: ModelConfig, crop_size: int) -> tuple[int, int]:
    """Parameters and forward FLOPs at `crop_size` of the network `model_config` describes, once per process."""
    shapes = shape_only_network(model_config)
    return count_parameters(shapes), forward_flops(shapes, crop_size)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
