#!/usr/bin/env bash
# Reanalysis files -> trained, evaluated primitive-equation hybrid (docs/real_data.md).
#
# Usage: bash scripts/real_data.sh CONFIG [RANKS] [--set KEY=VALUE ...]
#   CONFIG  TOML/YAML with prepare.sources, train.data and grid.bathymetry =
#           <train.data>/grid.zarr (docs/examples/glorys_small.toml)
# Runs `python -m neuralogcm_hpc.prepare` (one process) then `train` on RANKS MPI
# ranks (default 2) with checkpoints and the test-set skill report
# (skill.json/.png, skill_levels.png) in <train.data>/run.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:?usage: bash scripts/real_data.sh CONFIG [RANKS] [--set KEY=VALUE ...]}
ranks=${2:-2}
shift $(($# >= 2 ? 2 : 1))
py=.venv/bin/python
export OMPI_MCA_mpi_yield_when_idle=1  # ranks yield the core while they wait
"$py" -m neuralogcm_hpc.prepare --config "$config" "$@"
data=$("$py" -c 'import sys; from neuralogcm_hpc.prepare.cli import data_dir; print(data_dir(sys.argv[1:]))' --config "$config" "$@")
launch/mpirun.sh -n "$ranks" train --config "$config" "$@" --checkpoint-dir "$data/run"
