#!/usr/bin/env bash
# Set everything up (idempotent), then run the main job: the trained hybrid model
# (learned physics + neural corrector, shipped as neuralogcm_hpc/pretrained/
# eddying_gyre_40km) on the 40 km eddying double gyre, 4 MPI ranks, 3 simulated
# years from rest; writes runs/default.zarr and quick-look PNGs (ssh, EKE map,
# energy series) in runs/default_plots, and prints a SUMMARY line.
# Environment: NP (ranks, 4), DAYS (1095), OUT (runs/default.zarr); extra
# arguments go to `python -m neuralogcm_hpc.run simulate`, e.g. --days 30.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=${OUT:-runs/default.zarr}
length=(--days "${DAYS:-1095}")
for arg in "$@"; do
  [[ $arg == --steps || $arg == --days || $arg == --until-* ]] && length=()
done
launch/mpirun.sh -n "${NP:-4}" simulate --case eddying_gyre \
  --set grid.nx=50 --set grid.ny=50 --params eddying_gyre_40km \
  --output "$out" --overwrite --set output.every=240 "${length[@]}" "$@"
.venv/bin/python -m neuralogcm_hpc.plot "$out" --out "${out%.zarr}_plots"
