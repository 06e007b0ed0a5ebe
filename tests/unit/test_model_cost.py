"""What a configured network costs: parameters, forward FLOPs and latency (`trainer.model_cost`), and `trainer cost`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner
from helpers import tiny_train
from torch import nn

import trainer.model_cost as model_cost
from trainer.cli import cli
from trainer.components import build_network
from trainer.config import TrainConfig
from trainer.model_cost import count_parameters, forward_flops, measure_latency_ms, measure_model_cost
from trainer.runtime import DevicePolicy

MOBILENET_PARAMS = 11_727_397
"""DeepLabV3+ on MobileNetV3-Large for 21 classes, as torchvision builds the backbone."""


def test_parameters_are_counted_by_hand() -> None:
    network = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 2, 1, bias=False))
    # conv 3*8*9 weights + 8 biases; BN 8 weights + 8 biases (its running statistics are buffers); conv 8*2.
    assert count_parameters(network) == 216 + 8 + 16 + 16


def test_forward_flops_of_a_convolution_by_hand() -> None:
    """A 3x3 convolution with padding 1 from 3 to 8 channels over 16x16 pixels: 8*16*16 outputs, each
    3*9 multiply-adds, 2 FLOPs per multiply-add. The meta-device copy counts the same."""
    convolution = nn.Conv2d(3, 8, 3, padding=1, bias=False).eval()
    assert forward_flops(convolution, 16) == 2 * 8 * 16 * 16 * 3 * 9
    with torch.device("meta"):
        shapes_only = nn.Conv2d(3, 8, 3, padding=1, bias=False).eval()
    assert forward_flops(shapes_only, 16) == 2 * 8 * 16 * 16 * 3 * 9


class _Sleeper(nn.Module):
    """Sleeps for the next duration of a list on each call, and counts the calls."""

    def __init__(self, seconds: list[float]) -> None:
        super().__init__()
        self.seconds = list(seconds)
        self.calls = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        time.sleep(self.seconds[self.calls])
        self.calls += 1
        return torch.zeros(images.shape[0], 21, *images.shape[2:])


def test_latency_is_the_median_of_the_timed_passes_after_the_warmup() -> None:
    sleeper = _Sleeper([0.3, 0.3, 0.02, 0.2, 0.06])  # two untimed warm-up passes, then 20, 200 and 60 ms
    latency = measure_latency_ms(sleeper, DevicePolicy(torch.device("cpu")), image_size=32, warmup=2, repeats=3)
    assert sleeper.calls == 5
    assert 60 <= latency < 190, "the median of 20, 200 and 60 ms, never a warm-up pass"


def test_latency_refuses_no_timed_pass() -> None:
    with pytest.raises(ValueError, match="repeats >= 1"):
        measure_latency_ms(nn.Identity(), DevicePolicy(torch.device("cpu")), image_size=32, warmup=0, repeats=0)


def test_a_configs_cost_matches_its_network_and_is_measured_once_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = TrainConfig.model_validate(tiny_train(tmp_path))
    network = build_network(config.model, initial_weights=False).eval()
    timed: list[int] = []
    real = model_cost.measure_latency_ms

    def counted(*args: object, **kwargs: int) -> float:
        timed.append(kwargs["image_size"])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(model_cost, "measure_latency_ms", counted)
    monkeypatch.setattr(model_cost, "_MEASURED", {})
    # The cache is under test here, not the noise rule (test_latency_noise.py): the other test process, or
    # any busy moment, would have each measurement taken twice.
    monkeypatch.setattr(model_cost, "others_runnable", lambda: [0])

    cost = measure_model_cost(config, image_size=40, warmup=0, repeats=1)
    assert count_parameters(network) == MOBILENET_PARAMS and cost.params_m == MOBILENET_PARAMS / 1e6
    assert cost.gflops == forward_flops(network, 48) / 1e9, "the crop size, 48 px, on the real network too"
    assert cost.crop_size == 48 and cost.latency_image_size == 40
    assert (cost.device, cost.precision) == ("cpu", "float32")
    assert cost.latency_ms > 0

    again = measure_model_cost(config.model_copy(update={"seed": 3}), image_size=40, warmup=0, repeats=1)
    assert again == cost and timed == [40], "the same network on the same device is timed once"
    measure_model_cost(config, image_size=33, warmup=0, repeats=1)
    assert timed == [40, 33], "another image size is another measurement"


def test_trainer_cost_prints_the_figures(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(tiny_train(tmp_path)))
    runner = CliRunner()
    result = runner.invoke(cli, ["cost", str(config_file), "--image-size", "64", "--warmup", "0", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("11.73 M params, ") and "GFLOPs at 48²" in result.output
    assert "per 64² image on cpu (float32)" in result.output

    as_json = runner.invoke(
        cli, ["cost", str(config_file), "--json", "--image-size", "64", "--repeats", "1", "--set", "data.crop_size=64"]
    )
    figures = json.loads(as_json.output)
    assert figures["params_m"] == MOBILENET_PARAMS / 1e6 and figures["crop_size"] == 64
    assert figures["gflops"] > 0 and figures["latency_ms"] > 0 and figures["latency_image_size"] == 64


def test_trainer_cost_refuses_an_unknown_backbone(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(tiny_train(tmp_path)))
    result = CliRunner().invoke(cli, ["cost", str(config_file), "--set", "model.backbone=resnet18"])
    assert result.exit_code == 2
    assert "model.backbone" in result.output and "resnet18" in result.output and "Traceback" not in result.output
