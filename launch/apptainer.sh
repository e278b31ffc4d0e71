#!/usr/bin/env bash
# launch/apptainer.sh - run the containerised model under the HOST's MPI launcher.
#
# Usage: launch/apptainer.sh [-n RANKS] [--gpu] [--dry-run] IMAGE [--] [run.py options]
#   e.g. launch/apptainer.sh -n 4 neuralogcm_hpc.sif simulate --steps 100 --output out.zarr
#
# Hybrid model: the host's mpirun starts one `apptainer exec IMAGE python ...` per rank;
# inside, mpi4py/mpi4jax use the container's Open MPI 5 (the PyPI wheel), which joins
# the job through the host launcher's PMIx server. This needs a host Open MPI >= 5 (or
# another PMIx-based launcher such as `srun --mpi=pmix`, see launch/slurm_segment.sh);
# containers/README.md explains the bind alternative for an ABI-compatible host MPI.
# `python -m mpi4py` makes an exception on one rank abort the whole job. Apptainer
# passes the host environment in, so NEURALOGCM_* device switches reach every rank.
#
# Environment:
#   MPIRUN       host launcher (default mpirun on PATH); Open MPI gets --allow-run-as-root
#                as root and --oversubscribe when RANKS > nproc, as in launch/mpirun.sh
#   MPI_FLAVOUR  openmpi | mpich (default: from `$MPIRUN --version`)
#   APPTAINER    apptainer binary (default apptainer; `singularity` also works)
#   BIND         extra --bind specs, comma-separated (the current directory is always bound)
#   DRY_RUN=1    same as --dry-run: print the exact command and exit 0
set -euo pipefail
np=${NP:-4} gpu=0 dry=${DRY_RUN:-0}
while [[ $# -gt 0 ]]; do
  case $1 in
    -n|--np) np=$2; shift 2 ;;
    --gpu) gpu=1; shift ;;
    --dry-run) dry=1; shift ;;
    -*) echo "apptainer.sh: unknown option '$1' before IMAGE" >&2; exit 2 ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || { echo "apptainer.sh: IMAGE is required (see the header of this script)" >&2; exit 2; }
image=$1; shift
[[ ${1:-} == -- ]] && shift
[[ $np =~ ^[1-9][0-9]*$ ]] || { echo "apptainer.sh: -n needs a positive integer, got '$np'" >&2; exit 2; }
mpirun=${MPIRUN:-mpirun}
flavour=${MPI_FLAVOUR:-}
if [[ -z $flavour ]]; then
  if "$mpirun" --version 2>/dev/null | grep -qi "open mpi\|open-mpi\|openmpi"; then
    flavour=openmpi
  else
    flavour=mpich
  fi
fi
cmd=("$mpirun")
if [[ $flavour == openmpi ]]; then
  [[ $(id -u) -eq 0 ]] && cmd+=(--allow-run-as-root)
  (( np > $(nproc 2>/dev/null || echo 1) )) && cmd+=(--oversubscribe)
fi
cmd+=(-n "$np" "${APPTAINER:-apptainer}" exec)
(( gpu )) && cmd+=(--nv)
cmd+=(--bind "$PWD${BIND:+,$BIND}" --pwd "$PWD" "$image"
      python3 -m mpi4py -m neuralogcm_hpc.run "$@")
if [[ $dry == 1 ]]; then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi
exec "${cmd[@]}"
