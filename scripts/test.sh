#!/usr/bin/env bash
# Set everything up (idempotent), then run the test suite: serial tests (MPI tests
# included, as their 1-rank case), then the MPI tests under mpirun -n 2 and -n 4.
# FULL=1 also runs the slow physics validation tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
py=.venv/bin/python
marks="not slow"
[[ ${FULL:-0} == 1 ]] && marks=""
mpirun_=(.venv/bin/mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && mpirun_+=(--allow-run-as-root)

echo "== serial: unit, validation and the 1-rank case of the MPI tests"
$py -m pytest --with-mpi -m "$marks" -q -p no:cacheprovider --durations=15 tests
for n in 2 4; do
  echo "== mpirun -n $n: tests/mpi"
  # Rank 0 prints; the other ranks' output is kept and shown only if they fail.
  "${mpirun_[@]}" -n "$n" bash scripts/rank_quiet.sh \
    $py -m pytest --with-mpi -m "mpi${marks:+ and $marks}" -q -p no:cacheprovider tests/mpi
done
