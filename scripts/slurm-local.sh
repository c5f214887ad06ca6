#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests: `up` starts munged, slurmctld and
# slurmd with a minimal slurm.conf under a state folder and waits until the node is idle;
# `down` stops the daemons it started, by the pids in their pid files. It installs
# nothing: Debian's slurm-wlm and munge must be there (apt-get install slurm-wlm munge),
# and it runs as root (slurmd starts the jobs).
#
#   eval "$(scripts/slurm-local.sh up)"   # prints `export SLURM_CONF=...` on stdout
#   (in a script under set -e: env="$(scripts/slurm-local.sh up)"; eval "$env")
#   scripts/slurm-local.sh down
#
# The state folder is $LOSSBENCH_SLURM_DIR (default: ${TMPDIR:-/tmp}/lossbench-slurm). MUNGE
# gets its own key and socket there, so a MUNGE daemon of the system is left alone.
set -euo pipefail

state="${LOSSBENCH_SLURM_DIR:-${TMPDIR:-/tmp}/lossbench-slurm}"
conf="$state/slurm.conf"
socket="$state/munge/munge.socket.2"

say() { echo "slurm-local: $*" >&2; }
die() { say "$*"; exit 1; }

# Stops the daemon whose pid is in file $1 and waits (up to 10 s) until it is gone.
stop_pid_file() {
  local file="$1" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "pid $pid (from $file) did not stop; sending SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}

down() {
  stop_pid_file "$state/slurmd.pid"
  stop_pid_file "$state/slurmctld.pid"
  stop_pid_file "$state/munged.pid"
  say "stopped the cluster of $state"
}

up() {
  local missing=()
  for cmd in munged munge unmunge slurmctld slurmd sinfo sbatch squeue; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: install them with apt-get install -y slurm-wlm munge"
  [ "$(id -u)" -eq 0 ] || die "needs root: slurmd starts the jobs (run it as root, e.g. with sudo)"
  if compgen -G "$state/*.pid" >/dev/null; then
    say "stopping the daemons of an earlier \`up\` first"
    down
  fi

  local host cpus mem
  host="$(hostname -s)"
  cpus="$(nproc)"
  # RealMemory a little under the total (MiB), as slurmd measures it.
  mem="$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)"
  mkdir -p "$state/munge" "$state/ctld" "$state/spool"
  chmod 0700 "$state/munge"

  # MUNGE: a private key and socket.
  if [ ! -s "$state/munge.key" ]; then
    (umask 0277 && dd if=/dev/urandom of="$state/munge.key" bs=1024 count=1 status=none)
  fi
  munged --force --socket="$socket" --key-file="$state/munge.key" \
    --pid-file="$state/munged.pid" --log-file="$state/munged.log" \
    --seed-file="$state/munged.seed"
  munge -n --socket="$socket" | unmunge --socket="$socket" >/dev/null \
    || die "munged does not answer; see $state/munged.log"

  cat >"$conf" <<EOF
# Written by scripts/slurm-local.sh: a one-node cluster on $host for tests.
ClusterName=lossbench
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=60
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$conf"
  slurmctld -f "$conf"
  slurmd -f "$conf"
  for _ in $(seq 60); do
    if [ "$(sinfo -h -n "$host" -o %T 2>/dev/null)" = "idle" ]; then
      say "node $host idle ($cpus CPUs, ${mem} MiB); state in $state"
      echo "export SLURM_CONF=$conf"
      return 0
    fi
    sleep 0.5
  done
  say "the node did not become idle within 30 s; sinfo says:"
  sinfo -N -l >&2 || true
  tail -n 20 "$state/slurmctld.log" "$state/slurmd.log" >&2 || true
  down
  exit 1
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down   (state in $state)" >&2; exit 2 ;;
esac
