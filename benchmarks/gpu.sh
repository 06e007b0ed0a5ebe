#!/usr/bin/env bash
# The GPU benchmark in one go (at most about 5 minutes on one H100 or H200):
#   - training steps, ours against segmentation_models_pytorch, DeepLabV3+ OS16 at 512x512 (smp needs a
#     side divisible by 16, so 512 stands for the 513 crop), batch 16: resnet50 in fp32, bf16, bf16+NHWC
#     and bf16+NHWC+torch.compile; resnet101 and mobilenet_v3_large in the three eager modes (compiling
#     six models would not fit the 5 minutes). Each row: img/s, peak memory, achieved TFLOP/s
#     (torch.utils.flop_counter) and its share of the card's bf16 matmul rate, measured first;
#   - the training data loader with this machine's cores (4, 8 and 14 workers), on the CPU and with
#     data.augment_on: device (decode and crops on the GPU);
#   - `trainer cost` for the three backbones: params, GFLOPs at 513 and inference latency of one 513x513
#     image (batch 1, bf16, NHWC, median of 50 after 10 warm-up passes), the figures a study's
#     `constraints: {latency_ms: ...}` bounds;
#   - a verdict: is the loader or the GPU the bottleneck for the fastest resnet50 mode?
#
#   bash benchmarks/gpu.sh            # on the GPU machine
#   bash benchmarks/gpu.sh --smoke    # a reduced run on the CPU, so that a typo cannot reach the GPU run
#
# It installs nothing from the network. The GPU machine's image has torch, torchvision and timm but not
# segmentation_models_pytorch or pydantic: fetch their wheels here first with
# `bash benchmarks/fetch-gpu-wheels.sh` (into .whl/, which is git-ignored) and carry .whl along; this
# script installs them with --no-index into a private folder when the imports fail. Results go to
# $OUT (when set) or benchmarks/results/, as JSON lines, beside the printed tables.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=false
[[ "${1:-}" == "--smoke" ]] && smoke=true
python=${PYTHON:-python3}
[[ -x .venv/bin/python && -z "${PYTHON:-}" ]] && python=.venv/bin/python
results=${OUT:-benchmarks/results}
mkdir -p "$results"
rm -f "$results/train_step.jsonl" "$results/data_loader.jsonl" "$results/latency.jsonl"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if ! "$python" -c "import segmentation_models_pytorch, pydantic" 2>/dev/null; then
    if compgen -G ".whl/*.whl" >/dev/null; then
        "$python" -m pip install -q --no-index --no-deps --no-compile --target /tmp/segsweep-site .whl/*.whl
        export PYTHONPATH="$PYTHONPATH:/tmp/segsweep-site"
    else
        echo "gpu.sh: segmentation_models_pytorch or pydantic is missing and .whl/ holds no wheels;" \
             "run benchmarks/fetch-gpu-wheels.sh where pip works and carry .whl" >&2
        exit 2
    fi
fi

train_step=("$python" benchmarks/train_step.py --json "$results/train_step.jsonl")
loader=("$python" benchmarks/data_loader.py --json "$results/data_loader.jsonl")
latency() {  # latency BACKBONE [trainer cost options...]: one JSON line of its figures into latency.jsonl
    local backbone=$1
    shift
    local figures
    figures=$("$python" -m trainer.cli cost configs/synth_mobilenet.yaml --json --set "model.backbone=$backbone" "$@")
    echo "{\"backbone\": \"$backbone\", \"cost\": $figures}" | tee -a "$results/latency.jsonl"
}
if $smoke; then
    echo "== smoke run on the CPU: reduced sizes, figures mean nothing"
    "${train_step[@]}" --device cpu --backbones mobilenet_v3_large --modes fp32 fp32-nhwc \
        --size 64 --batch-size 2 --rounds 1 --warmup 1 --no-memory --peak-tflops 1
    "${loader[@]}" --smoke --device-path cpu
    latency mobilenet_v3_large --set device=cpu --image-size 64 --warmup 0 --repeats 1
else
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$python" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
    "${train_step[@]}" --device cuda --backbones resnet50 --measure-peak \
        --modes fp32 bf16 bf16-nhwc bf16-nhwc-compile --batch-size 16 --size 512 --rounds 6 --steps-per-round 5
    "${train_step[@]}" --device cuda --backbones resnet101 mobilenet_v3_large \
        --modes fp32 bf16 bf16-nhwc --batch-size 16 --size 512 --rounds 6 --steps-per-round 5
    "${loader[@]}" --workers 4 8 14 --crop 513 --batch 16 --rounds 2 --device-path cuda
    for backbone in resnet50 resnet101 mobilenet_v3_large; do
        latency "$backbone" --set device=cuda --set amp=bf16 --set channels_last=true --set data.crop_size=513 \
            --warmup 10 --repeats 50
    done
fi
"$python" benchmarks/gpu_verdict.py "$results/train_step.jsonl" "$results/data_loader.jsonl"
