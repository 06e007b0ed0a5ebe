#!/usr/bin/env bash
# Download, where pip can reach a package index, the wheels that benchmarks/gpu.sh needs on the GPU
# machine and its image lacks (segmentation_models_pytorch, and pydantic for the trainer's config), for
# that machine's Python 3.12 on x86-64, into .whl/ (git-ignored). Carry .whl to the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
[[ -x .venv/bin/python && -z "${PYTHON:-}" ]] && python=.venv/bin/python
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do platforms+=(--platform "$tag"); done
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl \
    "segmentation-models-pytorch==0.6.0" "pydantic==$("$python" -c 'import pydantic; print(pydantic.VERSION)')" \
    "pydantic-core==$("$python" -c 'import pydantic_core; print(pydantic_core.__version__)')" \
    annotated-types typing-inspection
ls -la .whl
