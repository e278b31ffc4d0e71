#!/usr/bin/env bash
# launch/slurm_local/setup.sh - a single-node Slurm cluster on this machine, for trying
# the batch scripts (launch/slurm_cpu.sbatch) for real.
#
# Usage (as root): launch/slurm_local/setup.sh            # then, in your shell:
#                  source "${SLURM_LOCAL_DIR:-/tmp/neuralogcm-slurm}/env.sh"
#                  sinfo; sbatch ...; squeue
#                  launch/slurm_local/teardown.sh
#
# Writes everything into SLURM_LOCAL_DIR (default /tmp/neuralogcm-slurm): a munge key
# and a munged on its own socket, slurm.conf for one node (this host, with the CPU
# count and memory that `slurmd -C` measures), state and spool directories, logs, and
# env.sh (exports SLURM_CONF so sinfo/sbatch/srun find this cluster). Then it starts
# munged, slurmctld and slurmd and waits until the node is idle.
# Nothing outside SLURM_LOCAL_DIR is written: /etc/slurm and /etc/munge stay
# untouched, and the system's own munge/slurm services (if any) are not used.
# Made for containers: ProctrackType=proctrack/linuxproc, TaskPlugin=task/none, no
# cgroups, no accounting; everything runs as root (SlurmUser=root).
# Idempotent: a cluster already up in SLURM_LOCAL_DIR (its daemons alive, node
# responding) is left as it is; stale daemons of that directory are stopped first.
#
# Needs: apt-get install slurm-wlm munge libpmix-dev (Debian bookworm: Slurm 22.05,
# PMIx 4.2; libpmix-dev provides the libpmix.so that srun --mpi=pmix loads).
# Environment:
#   SLURM_LOCAL_DIR     directory for all files (default /tmp/neuralogcm-slurm)
#   SLURM_LOCAL_PORT    slurmctld port; slurmd uses PORT+1 (default 6817)
#   SLURM_LOCAL_MPI     MpiDefault (default pmix when the plugin exists, else none)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${SLURM_LOCAL_DIR:-/tmp/neuralogcm-slurm}
port=${SLURM_LOCAL_PORT:-6817}
die() { echo "slurm_local/setup.sh: $*" >&2; exit 2; }
say() { echo "slurm_local/setup.sh: $*" >&2; }
(( $(id -u) == 0 )) || die "run as root (the daemons run as root here)"
for tool in munged slurmctld slurmd sinfo scontrol; do
  command -v "$tool" >/dev/null || die "$tool missing: apt-get install slurm-wlm munge"
done
[[ $dir == /* ]] || die "SLURM_LOCAL_DIR must be absolute, got '$dir'"
[[ $port =~ ^[0-9]+$ ]] || die "SLURM_LOCAL_PORT must be a number, got '$port'"

conf=$dir/slurm.conf
alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
if alive "$dir/munged.pid" && alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid" \
   && [[ -f $conf ]] && SLURM_CONF=$conf timeout 20 scontrol ping >/dev/null 2>&1; then
  say "already running in $dir; source $dir/env.sh"
  exit 0
fi
# Anything half up from an earlier try goes first (only this directory's daemons).
[[ -d $dir ]] && SLURM_LOCAL_DIR=$dir "$here/teardown.sh" --keep-files

node=$(hostname -s)
mkdir -p "$dir"/{state,log,munge} "$dir/spool/slurmd-$node"
chmod 0755 "$dir" "$dir/munge"   # munged refuses group/world-writable directories

# --- munge ------------------------------------------------------------------------
key=$dir/munge/munge.key
if [[ ! -s $key ]]; then
  dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
fi
chmod 0400 "$key"
socket=$dir/munge/munge.socket
munged --force --key-file="$key" --socket="$socket" --pid-file="$dir/munged.pid" \
  --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" \
  || die "munged did not start; see $dir/log/munged.log"
munge --socket="$socket" -n | unmunge --socket="$socket" >/dev/null \
  || die "munge round trip failed; see $dir/log/munged.log"

# --- slurm.conf -------------------------------------------------------------------
# The node's real shape as slurmd sees it: "NodeName=vm CPUs=2 ... RealMemory=24105".
shape=$(slurmd -C | head -n1 | sed -e 's/^NodeName=[^ ]* //')
[[ $shape == *CPUs=* && $shape == *RealMemory=* ]] || die "unexpected slurmd -C output: $shape"
plugins=$(dirname "$(find /usr/lib -name mpi_none.so -path '*slurm*' | head -n1)")
# Slurm's pmix plugin dlopens the unversioned libpmix.so (package libpmix-dev); without
# it slurmd cannot start a pmix step and srun --mpi=pmix fails.
libpmix=$(find /usr/lib -name libpmix.so -path '*pmix*' 2>/dev/null | head -n1)
mpi=${SLURM_LOCAL_MPI:-}
if [[ -z $mpi ]]; then
  [[ -e $plugins/mpi_pmix.so && -n $libpmix ]] \
    || die "no usable PMIx (Slurm's mpi_pmix.so and libpmix.so): apt-get install libpmix-dev, or SLURM_LOCAL_MPI=none"
  mpi=pmix
fi
cat > "$conf" <<EOF
# Written by launch/slurm_local/setup.sh: one node ($node), no cgroups, root only.
ClusterName=neuralogcm-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Log dependency decisions (the chain's afterany resubmissions) in slurmctld.log.
DebugFlags=Dependency
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=$mpi
ReturnToService=2
# A job past its limit gets SIGTERM, then SIGKILL after KillWait seconds.
KillWait=30
# Allow --time limits of a minute or two: the scheduler looks every few seconds.
SchedulerParameters=sched_interval=5
MinJobAge=3600
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
NodeName=$node NodeAddr=127.0.0.1 $shape State=UNKNOWN
EOF

cat > "$dir/env.sh" <<EOF
# source this file to use the local Slurm cluster of launch/slurm_local/setup.sh
export SLURM_CONF=$conf
EOF

# --- daemons ----------------------------------------------------------------------
export SLURM_CONF=$conf
slurmctld -f "$conf" || die "slurmctld did not start; see $dir/log/slurmctld.log"
slurmd -f "$conf" -N "$node" || die "slurmd did not start; see $dir/log/slurmd.log"
for (( i = 0; i < 60; i++ )); do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
  [[ $state == idle* ]] && break
  sleep 1
done
if [[ $state == down* || $state == drain* ]]; then
  scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
  sleep 2
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
fi
[[ $state == idle* ]] \
  || die "node $node is '${state:-unknown}', not idle; see $dir/log/slurm*.log"
say "up: node $node ($shape), MpiDefault=$mpi, port $port; source $dir/env.sh"
