#!/usr/bin/env bash
# run.sh runs every benchmark of bench/ against its peer on this machine, in
# one go, and keeps each one's output under bench/out/ (git-ignored). The
# tables in bench/README.md come from these runs. It takes about an hour on
# 2 cores; name benchmarks to run fewer:
#
#   bench/run.sh BIN [engine kernel explain tracking serve train tune asha ui distributed]
#
# The peers come from Debian: PyTorch 1.13 (python3-torch), Optuna 3.1
# (python3-optuna), OpenBLAS (libopenblas-dev), Fashion-MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-bin/mlenv}")
shift || true
known=(engine kernel explain tracking serve train tune asha ui distributed)
all=("${known[@]}")
(($#)) && all=("$@")

scripts/deps.sh python3-torch python3-optuna libopenblas-dev dataset-fashion-mnist curl jq chromium
mkdir -p bench/out
for b in "${all[@]}"; do
	echo "== $b"
	case $b in
	engine) bench/engine/run.sh "$bin" 3 3 ;;
	kernel) COUNT=5 bench/kernel/run.sh ;;
	explain) bench/explain/run.sh "$bin" 10000 3 ;;
	tracking) bench/tracking/run.sh "$bin" ;;
	serve) bench/serve/run.sh 4 ;;
	train) bench/train/run.sh "$bin" ;;
	tune) bench/tune/run.sh "$bin" ;;
	asha) bench/tune/asha/run.sh ;;
	ui) MLENV_TEST_CHROMIUM=required go test -run '^$' -bench . -benchtime 3x ./bench/ui/ ;;
	distributed) go test -run '^$' -bench . -benchtime 1x ./bench/distributed/ ;;
	*) echo "bench/run.sh: unknown benchmark $b (want one of: ${known[*]})" >&2; exit 2 ;;
	esac 2>&1 | tee "bench/out/$b.txt"
done
