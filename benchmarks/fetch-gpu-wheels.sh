#!/usr/bin/env bash
# Download, where pip can reach a package index, the wheels that the GPU machine's image lacks, for that
# machine's Python 3.12 on x86-64, into .whl/ (git-ignored). Carry .whl to the GPU machine.
#   .whl/        what benchmarks/gpu.sh needs: segmentation_models_pytorch, and pydantic for the trainer's
#                config (gpu.sh installs every .whl/*.whl)
#   .whl/sweep/  what benchmarks/gpu_sweep.sh needs for `sweep run`: exactly benchmarks/gpu-sweep-wheels.txt
#                (MLflow, Optuna, SQLAlchemy, ...; about 31 MB), kept apart so that gpu.sh installs none of it
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[[ -x .venv/bin/python && -z "${PYTHON:-}" ]] && python=.venv/bin/python
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do platforms+=(--platform "$tag"); done
download=("$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp
    "${platforms[@]}")
"${download[@]}" -d .whl \
    "segmentation-models-pytorch==0.6.0" "pydantic==$("$python" -c 'import pydantic; print(pydantic.VERSION)')" \
    "pydantic-core==$("$python" -c 'import pydantic_core; print(pydantic_core.__version__)')" \
    annotated-types typing-inspection
"${download[@]}" -d .whl/sweep -r benchmarks/gpu-sweep-wheels.txt
ls -la .whl .whl/sweep
du -sh .whl/sweep
