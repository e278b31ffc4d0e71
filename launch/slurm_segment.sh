#!/usr/bin/env bash
# launch/slurm_segment.sh - one segment of a self-resubmitting Slurm chain.
#
# Sourced by launch/slurm_cpu.sbatch and launch/slurm_gpu.sbatch (not run directly).
# Runs `srun python -m mpi4py -m neuralogcm_hpc.run simulate --until-days TARGET_DAYS
# --steps SEGMENT_STEPS --checkpoint-dir CHECKPOINT_DIR RUN_ARGS`: the same command in
# every job. It resumes from the newest checkpoint that verifies (the first job,
# finding none, starts fresh), runs at most SEGMENT_STEPS steps toward the target,
# and does nothing (exit 0) once the target is reached, so a job resubmitted by hand
# or by the chain after a crash or a finished run is harmless.
# Final checkpoint: the batch scripts ask for `--signal=B:USR1@300`, so Slurm sends
# SIGUSR1 to this shell 300 s before the time limit; it is forwarded to the srun
# tasks (the model checkpoints and stops) and the chain goes on regardless of how the
# step ended, from the newest checkpoint (set checkpoint.every so a segment that is
# cut short still saves progress).
# Resubmission: when the segment ends below the target (the SUMMARY line's
# target_reached is not True, or no SUMMARY after the time-limit signal), the same batch script is
# submitted again with --dependency=afterany:<this job> (afterany, because a job that
# hits its time limit does not count as "ok"). A failing segment stops the chain.
#
# Environment (export before sbatch, or pass with sbatch --export=ALL,...):
#   TARGET_DAYS    simulated days at which the chain stops (required)
#   SEGMENT_STEPS  model steps per job; size it to fit the time limit (required)
#   CHECKPOINT_DIR shared-filesystem directory for checkpoints (required)
#   RUN_ARGS       further run.py options, word-split (e.g. "--case double_gyre --output o.zarr")
#   SBATCH_ARGS    sbatch options that replace the batch script's #SBATCH lines, word-split
#                  (e.g. "--ntasks-per-node=64 --time=02:00:00"); every resubmission
#                  passes them on. Give them to the first sbatch too:
#                  sbatch $SBATCH_ARGS launch/slurm_cpu.sbatch. Options given only on the
#                  first sbatch's command line are NOT seen by the resubmitted jobs, which
#                  would fall back to the #SBATCH lines (32 tasks, 12 h).
#   SRUN_MPI       srun's --mpi plugin (default pmix: the Open MPI 5 of the workstation
#                  setup and of the container only join a job through PMIx; under
#                  --mpi=none or pmi2 every rank starts as a 1-rank world, tried under a
#                  real Slurm). A site MPI may need another (pmi2, cray_shasta; see
#                  `srun --mpi=list`); SRUN_MPI=default leaves the site's MpiDefault
#   CONTAINER      optional Apptainer image: srun --mpi=pmix apptainer exec IMAGE python ...
#   PYTHON         interpreter on the compute nodes (default: NEURALOGCM_HOME/.venv/bin/python,
#                  or `python3` inside CONTAINER)
#   MAX_SEGMENTS   safety bound on the chain length (default 200); CHAIN_SEGMENT counts up
#   LOG_DIR        where segment logs go (default CHECKPOINT_DIR/logs)
#   DRY_RUN=1      print the srun and the resubmission command, run nothing
set -euo pipefail
die() { echo "slurm_segment.sh: $*" >&2; exit 2; }
: "${NEURALOGCM_HOME:?set by the batch script}" "${BATCH_SCRIPT:?set by the batch script}"
[[ -n ${TARGET_DAYS:-} && -n ${SEGMENT_STEPS:-} && -n ${CHECKPOINT_DIR:-} ]] \
  || die "export TARGET_DAYS, SEGMENT_STEPS and CHECKPOINT_DIR before sbatch"
[[ $SEGMENT_STEPS =~ ^[1-9][0-9]*$ ]] || die "SEGMENT_STEPS must be a positive integer"
segment=${CHAIN_SEGMENT:-1}
max_segments=${MAX_SEGMENTS:-200}
(( segment <= max_segments )) || die "MAX_SEGMENTS=$max_segments reached; target not met"
job=${SLURM_JOB_ID:-DRYRUN}
log_dir=${LOG_DIR:-$CHECKPOINT_DIR/logs}
log=$log_dir/segment-$(printf %03d "$segment")-$job.log

run=(-m mpi4py -m neuralogcm_hpc.run simulate --until-days "$TARGET_DAYS"
     --steps "$SEGMENT_STEPS" --checkpoint-dir "$CHECKPOINT_DIR")
# shellcheck disable=SC2206  # RUN_ARGS is deliberately word-split
[[ -n ${RUN_ARGS:-} ]] && run+=(${RUN_ARGS})
srun_cmd=(srun --kill-on-bad-exit=1)
[[ ${SRUN_MPI:-pmix} != default ]] && srun_cmd+=(--mpi="${SRUN_MPI:-pmix}")
if [[ -n ${CONTAINER:-} ]]; then
  # Hybrid model: host Slurm/PMIx starts the ranks, the container's MPI joins them.
  nv=(); [[ ${NEURALOGCM_DEVICE:-} == gpu ]] && nv=(--nv)
  srun_cmd+=(apptainer exec "${nv[@]}"
             --bind "$PWD" "$CONTAINER" "${PYTHON:-python3}" "${run[@]}")
else
  srun_cmd+=("${PYTHON:-$NEURALOGCM_HOME/.venv/bin/python}" "${run[@]}")
fi
resubmit=(sbatch --dependency="afterany:$job")
# shellcheck disable=SC2206  # SBATCH_ARGS is deliberately word-split
[[ -n ${SBATCH_ARGS:-} ]] && resubmit+=(${SBATCH_ARGS})
resubmit+=(--export="ALL,CHAIN_SEGMENT=$((segment + 1))" "$BATCH_SCRIPT")

if [[ ${DRY_RUN:-0} == 1 ]]; then
  printf '%q ' "${srun_cmd[@]}"; echo
  echo "# unless its SUMMARY says target_reached (also after SIGUSR1):"
  printf '%q ' "${resubmit[@]}"; echo
  exit 0
fi

mkdir -p "$log_dir"
time_up=0 pid=""
# Trap first: a USR1 that came before it would end this shell (bash's default) and
# with it the chain. srun forwards USR1 to every task.
on_usr1() {
  time_up=1
  echo "slurm_segment.sh: time limit near, checkpointing" >&2
  [[ -n $pid ]] && kill -USR1 "$pid" 2>/dev/null || true
}
trap on_usr1 USR1
"${srun_cmd[@]}" > >(tee "$log") &
pid=$!
(( time_up )) && kill -USR1 "$pid" 2>/dev/null || true
status=0
# `wait` returns early when the trap fires; wait again for srun to finish.
while true; do
  wait "$pid" && status=0 || status=$?
  kill -0 "$pid" 2>/dev/null || break
done
# Let tee finish writing the log before its SUMMARY line is read (bash >= 5.1
# waits for the last process substitution here).
wait || true
if (( status != 0 && time_up == 0 )); then
  echo "slurm_segment.sh: segment $segment failed with status $status; chain stopped" >&2
  exit "$status"
fi
# Done when the SUMMARY says so, even if the time-limit warning came in the
# meantime (it can arrive after the model reached the target); no SUMMARY (the step
# was killed) or a target not reached: the next segment continues.
summary() { "${PYTHON:-$NEURALOGCM_HOME/.venv/bin/python}" "$NEURALOGCM_HOME/launch/summary.py" "$log" "$1" 2>/dev/null; }
if [[ $(summary target_reached || true) == True ]]; then
  echo "slurm_segment.sh: target of $TARGET_DAYS days reached (day $(summary simulated_days)); chain done" >&2
  exit 0
fi
"${resubmit[@]}"
