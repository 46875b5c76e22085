#!/usr/bin/env bash
# run.sh BIN [DB] starts `BIN server` on a fresh SQLite database (or on DB,
# a postgres:// DSN of an empty database), runs every `BIN bench tracking`
# workload against it with the client counts of the issue's table, prints
# one JSON line per workload and stops the server with SIGTERM.
set -euo pipefail
bin=${1:-bin/mlenv}
dir=$(mktemp -d /tmp/mlenv-bench-tracking.XXXXXX)
db=${2:-sqlite:///$dir/bench.db}
port=${PORT:-5077}
seconds=${SECONDS_PER_WORKLOAD:-10}

. "$(dirname "$0")/../lib.sh"
server=
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
start_tracking "$bin" "$db" "$dir" "$port"

for w in log-batch-10 log-batch-500 create-run get-history search-runs; do
	clients=20
	[[ $w == get-history ]] && clients=1
	[[ $w == search-runs ]] && clients=5
	"$bin" bench tracking --uri "http://127.0.0.1:$port" --clients "$clients" --seconds "$seconds" --workload "$w" --json
done
