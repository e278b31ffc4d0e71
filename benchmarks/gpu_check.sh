#!/usr/bin/env bash
# benchmarks/gpu_check.sh - the one-GPU check (benchmarks/gpu_check.py) with its log.
#
# Usage: bash benchmarks/gpu_check.sh [--tiny] [--out PATH] [--budget-s S]
# Runs one process on the first visible GPU (no MPI needed: mpi4py/mpi4jax may be
# absent) and writes benchmarks/results/gpu_check.json; stderr, with each
# section's time, also goes to benchmarks/results/gpu_check.log. Completes in
# under 8 minutes (the script stops starting sections after --budget-s, 420 s).
# PYTHON picks the interpreter (default: this checkout's .venv, else python3).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
py=${PYTHON:-$root/.venv/bin/python}
[[ -x $py ]] || py=python3
mkdir -p "$root/benchmarks/results"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
# JAX preallocates 75 % of the GPU per process; the determinism check starts two
# more processes on the same GPU while this one holds its arrays, so allocate on
# demand instead.
export XLA_PYTHON_CLIENT_PREALLOCATE=${XLA_PYTHON_CLIENT_PREALLOCATE:-false}
cd "$root"
timeout 480 "$py" benchmarks/gpu_check.py "$@" 2> >(tee benchmarks/results/gpu_check.log >&2)
