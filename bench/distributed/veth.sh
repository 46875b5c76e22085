#!/bin/bash
# veth.sh BINARY BYTES ITERS: runs the stream, bistream and 2-worker
# all-reduce modes of the loopback benchmark once over loopback and once
# between two network namespaces joined by a veth pair (each worker its own
# address), and prints MB/s and CPU ns per byte for each. Needs root and
# iproute2; BINARY is the compiled benchmark:
#
#   go test -c -o /tmp/distributed.test ./bench/distributed
#   sudo bench/distributed/veth.sh /tmp/distributed.test $((64<<20)) 8
#
# MTU (default 1500, veth's own default) sets the veth pair's MTU; loopback
# uses 65536.
set -euo pipefail
bin=$1 bytes=$2 iters=$3 mtu=${MTU:-1500}
ip netns add mlenv-a
ip netns add mlenv-b
trap 'ip netns del mlenv-a; ip netns del mlenv-b' EXIT
ip link add veth-a netns mlenv-a mtu "$mtu" type veth peer name veth-b netns mlenv-b mtu "$mtu"
ip -n mlenv-a addr add 10.77.0.1/24 dev veth-a
ip -n mlenv-b addr add 10.77.0.2/24 dev veth-b
for n in a b; do
	ip -n mlenv-$n link set veth-$n up
	ip -n mlenv-$n link set lo up
done
out=$(mktemp -d)
trap 'ip netns del mlenv-a; ip netns del mlenv-b; rm -r "$out"' EXIT

# run WHERE MODE runs rank 0 and rank 1 and prints one line.
run() {
	local where=$1 mode=$2 addr=127.0.0.1:29512 ns0=() ns1=()
	if [ "$where" = veth ]; then
		addr=10.77.0.1:29511 ns0=(ip netns exec mlenv-a) ns1=(ip netns exec mlenv-b)
	fi
	local env=(env MLENV_BENCH_MODE="$mode" MLENV_BENCH_BYTES="$bytes" MLENV_BENCH_ITERS="$iters"
		MLENV_WORLD_SIZE=2 MLENV_RENDEZVOUS="$addr")
	"${ns0[@]}" "${env[@]}" MLENV_RANK=0 "$bin" >"$out/0" 2>&1 &
	local rank0=$!
	"${ns1[@]}" "${env[@]}" MLENV_RANK=1 "$bin" >"$out/1" 2>&1
	wait "$rank0"
	cat "$out/0" "$out/1" | awk -F= -v where="$where" -v mode="$mode" -v bytes="$bytes" '
		/^seconds=/ { s = $2 }
		/^cpu=/ { cpu += $2 }
		END { printf "%-5s %-9s %7.0f MB/s  %.3f cpu-ns/B\n", where, mode, bytes / s / 1e6, cpu / bytes * 1e9 }'
}

for mode in stream bistream allreduce; do
	run lo "$mode"
	run veth "$mode"
done
