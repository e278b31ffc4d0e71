#!/usr/bin/env bash
# Run a command under mpirun with only rank 0's output on the terminal; another
# rank's output is printed (to stderr) only when its command fails.
rank=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-0}}
if [[ $rank == 0 ]]; then exec "$@"; fi
log=$(mktemp)
"$@" >"$log" 2>&1
status=$?
if [[ $status != 0 ]]; then
  echo "---- rank $rank failed (exit $status); its output:" >&2
  cat "$log" >&2
fi
rm -f "$log"
exit $status
