#!/usr/bin/env bash
# run.sh compares mlenv's tuning samplers with Optuna 3.1 on the test
# functions of docs/tuning.md at 50 and 200 trials and prints a table of
# median best values (see bench/tune/README.md). Optuna runs on one core in
# the background while mlenv runs on the other.
#
#   bench/tune/run.sh [path/to/mlenv]
#
# SEEDS (default 20) seeds per case; GP200_SEEDS (default 10) seeds for the
# Gaussian-process sampler at 200 trials, its slowest case.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-bin/mlenv}
seeds=${SEEDS:-20}
gp200=${GP200_SEEDS:-10}
functions="branin hartmann6 rosenbrock10 ackley10 mixed"
if [ ! -x "$bin" ]; then
	go build -o "$bin" ./cmd/mlenv
fi
if ! /usr/bin/python3 -c 'import optuna' 2>/dev/null; then
	echo "run.sh: Optuna is missing: apt-get install -y python3-optuna" >&2
	exit 1
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export GOMAXPROCS=1 OMP_NUM_THREADS=1

(
	for n in 50 200; do
		for f in $functions; do
			for s in tpe random; do
				/usr/bin/python3 bench/tune/optuna_bench.py --function "$f" --sampler "$s" --trials "$n" --seeds "$seeds" --json
			done
		done
	done >"$out/optuna.jsonl"
) &
optuna=$!

for n in 50 200; do
	for f in $functions; do
		for s in tpe tpe-tuned; do
			"$bin" bench tune --function "$f" --sampler "$s" --trials "$n" --seeds "$seeds" --workers 1 --json
		done
	done
	k=$seeds
	if [ "$n" = 200 ]; then k=$gp200; fi
	for f in branin hartmann6; do
		"$bin" bench tune --function "$f" --sampler gp --trials "$n" --seeds "$k" --workers 1 --json
	done
done >"$out/mlenv.jsonl"
wait "$optuna"

/usr/bin/python3 bench/tune/table.py "$out/mlenv.jsonl" "$out/optuna.jsonl"
