#!/bin/sh
# ASHA against random search without early stopping, on the synthetic CTR
# MLP of examples/ctr-mlp-tune.yaml (learning rate, width, dropout,
# weight decay). Both studies sample the same points (random sampler, same
# seed) unless ASHA_SAMPLER says otherwise; the ASHA study stops weak
# trials at 150 and 450 of 1350 steps. Prints each study's best validation
# AUC and total training steps.
#
#   bench/tune/asha/run.sh [TRIALS] [SEED]
#
# ASHA_SAMPLER=tpe gives the ASHA study the TPE sampler instead of the
# random one; PRUNER=hyperband (or median) replaces ASHA. With BENCH_OUT=DIR the two studies' JSON summaries are
# copied to DIR.
set -eu
trials=${1:-12}
seed=${2:-1}
root=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/mlenv" "$root/cmd/mlenv"
cd "$work"
mkdir mlenv-data
./mlenv data synth --rows 100000 --seed 1 --multi-hot --out mlenv-data/ctr-train.parquet >/dev/null
./mlenv data synth --rows 10000 --seed 2 --multi-hot --out mlenv-data/ctr-valid.parquet >/dev/null
sed "s/^  trials: .*/  trials: $trials\n  seed: $seed/" "$root/examples/ctr-mlp-tune.yaml" >tune.yaml
./mlenv tune tune.yaml --no-tracking --sampler random --pruner none --parallel 2 --study none --json 2>/dev/null >none.json
./mlenv tune tune.yaml --no-tracking --sampler "${ASHA_SAMPLER:-random}" --pruner "${PRUNER:-asha}" --parallel 2 --study asha --json 2>/dev/null >asha.json
/usr/bin/python3 - <<'PY'
import json
full, asha = (json.load(open(f + ".json")) for f in ("none", "asha"))
print("study            best_auc   total_steps")
for name, s in (("random, no stop", full), ("early stopping", asha)):
    print(f"{name:16} {s['best']['value']:.5f}   {s['total_steps']}")
gap = (full['best']['value'] - asha['best']['value']) / full['best']['value']
print(f"early stopping: best AUC {100*gap:.2f}% below full budget, {asha['total_steps']/full['total_steps']:.3f} of its steps")
PY
if [ -n "${BENCH_OUT:-}" ]; then cp none.json asha.json "$BENCH_OUT"; fi
