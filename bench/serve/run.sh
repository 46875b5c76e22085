#!/bin/sh
# Serving benchmark of the DLRM example, mlenv serve against a PyTorch 1.13
# rebuild of the same artifact behind Python's http.server (torch_server.py).
# Needs Go and `apt-get install -y python3-torch`. Run from the repository
# root: bench/serve/run.sh [SECONDS_PER_CASE]. Everything runs on this
# machine's cores, the load generator included; GOMAXPROCS and the peer's
# thread count are 2.
set -eu
secs=${1:-5}
work=$(mktemp -d)
trap 'kill $pids 2>/dev/null || true; rm -rf "$work"' EXIT
pids=
repo=$(pwd)
export GOMAXPROCS=2 OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE

go build -o "$work/mlenv" ./cmd/mlenv
mlenv=$work/mlenv
cd "$work"
mkdir mlenv-data
"$mlenv" data synth --rows 50000 --seed 1 --multi-hot --out mlenv-data/ctr-train.parquet >/dev/null
"$mlenv" data synth --rows 5000 --seed 2 --multi-hot --out mlenv-data/ctr-valid.parquet >/dev/null
sed 's/epochs: 2/epochs: 1/' "$repo/examples/ctr-dlrm.yaml" >dlrm.yaml
"$mlenv" train dlrm.yaml --no-tracking >/dev/null
model=mlenv-models/ctr-dlrm

echo "== raw Infer, in-process (rows/s)"
(cd "$repo" && go test ./bench/serve/ -run '^$' -bench 'BenchmarkRawInfer' -args -serve.artifact "$work/$model" | grep rows/s)

# wait_up URL: polls until the server answers.
wait_up() {
	for _ in $(seq 100); do
		curl -sf "$1" >/dev/null && return 0
		sleep 0.1
	done
	echo "no server at $1" >&2
	exit 1
}

# start_mlenv ARGS...: serves the model on port 18000 with ARGS.
start_mlenv() {
	[ -n "${mpid:-}" ] && kill "$mpid" && wait "$mpid" 2>/dev/null || true
	"$mlenv" serve "$model" --http 127.0.0.1:18000 --grpc 127.0.0.1:18001 --log-level warn "$@" >/dev/null &
	mpid=$!
	pids="$pids $mpid"
	wait_up http://127.0.0.1:18000/v2/models/ctr-dlrm/ready
}

/usr/bin/python3 "$repo/bench/serve/torch_server.py" "$model" 18002 2 &
pids="$pids $!"
wait_up http://127.0.0.1:18002/v2/models/ctr-dlrm/ready
start_mlenv
/usr/bin/python3 "$repo/bench/serve/torch_server.py" check "$model" http://127.0.0.1:18000 http://127.0.0.1:18002

bench() { "$mlenv" bench serve --model ctr-dlrm --seconds "$secs" "$@"; }
# cpu_ticks: the mlenv server's user+system CPU time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$mpid/stat"; }
# bench_cpu ARGS...: bench against mlenv, then its server CPU time per
# answered request (a figure the shared machine's load disturbs less than
# wall-clock rates).
bench_cpu() {
	before=$(cpu_ticks)
	out=$(bench --uri http://127.0.0.1:18000 --json "$@")
	n=$(echo "$out" | sed 's/.*"requests":\([0-9]*\).*/\1/')
	echo "$out"
	awk -v t="$(($(cpu_ticks) - before))" -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { printf "server CPU per request: %.1f us\n", 1e6 * t / hz / n }'
}
for c in 1 8 32 128; do
	echo "== concurrency $c"
	start_mlenv --max-batch-size 64
	bench_cpu --concurrency "$c" | sed 's/^/mlenv batch 64: /'
	start_mlenv --max-batch-size 1
	bench_cpu --concurrency "$c" | sed 's/^/mlenv batch 1:  /'
	if [ "$c" = 32 ]; then
		start_mlenv --max-batch-size 64 --instances 2
		bench_cpu --concurrency "$c" | sed 's/^/mlenv batch 64, 2 instances: /'
	fi
	bench --uri http://127.0.0.1:18002 --concurrency "$c" | sed 's/^/pytorch:        /'
done

echo "== 32 rows per request, concurrency 8 (rows/s = 32 x req/s)"
start_mlenv --max-batch-size 256
bench --uri http://127.0.0.1:18000 --concurrency 8 --rows 32 | sed 's/^/mlenv:   /'
bench --uri http://127.0.0.1:18002 --concurrency 8 --rows 32 | sed 's/^/pytorch: /'

echo "== 2x overload: capacity at concurrency 32, then twice that rate, queue 128"
start_mlenv --max-batch-size 64 --queue-size 128
cap=$(bench --uri http://127.0.0.1:18000 --concurrency 32 --json | sed 's/.*"per_second":\([0-9.]*\).*/\1/')
echo "capacity: $cap req/s"
bench --uri http://127.0.0.1:18000 --concurrency 512 --rate "$(awk -v c="$cap" 'BEGIN { print 2 * c }')"
