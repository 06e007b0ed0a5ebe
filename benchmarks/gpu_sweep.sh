#!/usr/bin/env bash
# The first sweep on a GPU, in one go (an estimated 4 minutes on one H200, the install and the data included):
#   - benchmarks/studies/gpu_sweep.yaml (four enqueued trials of 2 epochs: MobileNetV3-Large and ResNet-50
#     DeepLabV3+ at crop 513 on generated data, bf16, NHWC, augmentation on the device, no pruning) through
#     `sweep run --gpus 0 --workers-per-gpu 2`, two trials on the card at once;
#   - the same study, with its own storage and names, through `--workers-per-gpu 1`;
#   - benchmarks/gpu_sweep_report.py reads both back from Optuna and MLflow: per arm the trials, the wall
#     time, training img/s per trial and of the whole GPU, trials per hour, GPU utilisation and memory
#     (MLflow's system metrics on each trial's run, sampled every second), and the speed-up of two trials
#     per GPU over one.
#
#   bash benchmarks/gpu_sweep.sh 2>&1 | tee $OUT/gpu_sweep.log   # on the GPU machine, with .whl carried
#   bash benchmarks/gpu_sweep.sh --smoke   # the same path on the CPU with tiny sizes, `--workers 2` and
#                                          # `--workers 1` for the GPU placements, so a typo cannot reach it
#
# The data, the Optuna storages, the checkpoints and the MLflow stores live in a scratch folder under
# $TMPDIR (or /tmp), removed at the end. The GPU machine's image has torch but not MLflow, Optuna,
# SQLAlchemy, pydantic or plotly: fetch their wheels here first with `bash benchmarks/fetch-gpu-wheels.sh`
# (into .whl/sweep/, git-ignored) and carry .whl along; where the imports fail, this script installs them
# (install-gpu-sweep-wheels.sh) into /tmp/segsweep-venv, from those wheels alone. Each arm stops starting
# trials after ARM_TIMEOUT_S seconds (150), which only a far slower machine reaches, so that the report
# still comes. The report's JSON goes to $OUT (when set) or benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=false study_options=()
[[ "${1:-}" == "--smoke" ]] && smoke=true study_options=(--smoke)
python=${PYTHON:-python3}
[[ -x .venv/bin/python && -z "${PYTHON:-}" ]] && python=.venv/bin/python
results=${OUT:-benchmarks/results}
mkdir -p "$results"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# MLflow's default, a sample every 10 s, would give a trial of a few seconds' training one sample or none.
export MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL=1 MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING=1
arm_timeout_s=${ARM_TIMEOUT_S:-150}

started=$SECONDS
phase() { echo "== [$((SECONDS - started)) s] $*"; }

if ! "$python" -c "import mlflow, optuna, sqlalchemy, alembic, pydantic, plotly" 2>/dev/null; then
    phase "installing MLflow, Optuna and their needs from .whl/sweep/ into /tmp/segsweep-venv"
    bash benchmarks/install-gpu-sweep-wheels.sh "$python" /tmp/segsweep-venv
    python=/tmp/segsweep-venv/bin/python
fi
if $smoke; then
    echo "== smoke run on the CPU: tiny sizes, --workers N standing for --workers-per-gpu N; figures mean nothing"
else
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
"$python" -c "import os, mlflow, optuna, torch; print('torch', torch.__version__, '| MLflow', mlflow.__version__,
    '| Optuna', optuna.__version__, '| CPU cores', os.cpu_count())"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/gpu-sweep.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
phase "writing the arms' study files and generating their data in $scratch"
"$python" benchmarks/gpu_sweep_study.py "$scratch" 2-per-gpu 1-per-gpu "${study_options[@]}"

failed=0
run_arm() {  # run_arm ARM PLACEMENT...: one arm's `sweep run`; a failed arm still leaves the report to run
    local arm=$1
    shift
    phase "arm $arm: sweep run $*"
    "$python" -m sweep.cli run "$scratch/$arm/gpu_sweep.yaml" --quiet --timeout "$arm_timeout_s" "$@" || failed=1
    phase "arm $arm ended"
}
if $smoke; then
    run_arm 2-per-gpu --workers 2
    run_arm 1-per-gpu --workers 1
else
    run_arm 2-per-gpu --gpus 0 --workers-per-gpu 2
    run_arm 1-per-gpu --gpus 0 --workers-per-gpu 1
fi
phase "report"
"$python" benchmarks/gpu_sweep_report.py --arm 2 "$scratch/2-per-gpu/gpu_sweep.yaml" \
    --arm 1 "$scratch/1-per-gpu/gpu_sweep.yaml" --json "$results/gpu_sweep.json"
phase "done"
echo "command: bash benchmarks/gpu_sweep.sh${1:+ $1}"
if [[ $failed -ne 0 ]]; then
    echo "gpu_sweep.sh: an arm's sweep run failed; its output is above" >&2
    exit 1
fi
