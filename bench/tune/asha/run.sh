#!/bin/sh
# ASHA against random search without early stopping, on the Fashion-MNIST
# MLP of fashion-mlp-tune.yaml (learning rate, widths, dropout, weight
# decay; 9 epochs at full budget). See README.md.
#
#   bench/tune/asha/run.sh [POOL] [N] [SEED]
#
# 1. A random-search study of POOL trials (default 72), every one trained
#    for the full 9 epochs, two at a time: the full-budget records.
# 2. A random + ASHA study (rungs at 1, 3 and 9 epochs, eta 3) of N trials
#    (default 24) with the same sampler seed, so the same first N points,
#    one at a time (so that it is deterministic).
# 3. Both compared: the best accuracy and the epochs trained of random
#    search over those N points against ASHA's, then a replay (./replay)
#    of ASHA over 300 draws of N of the POOL recorded trials.
#
# With BENCH_OUT=DIR the studies' JSON summaries and trial files are
# copied to DIR.
set -eu
pool=${1:-72}
n=${2:-24}
seed=${3:-1}
root=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mlenv" "$root/cmd/mlenv"
go build -o "$work/replay" "$root/bench/tune/asha/replay"
cd "$work"
sed "s/^  trials: .*/  trials: $pool\n  seed: $seed/" "$root/bench/tune/asha/fashion-mlp-tune.yaml" >tune.yaml
./mlenv tune tune.yaml --no-tracking --pruner none --parallel 2 --study full --json 2>full.log >full.json
./mlenv tune tune.yaml --no-tracking --pruner asha --parallel 1 --trials "$n" --study asha --json 2>asha.log >asha.json
/usr/bin/python3 - "$n" <<'PY'
import json, sys
n = int(sys.argv[1])
full, asha = (json.load(open(f + ".json")) for f in ("full", "asha"))
first = [t for t in full["trials"] if t["number"] < n]
best = max(t["value"] for t in first)
steps = sum(t["steps"] for t in first)
epoch = 469
print(f"study                     best_accuracy  epochs_trained")
print(f"random, {n} trials, full    {best:.4f}         {steps / epoch:.1f}")
print(f"random + ASHA, {n} trials   {asha['best']['value']:.4f}         {asha['total_steps'] / epoch:.1f}")
print(f"ASHA: best {100 * (best - asha['best']['value']) / best:.2f}% below random search's, {asha['total_steps'] / steps:.3f} of its epochs")
print(f"best of all {len(full['trials'])} full-budget trials: {full['best']['value']:.4f}")
PY
./replay -study .mlenv/studies/full -n "$n" -m "$n" -min 469 -eta 3 -draws 300
if [ -n "${BENCH_OUT:-}" ]; then
	cp full.json asha.json "$BENCH_OUT"
	cp .mlenv/studies/full/trials.jsonl "$BENCH_OUT/full-trials.jsonl"
	cp .mlenv/studies/asha/trials.jsonl "$BENCH_OUT/asha-trials.jsonl"
fi
