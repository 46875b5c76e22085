#!/usr/bin/env bash
# run.sh times the examples/fashion-mlp.yaml job end to end in mlenv and in
# PyTorch 1.13 (bench/train/fashion_mlp_torch.py, same model, data,
# optimizer, schedule, batch size and epochs) at 1 and 2 threads, one after
# the other on this machine, and runs `mlenv bench train`.
#
#   bench/train/run.sh [path/to/mlenv]
#
# Needs: apt-get install -y dataset-fashion-mnist python3-torch
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
bin=$(mlenv_bin "${1:-bin/mlenv}")
need_python torch python3-torch
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in 1 2; do
	start=$(date +%s.%N)
	GOMAXPROCS=$t "$bin" train examples/fashion-mlp.yaml --no-tracking --json \
		--out "$work/model" --checkpoint-dir "$work/ck" >"$work/mlenv.json"
	end=$(date +%s.%N)
	acc=$(sed -n 's/.*"accuracy": \([0-9.]*\).*/\1/p' "$work/mlenv.json")
	echo "{\"engine\": \"mlenv\", \"threads\": $t, \"wall_s\": $(echo "$end - $start" | bc), \"accuracy\": $acc}"
	rm -rf "$work/ck"
	OMP_NUM_THREADS=$t OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/train/fashion_mlp_torch.py --threads "$t"
done
for t in 1 2; do
	"$bin" bench train --threads "$t"
done
