#!/usr/bin/env bash
# Install the wheels in .whl/sweep/ (benchmarks/fetch-gpu-wheels.sh) where pip can reach no index, the GPU
# machine, into a virtual environment VENV layered on PYTHON's packages; `sweep run` then runs as
# VENV/bin/python. benchmarks/gpu_sweep.sh calls it.
#   bash benchmarks/install-gpu-sweep-wheels.sh PYTHON VENV
#
# Not `PYTHON -m venv --system-site-packages`: the image's python3 is itself a venv (/opt/torch/.venv), and
# a venv made from a venv sees its base Python's packages, not the image's torch. So VENV is made without
# pip, and a .pth file adds PYTHON's site-packages (their own .pth files included) after VENV's own. The
# image's pip, seen through it, installs into VENV: its resolver keeps every package PYTHON has in a
# version that fits, installs the rest from .whl/sweep/ alone (--no-index), and names a missing wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -ne 2 ]]; then
    echo "usage: bash benchmarks/install-gpu-sweep-wheels.sh PYTHON VENV" >&2
    exit 2
fi
python=$1 venv=$2
if ! compgen -G ".whl/sweep/*.whl" >/dev/null; then
    echo "install-gpu-sweep-wheels.sh: .whl/sweep/ holds no wheels; run benchmarks/fetch-gpu-wheels.sh where" \
         "pip works and carry .whl" >&2
    exit 2
fi
"$python" -m venv --without-pip --clear "$venv"
site_packages=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
# A .pth line that starts with `import` runs; site.addsitedir also reads the .pth files of the dirs it adds.
"$python" - >"$site_packages/image-packages.pth" <<'PYTHON'
import site
print("import site; " + "; ".join(f"site.addsitedir({path!r})" for path in site.getsitepackages()))
PYTHON
# What the sweep imports; benchmarks/gpu-sweep-wheels.txt says why each, and which of their needs travel.
"$venv/bin/python" -m pip install -q --no-index --find-links .whl/sweep \
    mlflow-skinny optuna sqlalchemy alembic pydantic plotly
