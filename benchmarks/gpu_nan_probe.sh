#!/usr/bin/env bash
# Which part of the GPU recipe makes a from-scratch trial diverge? The first GPU sweep (docs/performance.md,
# "The first sweep on a GPU") stopped 7 of 9 trials of benchmarks/studies/gpu_sweep.yaml with
# `DivergedError: loss diverged to nan` within 3 to 85 steps. This trains its ResNet-50 trial at lr 0.02
# (which diverged at steps 3 and 7) for 20 steps, once for each combination of bf16 autocast and
# augmentation on the GPU, and prints how each ended: the recipe part whose removal cures it is the cause.
#
#   bash benchmarks/gpu_nan_probe.sh 2>&1 | tee $OUT/gpu_nan_probe.log   # on the GPU machine, .whl carried
#   bash benchmarks/gpu_nan_probe.sh --smoke                             # the same path on the CPU, tiny
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=false
[[ "${1:-}" == "--smoke" ]] && smoke=true
python=${PYTHON:-python3}
[[ -x .venv/bin/python && -z "${PYTHON:-}" ]] && python=.venv/bin/python
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if ! "$python" -c "import pydantic, yaml" 2>/dev/null; then
    bash benchmarks/install-gpu-sweep-wheels.sh "$python" /tmp/segsweep-venv
    python=/tmp/segsweep-venv/bin/python
fi
scratch=$(mktemp -d "${TMPDIR:-/tmp}/gpu-nan-probe.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# The study's own train section, so that only the varied keys differ from the trials that diverged.
"$python" - "$scratch" "$smoke" <<'PYTHON'
import sys
from pathlib import Path

import yaml

scratch, smoke = Path(sys.argv[1]), sys.argv[2] == "true"
train = yaml.safe_load(Path("benchmarks/studies/gpu_sweep.yaml").read_text())["train"]
train["epochs"] = 1
train["model"]["backbone"] = "resnet50"
train["optim"]["lr"] = 0.02
train["data"]["root"] = str(scratch / "data")
train["checkpoint"] = {"dir": str(scratch / "checkpoints")}
size = 64 if smoke else 513
train["data"]["synthesize"] = {"train": 32 if smoke else 320, "val": 2, "size": size, "seed": 0}
train["data"]["crop_size"] = size
if smoke:
    train["device"], train["data"]["batch_size"], train["data"]["num_workers"] = "cpu", 8, 0
(scratch / "probe.yaml").write_text(yaml.safe_dump(train))
PYTHON

for amp in bf16 off; do
    for augment_on in device cpu; do
        rm -rf "$scratch/checkpoints"
        started=$SECONDS
        set +e
        output=$(timeout 120 "$python" -m trainer.cli train "$scratch/probe.yaml" --json \
            --set "amp='$amp'" --set "data.augment_on=$augment_on" 2>&1)
        status=$?
        set -e
        ended=$(grep -E '^\{"best_miou"|DivergedError|diverged|^error' <<<"$output" | tail -1)
        echo "amp=$amp augment_on=$augment_on: exit $status in $((SECONDS - started)) s: ${ended:-$(tail -3 <<<"$output")}"
    done
done
