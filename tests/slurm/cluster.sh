#!/bin/bash
# cluster.sh - a private single-node Slurm cluster on localhost for the tests (the recipe of
# ../shared/SLURM.md, with everything under one directory so that it touches nothing of the
# machine's own: its munge socket and key, slurm.conf, state, spool, logs and pid files).
#
#   cluster.sh start DIR [OWNER_PID]   start munged, slurmctld, slurmd; wait until the node is idle.
#                                      With OWNER_PID, a watchdog stops the daemons when that
#                                      process ends (a test that fails before its stop).
#   cluster.sh stop DIR                stop them by their pid files.
# Clients then need SLURM_CONF=DIR/slurm.conf.  Exit 77 (with the reason on stderr) where a
# cluster cannot start here: not root, or the Debian packages (slurmctld slurmd slurm-client
# munge) missing.
set -u
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: cluster.sh start|stop DIR [OWNER_PID]" >&2; exit 2; }

stop() {
  for p in slurmd slurmctld munge/munged; do
    f="$dir/$p.pid"
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null
    for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    rm -f "$f"
  done
  return 0
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "cluster.sh: unknown command '$cmd'" >&2; exit 2; }

for b in munged slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
  command -v $b >/dev/null 2>&1 || { echo "$b not installed (make deps installs slurmctld slurmd slurm-client munge)" >&2; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "not root (nor passwordless sudo): slurmd and munged need root to start a cluster here" >&2; exit 77; }

mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log" || exit 1
chmod 755 "$dir" "$dir/munge"
head -c 1024 /dev/urandom > "$dir/munge/munge.key" && chmod 400 "$dir/munge/munge.key"
munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
  --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" || { echo "munged did not start ($dir/munge/munged.log)" >&2; exit 1; }
# ports apart from a system cluster's 6817/6818
port=$(( 20000 + ($$ % 20000) ))
cat > "$dir/slurm.conf" <<CONF
ClusterName=qhtest
SlurmctldHost=$(hostname)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
JobCompType=jobcomp/none
MinJobAge=600
$(slurmd -C | head -1)
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF" || { stop; echo "slurmctld did not start ($dir/log/slurmctld.log)" >&2; exit 1; }
slurmd -f "$SLURM_CONF" || { stop; echo "slurmd did not start ($dir/log/slurmd.log)" >&2; exit 1; }
for i in $(seq 100); do
  [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break
  sleep 0.2
done
if [ "$(sinfo -h -o %T 2>/dev/null)" != idle ]; then
  state=$(sinfo -h -o %T 2>&1)
  stop; echo "the node did not become idle in 20 s (sinfo: $state)" >&2; exit 1
fi
if [ -n "${3:-}" ]; then
  owner=$3
  # in a session of its own, so that the end of the caller's process group does not take it along
  setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$2" stop "$3"' watchdog "$owner" "$(readlink -f "$0")" "$dir" \
    >/dev/null 2>&1 </dev/null &
fi
exit 0
