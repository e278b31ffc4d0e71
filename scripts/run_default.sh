#!/usr/bin/env bash
# Set everything up (idempotent), then run the main job: the built-in default case
# on 4 MPI ranks, writing runs/default.zarr and printing a SUMMARY line.
# Extra arguments go to `python -m neuralogcm_hpc.run`, e.g. --steps 50.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec launch/mpirun.sh -n "${NP:-4}" simulate --output runs/default.zarr \
  --set output.every=50 "$@"
