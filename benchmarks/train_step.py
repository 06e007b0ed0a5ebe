"""Training-step throughput of our DeepLabV3+ against segmentation_models_pytorch's (smp), side by side.

For each backbone and each mode (precision, memory layout, compile), both models train on the same
batch: ours through the trainer's own `TrainStep` (fused SGD, uint8 batches normalized on the device,
the loss read back once per round), smp through the plain loop most users write (torch.optim.SGD
defaults, float32 batches normalized on the host, `loss.item()` every step). Both get the same backbone
architecture (random init), output stride, separable ASPP, classes (21), dropout, CE loss with
ignore_index 255 and SGD settings. After warmup, rounds of `--steps-per-round` steps alternate between
the models, the order flipped every round, so load from other processes hits both alike; the device is
synchronised only at round boundaries.

Each row gives img/s, the ratio ours/smp (overall, and the median of the per-round ratios), the achieved
TFLOP/s (a training step's FLOPs from `torch.utils.flop_counter` times steps/s; with `--peak-tflops` or
`--measure-peak` also as a share of the card's bf16 rate) and the peak memory of a step (CUDA:
`max_memory_allocated` minus what was allocated before; CPU: peak RSS of a fresh subprocess over its
post-build RSS, Linux only).

Matching smp honestly (smp 0.6 source, ``decoders/deeplabv3/decoder.py``): `--separable` maps to
``decoder_aspp_separable``; smp's two 3x3 convs (one after ASPP at the output stride, one in the decoder at
stride 4) are always separable, ours are separable with `--separable` and both sit at stride 4, as in
the paper, so ours does a little more decoder work. smp upsamples by a fixed x4, so `--size` must be
divisible by 16. MobileNetV3: ours is torchvision's ``mobilenet_v3_large``, smp's timm's
``mobilenetv3_large_100`` (the same architecture).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.components import TrainingParts  # noqa: E402
from trainer.data.transforms import normalize_images  # noqa: E402
from trainer.losses import build_loss  # noqa: E402
from trainer.model import BACKBONES, build_model  # noqa: E402
from trainer.optim import build_optimizer  # noqa: E402
from trainer.runtime import DevicePolicy  # noqa: E402
from trainer.schedules import build_scheduler  # noqa: E402
from trainer.step import TrainStep  # noqa: E402

SMP_ENCODERS = {"resnet50": "resnet50", "resnet101": "resnet101", "mobilenet_v3_large": "tu-mobilenetv3_large_100"}
MODELS = ("ours", "smp")
NUM_CLASSES = 21
DROPOUT = 0.1
LR, MOMENTUM, WEIGHT_DECAY = 0.01, 0.9, 1e-4


@dataclass(frozen=True)
class Mode:
    """How both models run: autocast dtype (None: float32), NHWC or not, torch.compile or not."""

    name: str
    bf16: bool
    channels_last: bool
    compile: bool


MODES = {
    "fp32": Mode("fp32", False, False, False),
    "fp32-nhwc": Mode("fp32-nhwc", False, True, False),
    "bf16": Mode("bf16", True, False, False),
    "bf16-nhwc": Mode("bf16-nhwc", True, True, False),
    "bf16-nhwc-compile": Mode("bf16-nhwc-compile", True, True, True),
}
Step = Callable[[], torch.Tensor]


@dataclass
class Row:
    """One backbone in one mode: the measured figures for both models."""

    backbone: str
    mode: str
    img_s: dict[str, float]
    ratio_overall: float
    ratio_median_round: float
    tflops: dict[str, float]
    peak_mib: dict[str, float | None]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", choices=sorted(BACKBONES), default=["resnet50"])
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=list(MODES),
        default=["fp32", "bf16", "bf16-nhwc"] if cuda else ["fp32", "fp32-nhwc"],
    )
    parser.add_argument("--output-stride", type=int, choices=(8, 16), default=16)
    parser.add_argument("--separable", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--batch-size", type=int, default=16 if cuda else 4)
    parser.add_argument("--size", type=int, default=512 if cuda else 256, help="square crop; divisible by 16")
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds per model, after warmup")
    parser.add_argument("--steps-per-round", type=int, default=5 if cuda else 1)
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds per model first")
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the card's bf16 TFLOP/s, for the share")
    parser.add_argument("--measure-peak", action="store_true", help="measure the bf16 matmul rate first (CUDA)")
    parser.add_argument("--json", type=Path, default=None, help="also append the rows to this JSON-lines file")
    args = parser.parse_args(argv)
    if args.size % 16:
        parser.error(f"--size {args.size} is not divisible by 16, which smp's fixed x4 upsampling needs")
    if torch.device(args.device).type != "cuda" and any(MODES[mode].bf16 for mode in args.modes):
        parser.error("bf16 modes need --device cuda: the trainer runs float32 on the CPU")
    return args


def build(name: str, backbone: str, args: argparse.Namespace) -> nn.Module:
    """Our model or smp's with matching settings, randomly initialised."""
    if name == "ours":
        return build_model(backbone, NUM_CLASSES, args.output_stride, separable=args.separable, dropout=DROPOUT)
    import segmentation_models_pytorch as smp

    model: nn.Module = smp.DeepLabV3Plus(
        encoder_name=SMP_ENCODERS[backbone],
        encoder_weights=None,
        encoder_output_stride=args.output_stride,
        decoder_aspp_separable=args.separable,
        decoder_aspp_dropout=DROPOUT,
        classes=NUM_CLASSES,
    )
    return model


def host_batch(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed uint8 image batch and label batch on the host (pinned when training on CUDA)."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.batch_size, 3, args.size, args.size), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, NUM_CLASSES, (args.batch_size, args.size, args.size), generator=generator)
    if torch.device(args.device).type == "cuda":
        images, labels = images.pin_memory(), labels.pin_memory()
    return images, labels


def our_step(model: nn.Module, mode: Mode, args: argparse.Namespace) -> Step:
    """The trainer's `TrainStep` on our model, as `trainer.train` runs it (the loss stays on the device)."""
    device = torch.device(args.device)
    policy = DevicePolicy(device, torch.bfloat16 if mode.bf16 else None, mode.channels_last, args.steps_per_round)
    model = policy.place(model).train()
    optimizer = build_optimizer(model, name="sgd", lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    scheduler = build_scheduler(optimizer, name="constant", total_iters=10**9)
    forward: nn.Module = torch.compile(model) if mode.compile else model  # type: ignore[assignment]
    unused: DataLoader[object] = DataLoader([])  # type: ignore[arg-type]  # TrainStep reads no loader
    parts = TrainingParts(model, build_loss().to(device), optimizer, scheduler, unused, unused, forward)
    step = TrainStep(parts, policy, grad_clip_norm=None)
    images, labels = host_batch(args)
    return lambda: step(images, labels)


def smp_step(model: nn.Module, mode: Mode, args: argparse.Namespace) -> Step:
    """The plain user loop on smp's model: float32 batch from the host, loss.item() each step."""
    device = torch.device(args.device)
    memory_format = torch.channels_last if mode.channels_last else torch.contiguous_format
    model = model.to(device).to(memory_format=memory_format).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    forward = torch.compile(model) if mode.compile else model
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if mode.bf16 else nullcontext
    uint8_images, labels = host_batch(args)
    images = normalize_images(uint8_images)
    if device.type == "cuda":
        images = images.pin_memory()

    def step() -> torch.Tensor:
        batch = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            logits = forward(batch)
        loss = F.cross_entropy(logits.float(), labels.to(device, non_blocking=True), ignore_index=255)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        loss.item()
        return loss.detach()

    return step


STEP_BUILDERS = {"ours": our_step, "smp": smp_step}


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def run_round(step: Step, steps: int) -> None:
    """`steps` training steps, then one readback of their losses (our loop's only host sync)."""
    torch.stack([step() for _ in range(steps)]).tolist()


def time_alternating(steps: dict[str, Step], args: argparse.Namespace) -> dict[str, list[float]]:
    """Seconds per image for each model, one entry per round, rounds alternating (order flipped each round)."""
    names = list(steps)
    for _ in range(args.warmup):
        for name in names:
            run_round(steps[name], args.steps_per_round)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        for name in names if round_index % 2 == 0 else reversed(names):
            synchronize(args.device)
            start = time.perf_counter()
            run_round(steps[name], args.steps_per_round)
            synchronize(args.device)
            seconds[name].append((time.perf_counter() - start) / (args.steps_per_round * args.batch_size))
    return seconds


def step_flops(name: str, backbone: str, args: argparse.Namespace) -> int:
    """FLOPs of one eager float32 training step (forward and backward) of the batch."""
    model = build(name, backbone, args).to(args.device).train()
    images = normalize_images(host_batch(args)[0]).to(args.device)
    labels = host_batch(args)[1].to(args.device)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(images), labels, ignore_index=255).backward()  # type: ignore[no-untyped-call]
    return int(counter.get_total_flops())


def _status_bytes(field: str) -> int:
    """A ``kB`` field of /proc/self/status in bytes: VmRSS now, VmHWM the peak so far."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _cpu_peak_child(
    name: str, backbone: str, mode: Mode, args: argparse.Namespace, queue: multiprocessing.Queue[int]
) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    step = STEP_BUILDERS[name](build(name, backbone, args), mode, args)
    # ru_maxrss survives exec, so a spawned child would report the parent's peak: reset this process's
    # VmHWM to its current RSS just before the steps.
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_bytes("VmRSS")
    run_round(step, 2)  # the second step also holds the optimizer's momentum buffers
    queue.put(_status_bytes("VmHWM") - before)


def peak_bytes(name: str, backbone: str, mode: Mode, args: argparse.Namespace, step: Step) -> int:
    """Peak memory of training steps beyond what was allocated before them."""
    if torch.device(args.device).type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
        run_round(step, 1)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - baseline
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_cpu_peak_child, args=(name, backbone, mode, args, queue))
    child.start()
    result: int = queue.get()
    child.join()
    return result


def measure_bf16_peak(device: str, size: int = 8192, repeats: int = 50) -> float:
    """The device's bf16 matrix-multiply rate in TFLOP/s: the ceiling the achieved rate is compared with."""
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(5):
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e12


def measure(backbone: str, mode: Mode, args: argparse.Namespace, flops: dict[str, int]) -> Row:
    """Time both models in one mode, alternating, and collect the row."""
    steps = {name: STEP_BUILDERS[name](build(name, backbone, args), mode, args) for name in MODELS}
    seconds = time_alternating(steps, args)
    img_s = {name: len(values) / sum(values) for name, values in seconds.items()}
    peak = {
        name: None if args.no_memory else peak_bytes(name, backbone, mode, args, step) / 2**20
        for name, step in steps.items()
    }
    per_image_flops = {name: flops[name] / args.batch_size for name in MODELS}
    return Row(
        backbone=backbone,
        mode=mode.name,
        img_s=img_s,
        ratio_overall=img_s["ours"] / img_s["smp"],
        # Each round times both models back to back, so the per-round ratio cancels slow load drift.
        ratio_median_round=statistics.median(s / o for o, s in zip(seconds["ours"], seconds["smp"], strict=True)),
        tflops={name: per_image_flops[name] * img_s[name] / 1e12 for name in MODELS},
        peak_mib=peak,
    )


def format_table(rows: list[Row], peak_tflops: float | None) -> str:
    share = f" (% of {peak_tflops:.0f})" if peak_tflops else ""
    lines = [
        f"| backbone | mode | ours img/s | smp img/s | ours/smp overall | ours/smp median round "
        f"| ours TFLOP/s{share} | smp TFLOP/s | peak MiB ours / smp |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours_tflops = f"{row.tflops['ours']:.3g}"
        if peak_tflops:
            ours_tflops += f" ({100 * row.tflops['ours'] / peak_tflops:.1f}%)"
        memory = " / ".join("-" if row.peak_mib[name] is None else f"{row.peak_mib[name]:.0f}" for name in MODELS)
        lines.append(
            f"| {row.backbone} | {row.mode} | {row.img_s['ours']:.3g} | {row.img_s['smp']:.3g} "
            f"| **{row.ratio_overall:.3f}** | {row.ratio_median_round:.3f} | {ours_tflops} "
            f"| {row.tflops['smp']:.3g} | {memory} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[Row]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    peak_tflops = measure_bf16_peak(args.device) if args.measure_peak else args.peak_tflops
    rows = []
    for backbone in args.backbones:
        flops = {name: step_flops(name, backbone, args) for name in MODELS}
        for mode in args.modes:
            rows.append(measure(backbone, MODES[mode], args, flops))
            print(f"measured {backbone} {mode}", file=sys.stderr, flush=True)
    device = torch.cuda.get_device_name(args.device) if torch.device(args.device).type == "cuda" else "CPU"
    print(
        f"\nDeepLabV3+ OS{args.output_stride} separable={args.separable}, batch {args.batch_size} at "
        f"{args.size}x{args.size}, on {device} ({torch.get_num_threads()} threads), torch {torch.__version__}; "
        f"{args.rounds} alternating rounds of {args.steps_per_round} steps after {args.warmup} warmup rounds"
    )
    if peak_tflops and args.measure_peak:
        print(f"measured bf16 matmul rate: {peak_tflops:.0f} TFLOP/s")
    print(format_table(rows, peak_tflops))
    print("command: PYTHONPATH=. python benchmarks/train_step.py " + " ".join(sys.argv[1:] if argv is None else argv))
    if args.json is not None:
        with args.json.open("a") as out:
            for row in rows:
                record = {**asdict(row), "device": device, "batch_size": args.batch_size, "peak_tflops": peak_tflops}
                out.write(json.dumps(record) + "\n")
    return rows


if __name__ == "__main__":
    main()
