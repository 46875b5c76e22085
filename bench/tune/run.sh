#!/usr/bin/env bash
# run.sh compares mlenv's tuning samplers with Optuna 3.1 on the test
# functions of docs/tuning.md at 50 and 200 trials and prints a table of
# median best values (see bench/tune/README.md). Cases run JOBS at a time
# (default 2, one per core), each single-threaded, slowest first.
#
#   bench/tune/run.sh [path/to/mlenv]
#
# SEEDS (default 20) seeds per case; GP200_SEEDS (default 10) seeds for the
# Gaussian-process sampler at 200 trials, its slowest case.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
bin=$(mlenv_bin "${1:-bin/mlenv}")
seeds=${SEEDS:-20}
gp200=${GP200_SEEDS:-10}
jobs=${JOBS:-2}
functions="branin hartmann6 rosenbrock10 ackley10 mixed"
need_python optuna python3-optuna
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export GOMAXPROCS=1 OMP_NUM_THREADS=1

# One case per line: the command, run by bash with its JSON line going to a
# file of its own. Slowest cases first so that the two workers finish together.
{
	for f in hartmann6 branin; do
		echo "$bin bench tune --function $f --sampler gp --trials 200 --seeds $gp200 --workers 1 --json"
	done
	for n in 200 50; do
		for f in $functions; do
			echo "/usr/bin/python3 bench/tune/optuna_bench.py --function $f --sampler tpe --trials $n --seeds $seeds --json"
		done
	done
	for f in hartmann6 branin; do
		echo "$bin bench tune --function $f --sampler gp --trials 50 --seeds $seeds --workers 1 --json"
	done
	for n in 200 50; do
		for f in $functions; do
			echo "/usr/bin/python3 bench/tune/optuna_bench.py --function $f --sampler random --trials $n --seeds $seeds --json"
			for s in tpe tpe-tuned; do
				echo "$bin bench tune --function $f --sampler $s --trials $n --seeds $seeds --workers 1 --json"
			done
		done
	done
} | awk -v dir="$out" '{ printf "%s > %s/%03d.json\n", $0, dir, NR }' |
	xargs -P "$jobs" -I{} bash -c '{}'

cat "$out"/*.json >"$out/all.jsonl"
/usr/bin/python3 bench/tune/table.py "$out/all.jsonl"
