#!/usr/bin/env bash
# io.sh BIN [WORKLOAD [SECONDS]] starts `BIN server` on a fresh SQLite
# database, runs one `bench tracking` workload (default log-batch-500, 20
# clients, 12 s) against it and prints the rate with the server's bytes
# written to disk and CPU time per point, from /proc/PID/io and
# /proc/PID/stat (Linux). Run it for two binaries back to back to compare
# write paths.
set -euo pipefail
bin=${1:?usage: io.sh BIN [WORKLOAD [SECONDS]]}
workload=${2:-log-batch-500}
seconds=${3:-12}
port=${PORT:-5098}
dir=$(mktemp -d /tmp/mlenv-bench-io.XXXXXX)
. "$(dirname "$0")/../lib.sh"
server=
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
start_tracking "$bin" "sqlite:///$dir/bench.db" "$dir" "$port"
bytes() { awk '/^write_bytes/ {print $2}' "/proc/$server/io"; }
ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
b0=$(bytes) t0=$(ticks)
out=$("$bin" bench tracking --uri "http://127.0.0.1:$port" --clients 20 --seconds "$seconds" --workload "$workload" --json)
b1=$(bytes) t1=$(ticks)
python3 - "$out" $((b1 - b0)) $((t1 - t0)) "$(getconf CLK_TCK)" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
written, ticks, hz = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
n = r["rate"] * r["seconds"]
print(json.dumps({**r, "bytes_per_point": round(written / n), "server_cpu_us_per_point": round(ticks / hz * 1e6 / n, 2)}))
PY
