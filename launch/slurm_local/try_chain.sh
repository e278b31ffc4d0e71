#!/usr/bin/env bash
# launch/slurm_local/try_chain.sh - submit launch/slurm_cpu.sbatch to a real (local)
# Slurm and check its self-resubmitting chain end to end.
#
# Usage (as root): launch/slurm_local/try_chain.sh [WORKDIR]      (default: a new mktemp -d)
#
# 1. Starts the single-node cluster of setup.sh when it is not up (and tears it down
#    again at the end; a cluster that was already up is left running).
# 2. From WORKDIR, submits the unmodified batch script for a tiny run,
#      TARGET_DAYS=$TARGET_DAYS SEGMENT_STEPS=$SEGMENT_STEPS CHECKPOINT_DIR=WORKDIR/ckpt
#      RUN_ARGS="--case beta_plane_small --set grid.nx=32 --set grid.ny=16
#                --set checkpoint.every=2000 --set checkpoint.keep=2"
#      SBATCH_ARGS="--ntasks-per-node=$NP --time=$TIME_LIMIT --signal=B:USR1@$WARN ..."
#      sbatch $SBATCH_ARGS launch/slurm_cpu.sbatch
#    with a time limit too short for the whole run, so Slurm's USR1 warning stops
#    the segments before the target; each segment writes a final checkpoint and
#    resubmits the script with --dependency=afterany:<its job>.
# 3. Waits for the chain to end (squeue polled every second; pending jobs'
#    dependencies are recorded), then runs the same model uninterrupted on NP ranks
#    with launch/mpirun.sh to the same target.
# 4. Checks: >= 2 segments; every segment but the last stopped by USR1 with a
#    checkpoint at the step it stopped at; each resubmission seen pending on
#    afterany:<previous job>; the last segment reached the target; its state_sha256
#    equals the uninterrupted run's. Prints `TRY_CHAIN {json}` (jobs, segments, steps,
#    wall times, digests; also in WORKDIR/try_chain.json) and exits 0 when all hold,
#    1 otherwise. WORKDIR keeps the Slurm outputs, segment logs and slurmctld.log.
#
# Environment (defaults sized for the 2-core development machine: 3-4 segments of
# about 1.5 minutes when it is quiet; with other work on its 2 cores (load ~20) a
# job gets ~1000 steps done and the 14400 steps take ~10 jobs, ~20 min; fewer
# TARGET_DAYS then, but on a quiet machine 3 days fit in the first job):
#   NP=2 TARGET_DAYS=10 SEGMENT_STEPS=1000000 TIME_LIMIT=3:00 WARN=90
#   CHAIN_TIMEOUT=2700   seconds to wait for the chain before giving up (jobs cancelled)
#   PYTHON               interpreter (default: .venv/bin/python of this checkout)
# Slurm sends the USR1 warning between WARN and WARN+30 s before the limit (slurmctld
# checks limits every 30 s), i.e. 60-90 s into a 3:00 job with the defaults: start-up
# (import + compile, ~20-40 s here) must fit before it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
np=${NP:-2} target=${TARGET_DAYS:-10} seg=${SEGMENT_STEPS:-1000000}
limit=${TIME_LIMIT:-3:00} warn=${WARN:-90} chain_timeout=${CHAIN_TIMEOUT:-2700}
python=${PYTHON:-$root/.venv/bin/python}
say() { echo "try_chain.sh: $*" >&2; }
die() { say "$*"; exit 2; }
(( $(id -u) == 0 )) || die "run as root (the local cluster runs as root)"
command -v sbatch >/dev/null && command -v slurmctld >/dev/null \
  || die "Slurm missing: apt-get install slurm-wlm munge libpmix-dev"

work=${1:-$(mktemp -d /tmp/neuralogcm-try-chain.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
[[ -z $(ls -A "$work") ]] || die "WORKDIR $work is not empty"

export SLURM_LOCAL_DIR=${SLURM_LOCAL_DIR:-/tmp/neuralogcm-slurm}
started=0
# (no slurm.conf: scontrol would hunt for a DNS SRV record, slowly)
if [[ ! -f $SLURM_LOCAL_DIR/slurm.conf ]] \
   || ! SLURM_CONF=$SLURM_LOCAL_DIR/slurm.conf timeout 20 scontrol ping >/dev/null 2>&1; then
  "$here/setup.sh"
  started=1
fi
# shellcheck disable=SC1091
source "$SLURM_LOCAL_DIR/env.sh"
name=neuralogcm-try-$$
cleanup() {
  scancel --name="$name" >/dev/null 2>&1 || true
  # keep the controller's log (dependency decisions) with the run's files
  cp "$SLURM_LOCAL_DIR/log/slurmctld.log" "$work/" 2>/dev/null || true
  if (( started )); then "$here/teardown.sh"; fi
}
trap cleanup EXIT

# --- the chain --------------------------------------------------------------------
export NEURALOGCM_HOME=$root
export PYTHONPATH=$root${PYTHONPATH:+:$PYTHONPATH}   # this checkout's package
export PYTHON=$python
export TARGET_DAYS=$target SEGMENT_STEPS=$seg CHECKPOINT_DIR=$work/ckpt
model="--case beta_plane_small --set grid.nx=32 --set grid.ny=16"
export RUN_ARGS="$model --set checkpoint.every=2000 --set checkpoint.keep=2"
export SBATCH_ARGS="--ntasks-per-node=$np --time=$limit --signal=B:USR1@$warn --job-name=$name"
t0=$(date +%s)
cd "$work"
# shellcheck disable=SC2086  # SBATCH_ARGS is deliberately word-split
first=$(sbatch --parsable $SBATCH_ARGS "$root/launch/slurm_cpu.sbatch")
say "submitted job $first from $work: sbatch $SBATCH_ARGS launch/slurm_cpu.sbatch"
: > "$work/squeue.txt"
while true; do
  queue=$(squeue -h --name="$name" -o '%i %T %E' 2>/dev/null || true)
  [[ -n $queue ]] && echo "$(date +%T) $queue" | tr '\n' ' ' >> "$work/squeue.txt" \
    && echo >> "$work/squeue.txt"
  [[ -z $queue ]] && break
  if (( $(date +%s) - t0 > chain_timeout )); then
    say "chain not finished after $chain_timeout s; cancelling"
    break
  fi
  sleep 1
done
t_chain=$(( $(date +%s) - t0 ))
say "chain over after $t_chain s"

# --- the uninterrupted run --------------------------------------------------------
t1=$(date +%s)
# shellcheck disable=SC2086  # model is deliberately word-split
"$root/launch/mpirun.sh" -n "$np" simulate $model --until-days "$target" \
  --checkpoint-dir "$work/reference" > "$work/reference.log" 2>&1 \
  || { tail -20 "$work/reference.log" >&2; die "the uninterrupted run failed"; }
t_ref=$(( $(date +%s) - t1 ))

# --- checks -------------------------------------------------------------------------
"$python" - "$work" "$first" "$t_chain" "$t_ref" <<'EOF'
import json, pathlib, re, subprocess, sys

work, first, t_chain, t_ref = pathlib.Path(sys.argv[1]), int(sys.argv[2]), *map(int, sys.argv[3:])

def summary(path):
    lines = [x for x in path.read_text(errors="replace").splitlines() if x.startswith("SUMMARY ")]
    return json.loads(lines[-1][8:]) if lines else None

def job_info(job):
    out = subprocess.run(["scontrol", "show", "job", str(job)], capture_output=True, text=True).stdout
    return dict(re.findall(r"(\w+)=(\S+)", out))

logs = sorted((work / "ckpt" / "logs").glob("segment-*.log"))
queue = (work / "squeue.txt").read_text()
segments, problems = [], []
for i, log in enumerate(logs, 1):
    job = int(log.stem.rsplit("-", 1)[1])
    out = work / f"neuralogcm-{job}.out"
    text = out.read_text(errors="replace") if out.exists() else ""
    s = summary(log)
    info = job_info(job)
    stop = re.search(r"stop requested at step (\d+)", text)
    seg = {"segment": i, "job": job, "state": info.get("JobState"),
           "run_time": info.get("RunTime"), "time_limit": info.get("TimeLimit"),
           "usr1": "time limit near" in text, "stopped_at": int(stop[1]) if stop else None,
           "final_checkpoint": bool(stop) and f"ckpt-{int(stop[1]):012d} written" in text,
           "step": s and s["step"], "steps": s and s["steps"],
           "target_reached": s and s["target_reached"],
           "state_sha256": s and s["state_sha256"],
           "resubmitted": (m := re.search(r"Submitted batch job (\d+)", text)) and int(m[1])}
    segments.append(seg)
    if s is None:
        problems.append(f"segment {i} (job {job}) printed no SUMMARY")
    if i < len(logs):
        if not (seg["usr1"] and seg["final_checkpoint"] and seg["stopped_at"] == seg["step"]):
            problems.append(f"segment {i} (job {job}) did not stop on USR1 with a checkpoint")
        nxt = int(logs[i].stem.rsplit("-", 1)[1])
        if seg["resubmitted"] != nxt:
            problems.append(f"segment {i} resubmitted {seg['resubmitted']}, next log is job {nxt}")
        seg["seen_pending_afterany"] = f"{nxt} PENDING afterany:{job}" in queue
if len(segments) < 2:
    problems.append(f"{len(segments)} segment(s): the chain needs at least 2 (lower TIME_LIMIT)")
if segments and segments[0]["job"] != first:
    problems.append(f"first log is job {segments[0]['job']}, submitted {first}")
ref = summary(work / "reference.log")
last = segments[-1] if segments else {}
if not last.get("target_reached"):
    problems.append("the last segment did not reach the target")
if ref is None or last.get("state_sha256") != ref["state_sha256"]:
    problems.append("final state_sha256 differs from the uninterrupted run")
result = {"ok": not problems, "problems": problems, "segments": segments,
          "reference": ref and {k: ref[k] for k in ("step", "state_sha256", "wall_seconds", "ranks")},
          "chain_wall_s": t_chain, "reference_wall_s": t_ref,
          "afterany_seen_pending": any(s.get("seen_pending_afterany") for s in segments)}
print("TRY_CHAIN " + json.dumps(result))
(work / "try_chain.json").write_text(json.dumps(result, indent=1) + "\n")
for p in problems:
    print("try_chain.sh: FAIL:", p, file=sys.stderr)
sys.exit(0 if not problems else 1)
EOF
