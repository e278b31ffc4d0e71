#!/usr/bin/env bash
# launch/chain_local.sh - run a long simulation as restartable segments on one machine.
#
# Usage: launch/chain_local.sh --days TARGET --segment-steps N --checkpoint-dir DIR
#            [-n RANKS] [--max-segments M] [--log-dir DIR] [--dry-run] [-- run.py options]
#   e.g. launch/chain_local.sh --days 3650 --segment-steps 100000 \
#            --checkpoint-dir ckpt -n 4 -- --case double_gyre --output out.zarr
#
# Every segment is the same command, `python -m neuralogcm_hpc.run simulate
# --until-days TARGET --steps N --checkpoint-dir DIR [run.py options]` (under
# launch/mpirun.sh when RANKS > 1): it resumes from the newest valid checkpoint in
# DIR (starts fresh while there is none) and runs at most N steps toward the first
# step at or after TARGET days. The loop stops when the segment's `SUMMARY {json}`
# line says `target_reached`; a chain started again after it finished (or after a
# crash) continues from where the checkpoints are, and does nothing when the target
# was already reached: the script is idempotent.
# The chain stops at the first failing segment with that segment's exit status, and
# also when a segment does not advance the model step (nothing would change on a
# retry). Logs: LOG_DIR/segment-NNN.log (default DIR/logs).
#
# Environment: PYTHON (default .venv/bin/python of this checkout, else python3);
#   DRY_RUN=1 (same as --dry-run: print the segments' exact command, exit 0).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
target="" seg="" ckpt="" np=1 max_segments=1000 log_dir="" dry=${DRY_RUN:-0}
while [[ $# -gt 0 ]]; do
  case $1 in
    --days) target=$2; shift 2 ;;
    --segment-steps) seg=$2; shift 2 ;;
    --checkpoint-dir) ckpt=$2; shift 2 ;;
    -n|--np) np=$2; shift 2 ;;
    --max-segments) max_segments=$2; shift 2 ;;
    --log-dir) log_dir=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    --) shift; break ;;
    *) echo "chain_local.sh: unknown option '$1' (run.py options go after --)" >&2; exit 2 ;;
  esac
done
die() { echo "chain_local.sh: $*" >&2; exit 2; }
[[ -n $target && -n $seg && -n $ckpt ]] || die "--days, --segment-steps and --checkpoint-dir are required"
[[ $seg =~ ^[1-9][0-9]*$ ]] || die "--segment-steps needs a positive integer, got '$seg'"
[[ $np =~ ^[1-9][0-9]*$ ]] || die "-n needs a positive integer, got '$np'"
python=${PYTHON:-}
if [[ -z $python ]]; then
  if [[ -x $root/.venv/bin/python ]]; then python=$root/.venv/bin/python; else python=python3; fi
fi
[[ $target =~ ^[0-9]*[.]?[0-9]+$ && ! $target =~ ^[0.]+$ ]] \
  || die "--days needs a positive number, got '$target'"
log_dir=${log_dir:-$ckpt/logs}

segment_cmd() {  # the command of every segment
  if (( np > 1 )); then
    cmd=(env PYTHON="$python" "$here/mpirun.sh" -n "$np" --)
  else
    cmd=("$python" -m neuralogcm_hpc.run)
  fi
  cmd+=(simulate --until-days "$target" --steps "$seg" --checkpoint-dir "$ckpt" "$@")
}

segment_cmd "$@"
if [[ $dry == 1 ]]; then
  printf '%q ' "${cmd[@]}"; echo
  echo "# repeated until its SUMMARY says target_reached (at most $max_segments segments)"
  exit 0
fi

mkdir -p "$log_dir"
before=-1
for (( i = 1; i <= max_segments; i++ )); do
  log=$(printf '%s/segment-%03d.log' "$log_dir" "$i")
  echo "chain_local.sh: segment $i: ${cmd[*]}" >&2
  status=0
  "${cmd[@]}" > >(tee "$log") || status=$?
  wait  # let tee finish writing the log
  if (( status != 0 )); then
    echo "chain_local.sh: segment $i failed with status $status; see $log" >&2
    exit "$status"
  fi
  step=$("$python" "$here/summary.py" "$log" step)
  days=$("$python" "$here/summary.py" "$log" simulated_days)
  reached=$("$python" "$here/summary.py" "$log" target_reached)
  echo "chain_local.sh: segment $i reached step $step, day $days of $target" >&2
  [[ $reached == True ]] && exit 0
  if (( step <= before )); then
    echo "chain_local.sh: segment $i did not advance the model (step $step); stopping" >&2
    exit 1
  fi
  before=$step
done
echo "chain_local.sh: target not reached after $max_segments segments" >&2
exit 1
