#!/usr/bin/env bash
# launch/slurm_local/teardown.sh - stop the local cluster of setup.sh and remove its files.
#
# Usage: launch/slurm_local/teardown.sh [--keep-files]
# Cancels its jobs, stops slurmd, slurmctld and munged of SLURM_LOCAL_DIR (default
# /tmp/neuralogcm-slurm) by the pids they wrote there, never by name, then deletes
# the directory (unless --keep-files: logs and the munge key stay). Idempotent: with
# nothing running it does nothing and exits 0.
set -euo pipefail
dir=${SLURM_LOCAL_DIR:-/tmp/neuralogcm-slurm}
keep=0
[[ ${1:-} == --keep-files ]] && keep=1
[[ $dir == /*/* ]] || { echo "teardown.sh: refusing SLURM_LOCAL_DIR='$dir'" >&2; exit 2; }
[[ -d $dir ]] || exit 0
if [[ -f $dir/slurm.conf && -f $dir/slurmctld.pid ]]; then
  SLURM_CONF=$dir/slurm.conf timeout 10 scancel --full --signal=KILL -u root >/dev/null 2>&1 || true
fi
stop() {  # stop PIDFILE: TERM, wait up to 10 s, then KILL
  local pidfile=$1 pid i
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < 20; i++ )); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}
stop "$dir/slurmd.pid"
stop "$dir/slurmctld.pid"
stop "$dir/munged.pid"
if (( keep )); then
  rm -rf "$dir/state" "$dir/spool"
else
  rm -rf "$dir"
fi
echo "teardown.sh: local Slurm in $dir stopped" >&2
