#!/usr/bin/env bash
# with-slurm.sh CMD [ARGS...] starts a throw-away single-node Slurm cluster
# (munged, slurmctld, slurmd) with its configuration in a temporary
# directory, exports SLURM_CONF and MLENV_TEST_SLURM=1, runs CMD, and stops
# the daemons and removes the directory however CMD ends. Used by `make test`
# so the Slurm executor tests run against a real Slurm.
set -euo pipefail

for bin in munge munged slurmctld slurmd sbatch; do
	if ! command -v "$bin" >/dev/null && [[ ! -x /usr/sbin/$bin ]]; then
		echo "with-slurm: $bin is not installed (scripts/deps.sh slurmctld slurmd slurm-client munge)" >&2
		exit 1
	fi
done

dir=$(mktemp -d /tmp/mlenv-slurm.XXXXXX)
chmod 755 "$dir"
host=$(hostname -s)
pids=()
started_munge=

stop() {
	if [[ -n $started_munge ]]; then
		kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
	fi
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$dir"
}
trap stop EXIT

# munged: one per machine; start it (and stop it at the end) unless one
# already answers.
if ! munge -n >/dev/null 2>&1; then
	mkdir -p /run/munge && chown munge: /run/munge
	runuser -u munge -- /usr/sbin/munged
	started_munge=1
fi

port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 20000))
}
ctlport=$(port)
dport=$(port)
cpus=$(nproc)

mkdir -p "$dir/state" "$dir/spool"
cat >"$dir/slurm.conf" <<CONF
ClusterName=mlenvtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctlport
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF=$dir/slurm.conf

/usr/sbin/slurmctld -D -i -f "$SLURM_CONF" >"$dir/slurmctld.out" 2>&1 &
pids+=($!)
/usr/sbin/slurmd -D -f "$SLURM_CONF" >"$dir/slurmd.out" 2>&1 &
pids+=($!)

for _ in $(seq 100); do
	if sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then
		break
	fi
	sleep 0.1
done
if ! sinfo -h -o '%T' 2>/dev/null | grep -qx idle; then
	echo "with-slurm: the node did not come up" >&2
	cat "$dir"/*.log "$dir"/*.out >&2 || true
	exit 1
fi

export MLENV_TEST_SLURM=1
echo "with-slurm: Slurm ready (SLURM_CONF=$SLURM_CONF)"
"$@"
