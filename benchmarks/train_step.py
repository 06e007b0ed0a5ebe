"""Training-step throughput of our DeepLabV3+ against segmentation_models_pytorch's, side by side.

Both models get the same backbone architecture (random init, ``encoder_weights=None``), output stride,
number of classes, ASPP dropout, input batch and optimizer (SGD, momentum 0.9, CE loss with
ignore_index 255). After warmup, the two are timed alternately, one step each per round, with the order
flipped every round, so load from other processes on a shared machine hits both alike. Peak memory is
measured per model in a fresh subprocess on CPU (peak RSS minus RSS before the step), or with
``torch.cuda.max_memory_allocated`` on CUDA.

Matching smp honestly (smp 0.6 source, ``decoders/deeplabv3/decoder.py``):
- ``decoder_aspp_separable`` is set to our ``--separable``: it switches the three atrous ASPP branches.
  smp's two 3×3 convs (one after ASPP at the output stride, one in the decoder at stride 4) are always
  separable; ours are separable only with ``--separable`` and both sit at stride 4, as in the paper.
- smp upsamples ASPP and logits by a fixed ×4 (align_corners=True), so it needs H, W divisible by 16;
  ours interpolates to the exact sizes. Use ``--size`` divisible by 16 (and by 8·4 at OS8).
- MobileNetV3: ours is torchvision's ``mobilenet_v3_large``; smp's is timm's ``mobilenetv3_large_100``
  (``tu-`` encoder), the same architecture.

Prints a table (model, img/s, peak memory, ratio ours/smp) and the command that reproduces it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer.model import BACKBONES, build_model  # noqa: E402

SMP_ENCODERS = {"resnet50": "resnet50", "resnet101": "resnet101", "mobilenet_v3_large": "tu-mobilenetv3_large_100"}
MODELS = ("ours", "smp")
NUM_CLASSES = 21
DROPOUT = 0.1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", choices=sorted(BACKBONES), default="resnet50")
    parser.add_argument("--output-stride", type=int, choices=(8, 16), default=16)
    parser.add_argument("--separable", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--size", type=int, default=256, help="square input side; divisible by 16 for smp")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per model, after warmup")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per model first")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--channels-last", action="store_true", help="models and inputs in NHWC")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--amp", choices=("none", "bf16"), default="none", help="autocast dtype")
    parser.add_argument("--compile", action="store_true", help="torch.compile both models")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    return parser.parse_args(argv)


def build(args: argparse.Namespace, name: str) -> nn.Module:
    """Our model (``"ours"``) or smp's (``"smp"``) with matching settings, randomly initialised."""
    import segmentation_models_pytorch as smp

    if name == "ours":
        return build_model(args.backbone, NUM_CLASSES, args.output_stride, separable=args.separable, dropout=DROPOUT)
    return smp.DeepLabV3Plus(
        encoder_name=SMP_ENCODERS[args.backbone],
        encoder_weights=None,
        encoder_output_stride=args.output_stride,
        decoder_aspp_separable=args.separable,
        decoder_aspp_dropout=DROPOUT,
        classes=NUM_CLASSES,
    )


def make_step(model: nn.Module, args: argparse.Namespace) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """Prepare `model` for training on the device and return one SGD step over a batch."""
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model.to(args.device, memory_format=memory_format).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    forward = torch.compile(model) if args.compile else model
    device_type = torch.device(args.device).type
    autocast = (lambda: torch.autocast(device_type, dtype=torch.bfloat16)) if args.amp == "bf16" else nullcontext

    def step(images: torch.Tensor, target: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = F.cross_entropy(forward(images), target, ignore_index=255)
        loss.backward()
        optimizer.step()

    return step


def make_batch(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch_size, 3, args.size, args.size, generator=generator)
    target = torch.randint(0, NUM_CLASSES, (args.batch_size, args.size, args.size), generator=generator)
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    return images.to(args.device, memory_format=memory_format), target.to(args.device)


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_alternating(args: argparse.Namespace) -> dict[str, list[float]]:
    """Seconds per step for each model, timed alternately (order flipped every round)."""
    steps = {name: make_step(build(args, name), args) for name in MODELS}
    images, target = make_batch(args)
    names = list(steps)
    for _ in range(args.warmup):
        for name in names:
            steps[name](images, target)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.steps):
        for name in names if round_index % 2 == 0 else reversed(names):
            synchronize(args.device)
            start = time.perf_counter()
            steps[name](images, target)
            synchronize(args.device)
            times[name].append(time.perf_counter() - start)
    return times


def _status_bytes(field: str) -> int:
    """A ``kB`` field of /proc/self/status (Linux) in bytes: VmRSS now, VmHWM the peak so far."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _peak_memory_child(args: argparse.Namespace, name: str, queue: multiprocessing.Queue) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    step = make_step(build(args, name), args)
    images, target = make_batch(args)
    # ru_maxrss survives exec, so a spawned child would report the parent's peak: use VmHWM of this
    # process's own address space, reset to the current RSS just before the steps.
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    before = _status_bytes("VmRSS")
    for _ in range(2):  # the second step includes the optimizer's momentum buffers
        step(images, target)
    queue.put(_status_bytes("VmHWM") - before)


def peak_memory(args: argparse.Namespace, name: str) -> int:
    """Peak memory of training steps of model `name`: bytes over the post-build baseline."""
    if torch.device(args.device).type == "cuda":
        step = make_step(build(args, name), args)
        images, target = make_batch(args)
        step(images, target)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        baseline = torch.cuda.memory_allocated()
        step(images, target)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - baseline
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_peak_memory_child, args=(args, name, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    times = time_alternating(args)
    memory = {name: None if args.no_memory else peak_memory(args, name) for name in times}
    throughput = {name: args.batch_size * len(ts) / sum(ts) for name, ts in times.items()}
    # Each round times both models back to back, so the per-round ratio cancels slow load drift.
    paired = statistics.median(s / o for o, s in zip(times["ours"], times["smp"], strict=True))
    print(
        f"\nDeepLabV3+ {args.backbone} OS{args.output_stride} separable={args.separable} "
        f"batch {args.batch_size} {args.size}x{args.size} on {args.device} "
        f"({torch.get_num_threads()} threads, amp={args.amp}, channels_last={args.channels_last}, "
        f"compile={args.compile}), {args.steps} alternating steps after {args.warmup} warmup"
    )
    print("| model | img/s | median step s | peak mem MiB | ours/smp img/s |\n|---|---|---|---|---|")
    for name in times:
        mem = "-" if memory[name] is None else f"{memory[name] / 2**20:.0f}"
        ratio = throughput["ours"] / throughput["smp"] if name == "ours" else 1.0
        print(f"| {name} | {throughput[name]:.3f} | {statistics.median(times[name]):.3f} | {mem} | {ratio:.3f} |")
    print(f"ours/smp speed: {throughput['ours'] / throughput['smp']:.3f} overall, {paired:.3f} median per round")
    print("command: PYTHONPATH=. python benchmarks/train_step.py " + " ".join(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
