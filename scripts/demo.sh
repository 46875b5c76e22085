#!/usr/bin/env bash
# demo.sh runs mlenv's main job end to end on embedded defaults, in a fresh
# directory (mlenv-demo/, or $MLENV_DEMO_DIR): synthetic click-through data,
# training with tracking, feature attribution, the tracking server and web
# UI, registration under an alias, and online serving queried over HTTP.
# Everything it starts it stops again; it exits 0 only if every step worked.
# With MLENV_DEMO_KEEP=1 it leaves the servers up until Ctrl-C, to browse
# the UI.
set -euo pipefail

bin=$(realpath "${1:-bin/mlenv}")
dir=${MLENV_DEMO_DIR:-mlenv-demo}
port=${MLENV_DEMO_PORT:-5055}
http=${MLENV_DEMO_HTTP:-8055}
grpc=${MLENV_DEMO_GRPC:-8056}

rm -rf "$dir"
mkdir -p "$dir/mlenv-data"
cd "$dir"

pids=()
cleanup() {
	# Newest first: serve removes its endpoint tag from the tracking server
	# as it stops, so the server must still be up then.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

# wait_for URL: poll until URL answers (the servers start in the background).
wait_for() {
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "demo: $1 did not come up" >&2
	return 1
}

step "1. synthetic click-through data with a known Bayes-optimal AUC"
"$bin" data synth --rows 100000 --seed 1 --multi-hot --out mlenv-data/ctr-train.parquet
"$bin" data synth --rows 10000 --seed 2 --multi-hot --out mlenv-data/ctr-valid.parquet

step "2. train the MLP of examples/ctr-mlp.yaml, tracked in the embedded store (.mlenv)"
cp "$OLDPWD/examples/ctr-mlp.yaml" ctr-mlp.yaml
"$bin" train ctr-mlp.yaml --json >train.json
run=$(sed -n 's/.*"run_id": *"\([0-9a-f]*\)".*/\1/p' train.json | head -n 1)
cat train.json

step "3. which features drive it: integrated gradients over 500 validation rows"
"$bin" explain --model mlenv-models/ctr-mlp --data mlenv-data/ctr-valid.parquet \
	--examples 500 --svg importance.svg >explain.txt
head -n 12 explain.txt

step "4. the tracking server and web UI over the same store"
"$bin" server --port "$port" --db sqlite:///.mlenv/mlenv.db --artifacts .mlenv/artifacts \
	--log-level warn &
pids+=($!)
wait_for "http://127.0.0.1:$port/health"
echo "web UI: http://127.0.0.1:$port/"
"$bin" runs list --experiment ctr --filter "metrics.auc > 0.7" --uri "http://127.0.0.1:$port"

step "5. register the trained model as ctr-mlp@champion"
"$bin" models register ctr-mlp --run "$run" --alias champion --uri "http://127.0.0.1:$port"

step "6. serve ctr-mlp@champion (Open Inference Protocol, dynamic batching)"
"$bin" serve ctr-mlp@champion --uri "http://127.0.0.1:$port" \
	--http "127.0.0.1:$http" --grpc "127.0.0.1:$grpc" --log-level warn &
pids+=($!)
wait_for "http://127.0.0.1:$http/v2/health/ready"
curl -fsS "http://127.0.0.1:$http/v2/models/ctr-mlp" |
	jq -c '{name, versions, inputs: [.inputs[].name], outputs}'

step "7. query it over HTTP/JSON with two raw validation rows"
# The request is built from the model's signature (GET /v2/models/ctr-mlp)
# and the first rows of the validation file; multi_hot lists go as
# comma-joined text, numbers as FP32, everything else as BYTES.
curl -fsS "http://127.0.0.1:$http/v2/models/ctr-mlp" >meta.json
"$bin" data inspect mlenv-data/ctr-valid.parquet --json --rows 2 >rows.json
jq -n --slurpfile meta meta.json --slurpfile rows rows.json '
	($rows[0].columns | map(.name)) as $cols |
	{inputs: [$meta[0].inputs[] | .name as $n | .datatype as $t | ($cols | index($n)) as $i | {
		name: $n, datatype: $t, shape: [$rows[0].sample | length],
		data: [$rows[0].sample[] | .[$i] |
			if $t == "FP32" then tonumber
			elif startswith("[") then (ltrimstr("[") | rtrimstr("]") | split(" ") | join(","))
			else . end]
	}]}' >request.json
curl -fsS -H 'Content-Type: application/json' -d @request.json \
	"http://127.0.0.1:$http/v2/models/ctr-mlp/infer" | jq -c '.outputs'

step "8. the endpoint as the UI's model page shows it (health, requests, latency)"
curl -fsS "http://127.0.0.1:$port/ui-api/endpoint?name=ctr-mlp&version=1" |
	jq -c '{url, ready, requests, errors, latency_p99_seconds}'
echo "model page: http://127.0.0.1:$port/#/models/ctr-mlp/versions/1"
echo "run page:   http://127.0.0.1:$port/#/runs/$run"

step "done: data, training, tracking, attribution, registry and serving all ran"
if [[ ${MLENV_DEMO_KEEP:-} == 1 ]]; then
	echo "servers up (UI http://127.0.0.1:$port/); Ctrl-C stops them"
	wait
fi
