#!/usr/bin/env bash
# launch/chain_local.sh - run a long simulation as restartable segments on one machine.
#
# Usage: launch/chain_local.sh --days TARGET --segment-steps N --checkpoint-dir DIR
#            [-n RANKS] [--max-segments M] [--log-dir DIR] [--dry-run] [-- run.py options]
#   e.g. launch/chain_local.sh --days 3650 --segment-steps 100000 \
#            --checkpoint-dir ckpt -n 4 -- --case double_gyre --output out.zarr
#
# Each segment is `python -m neuralogcm_hpc.run simulate --resume --checkpoint-dir DIR
# --steps N [run.py options]` (under launch/mpirun.sh when RANKS > 1); --resume is
# left out while DIR holds no committed checkpoint (DIR/ckpt-*), so the first
# segment starts fresh and an existing chain continues. After each segment the
# model time is read from the run's `SUMMARY {json}` line (`simulated_days`: time of
# the final state, step x dt, counted from the start of the simulation) and the loop
# stops once it reaches TARGET. The last segment is shortened to land on TARGET
# (to within one step) using the `step` count in the SUMMARY.
# The chain stops at the first failing segment with that segment's exit status, and
# also when a segment does not advance the model time (nothing would change on a
# retry). Logs: LOG_DIR/segment-NNN.log (default DIR/logs).
#
# Environment: PYTHON (default .venv/bin/python of this checkout, else python3);
#   DRY_RUN=1 (same as --dry-run: print the first segment's exact command, exit 0).
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

segment_cmd() {  # the command of one segment of $1 steps
  local steps=$1
  shift
  if (( np > 1 )); then
    cmd=(env PYTHON="$python" "$here/mpirun.sh" -n "$np" --)
  else
    cmd=("$python" -m neuralogcm_hpc.run)
  fi
  cmd+=(simulate)
  compgen -G "$ckpt/ckpt-[0-9]*" >/dev/null && cmd+=(--resume)
  cmd+=(--checkpoint-dir "$ckpt" --steps "$steps" "$@")
}

if [[ $dry == 1 ]]; then
  segment_cmd "$seg" "${@}"
  printf '%q ' "${cmd[@]}"; echo
  echo "# repeated until SUMMARY simulated_days >= $target (at most $max_segments segments)"
  exit 0
fi

mkdir -p "$log_dir"
done_days=0 steps=$seg
for (( i = 1; i <= max_segments; i++ )); do
  log=$(printf '%s/segment-%03d.log' "$log_dir" "$i")
  segment_cmd "$steps" "$@"
  echo "chain_local.sh: segment $i: ${cmd[*]}" >&2
  status=0
  "${cmd[@]}" > >(tee "$log") || status=$?
  wait  # let tee finish writing the log
  if (( status != 0 )); then
    echo "chain_local.sh: segment $i failed with status $status; see $log" >&2
    exit "$status"
  fi
  days=$("$python" "$here/summary.py" "$log" simulated_days)
  step=$("$python" "$here/summary.py" "$log" step 2>/dev/null || echo "")
  read -r finished stalled next <<<"$("$python" - "$done_days" "$days" "$target" "$seg" "$step" <<'PY'
import math, sys
before, now, target, seg = map(float, sys.argv[1:5])
step = sys.argv[5]
finished = now >= target * (1 - 1e-12)  # relative slack for step x dt rounding
stalled = now <= before
nxt = int(seg)
if step and float(step) > 0 and not finished:
    day_per_step = now / float(step)
    nxt = max(1, min(nxt, math.ceil((target - now) / day_per_step - 1e-9)))
print(int(finished), int(stalled), nxt)
PY
)"
  echo "chain_local.sh: segment $i reached day $days of $target" >&2
  (( finished )) && exit 0
  if (( stalled )); then
    echo "chain_local.sh: segment $i did not advance the model (day $days); stopping" >&2
    exit 1
  fi
  done_days=$days steps=$next
done
echo "chain_local.sh: target not reached after $max_segments segments" >&2
exit 1
