#!/usr/bin/env bash
# launch/mpirun.sh - start neuralogcm_hpc on a workstation under mpirun.
#
# Usage: launch/mpirun.sh [-n RANKS] [--dry-run] [--] [simulate|train] [run.py options]
#   e.g. launch/mpirun.sh -n 4 simulate --case beta_plane --steps 200
#
# Runs `python -m mpi4py -m neuralogcm_hpc.run ...` so that an uncaught exception
# on any rank calls MPI_Abort and ends the whole job instead of leaving the other
# ranks waiting forever in a halo exchange.
# Open MPI refuses to run as root and to start more ranks than cores unless told;
# this script adds --allow-run-as-root when run as root and --oversubscribe when
# RANKS exceeds the core count (nproc). MPICH/Hydra needs neither.
#
# Environment:
#   NP           ranks when -n is not given (default 4)
#   PYTHON       interpreter (default: .venv/bin/python of this checkout, else python3)
#   MPIRUN       launcher (default: mpirun beside PYTHON, else mpirun on PATH)
#   MPI_FLAVOUR  openmpi | mpich (default: from `$MPIRUN --version`)
#   MPIRUN_ARGS  extra launcher arguments, word-split (e.g. "--bind-to core")
#   DRY_RUN=1    same as --dry-run: print the exact command and exit 0
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
np=${NP:-4}
dry=${DRY_RUN:-0}
while [[ $# -gt 0 ]]; do
  case $1 in
    -n|--np) np=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[[ $np =~ ^[1-9][0-9]*$ ]] || { echo "mpirun.sh: -n needs a positive integer, got '$np'" >&2; exit 2; }

python=${PYTHON:-}
if [[ -z $python ]]; then
  if [[ -x $root/.venv/bin/python ]]; then python=$root/.venv/bin/python; else python=python3; fi
fi
mpirun=${MPIRUN:-}
if [[ -z $mpirun ]]; then
  beside=$(dirname "$python")/mpirun
  if [[ -x $beside ]]; then mpirun=$beside; else mpirun=mpirun; fi
fi
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
  cores=$(nproc 2>/dev/null || echo 1)
  (( np > cores )) && cmd+=(--oversubscribe)
fi
# shellcheck disable=SC2206  # MPIRUN_ARGS is deliberately word-split
[[ -n ${MPIRUN_ARGS:-} ]] && cmd+=(${MPIRUN_ARGS})
cmd+=(-n "$np" "$python" -m mpi4py -m neuralogcm_hpc.run "$@")

if [[ $dry == 1 ]]; then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi
exec "${cmd[@]}"
