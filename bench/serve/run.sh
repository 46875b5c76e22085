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

echo "== in-process: raw Infer (rows/s, CPU per row), and one-row requests through serve.Repository"
(cd "$repo" && go test ./bench/serve/ -run '^$' -bench 'BenchmarkRawInfer' -args -serve.artifact "$work/$model" | grep '^Benchmark')
(cd "$repo" && go test ./bench/serve/ -run '^$' -bench 'BenchmarkRepository' -benchtime 1x -args -serve.artifact "$work/$model" | grep '^Benchmark')

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
# at PROTOCOL: bench's flags that reach mlenv over http (JSON), binary
# (HTTP with the binary tensor data extension) or grpc.
at() {
	case $1 in
	http) echo --uri http://127.0.0.1:18000 ;;
	binary) echo --uri http://127.0.0.1:18000 --binary ;;
	grpc) echo --protocol grpc --uri 127.0.0.1:18001 ;;
	esac
}
# cpu_ticks: the mlenv server's user+system CPU time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$mpid/stat"; }
# json_field NAME: a number field of bench --json's output on stdin.
json_field() { sed "s/.*\"$1\":\([0-9.e+-]*\).*/\1/"; }
# bench_cpu PROTOCOL ROWS ARGS...: bench against mlenv with ROWS rows per
# request, then one line: req/s, p50 / p99 ms, and the server's CPU time
# per answered request and per row (from /proc, so the generator's share is
# excluded; the shared machine's load disturbs it less than req/s).
bench_cpu() {
	proto=$1 rows=$2
	shift 2
	before=$(cpu_ticks)
	# shellcheck disable=SC2046 # at's output is several flags
	out=$(bench $(at "$proto") --rows "$rows" --json "$@")
	ticks=$(($(cpu_ticks) - before))
	awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v rows="$rows" \
		-v n="$(echo "$out" | json_field requests)" -v rps="$(echo "$out" | json_field per_second)" \
		-v p50="$(echo "$out" | json_field p50_ns)" -v p99="$(echo "$out" | json_field p99_ns)" \
		-v rej="$(echo "$out" | json_field rejected)" -v drop="$(echo "$out" | json_field dropped)" \
		-v fail="$(echo "$out" | json_field failed)" -v secs="$(echo "$out" | json_field seconds)" \
		'BEGIN { printf "%.0f req/s (%.0f rows/s), p50 %.2f / p99 %.2f ms, rejected %.0f/s, dropped by the generator %.0f/s, %d failed, server CPU %.1f us/req, %.2f us/row\n",
			rps, rps * rows, p50 / 1e6, p99 / 1e6, rej / secs, drop / secs, fail, 1e6 * t / hz / n, 1e6 * t / hz / n / rows }'
}
# server_p99: the upper edge of the bucket of mlenv's latency histogram
# (admission to answer) that holds the 99th percentile.
server_p99() {
	curl -s http://127.0.0.1:18000/metrics | awk '
		/^mlenv_serve_request_duration_seconds_bucket/ { split($1, a, "le=\""); sub(/".*/, "", a[2]); le[++k] = a[2]; c[k] = $2 }
		/^mlenv_serve_request_duration_seconds_count/ { n = $2 }
		END { for (i = 1; i <= k; i++) if (c[i] >= 0.99 * n) { printf "server-side p99 <= %s s\n", le[i]; exit } }'
}

echo "== one row per request: mlenv over HTTP/JSON, HTTP binary and gRPC"
for delay in 0 500us; do
	for b in 64 1; do
		[ "$b" = 1 ] && [ "$delay" != 0 ] && continue # no batch to wait for
		start_mlenv --max-batch-size "$b" --max-queue-delay "$delay"
		for proto in http binary grpc; do
			for c in 1 8 32 128; do
				echo "batch $b, delay $delay, $proto, concurrency $c: $(bench_cpu "$proto" 1 --concurrency "$c")"
			done
		done
	done
done
start_mlenv --max-batch-size 64 --max-queue-delay 500us --instances 2
echo "batch 64, delay 500us, 2 instances, grpc, concurrency 32: $(bench_cpu grpc 1 --concurrency 32)"
for c in 1 8 32 128; do
	echo "pytorch, concurrency $c: $(bench --uri http://127.0.0.1:18002 --concurrency "$c")"
done

echo "== 64 rows per request, concurrency 8"
start_mlenv --max-batch-size 64
for proto in http binary grpc; do
	echo "$proto: $(bench_cpu "$proto" 64 --concurrency 8)"
done
echo "pytorch: $(bench --uri http://127.0.0.1:18002 --concurrency 8 --rows 64)"

echo "== encoded inputs (--prepared): raw Infer, then gRPC"
(cd "$repo" && go test ./bench/serve/ -run '^$' -bench 'BenchmarkRawInfer' -args -serve.artifact "$work/$model" -serve.prepared | grep '^Benchmark')
for b in 64 1; do
	start_mlenv --prepared --max-batch-size "$b" --max-queue-delay 500us
	echo "batch $b, delay 500us, grpc, concurrency 32: $(bench_cpu grpc 1 --concurrency 32)"
done
start_mlenv --prepared --max-batch-size 64
echo "64 rows per request, grpc, concurrency 8: $(bench_cpu grpc 64 --concurrency 8)"

echo "== 2x overload: capacity at concurrency 32, then twice that rate, queue 128"
for proto in http grpc; do
	start_mlenv --max-batch-size 64 --max-queue-delay 500us --queue-size 128
	# shellcheck disable=SC2046
	cap=$(bench $(at $proto) --concurrency 32 --json | json_field per_second)
	start_mlenv --max-batch-size 64 --max-queue-delay 500us --queue-size 128
	echo "$proto: capacity $cap req/s; at twice that: $(bench_cpu "$proto" 1 --concurrency 512 --rate "$(awk -v c="$cap" 'BEGIN { print 2 * c }')"); $(server_p99)"
done
