#!/usr/bin/env bash
# run.sh measures mlenv's engine and PyTorch 1.13 (Debian python3-torch) on
# this machine in one go, at 1 and 2 threads, and prints a table of ratios.
#
#   bench/engine/run.sh [path/to/mlenv] [seconds] [repeats]
#
# Each figure is the median of `repeats` runs (default 1), mlenv and
# PyTorch interleaved. Both sides get the same thread count (GOMAXPROCS and
# kernel threads for mlenv; torch.set_num_threads, OMP_NUM_THREADS and
# OMP_WAIT_POLICY=PASSIVE for PyTorch). OPENBLAS_CORETYPE is left as the
# machine sets it; PyTorch's MLP is measured once more with
# OPENBLAS_CORETYPE=SkylakeX, the setting under which its OpenBLAS uses
# AVX-512 (see /work/shared/RECIPES.md), and shown as its own rows.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
bin=$(mlenv_bin "${1:-bin/mlenv}")
secs=${2:-3}
repeats=${3:-1}
need_python torch python3-torch
out=$(mktemp)
trap 'rm -f "$out"' EXIT
torch() { # threads, then torch_bench.py arguments
	local t=$1
	shift
	OMP_NUM_THREADS=$t OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/engine/torch_bench.py --threads "$t" "$@"
}
for ((r = 0; r < repeats; r++)); do
	# batch sizes: 512 for the MLP and DLRM (as in the issue), 64 for the CNN.
	for spec in mlp:512 dlrm:512 cnn:64 gemm:512; do
		model=${spec%:*} batch=${spec#*:}
		for t in 1 2; do
			"$bin" bench engine --model "$model" --threads "$t" --batch "$batch" --seconds "$secs" --json >>"$out"
			torch "$t" --model "$model" --batch "$batch" --seconds "$secs" >>"$out"
			if [[ $model == mlp ]]; then
				OPENBLAS_CORETYPE=SkylakeX torch "$t" --model mlp --batch "$batch" --seconds "$secs" |
					sed 's/"engine": "pytorch/"engine": "skylakex pytorch/' >>"$out"
			fi
		done
	done
done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]

def med(engine, model, t, key, sub=None):
    vals = [r[key][sub] if sub else r[key] for r in rows
            if r["engine"].startswith(engine) and r["model"] == model and r["threads"] == t]
    return statistics.median(vals)

print("| figure | threads | mlenv | PyTorch | ratio |")
print("|---|---|---|---|---|")
for model in ("mlp", "dlrm", "cnn"):
    batch = next(r["batch"] for r in rows if r["model"] == model)
    peers = [("pytorch", "")] + ([("skylakex", ", PyTorch with OPENBLAS_CORETYPE=SkylakeX")] if model == "mlp" else [])
    for peer, note in peers:
        for t in (1, 2):
            for key, what in (("train_examples_per_s", "training"), ("infer_examples_per_s", "inference")):
                m, p = med("mlenv", model, t, key), med(peer, model, t, key)
                print(f"| {model.upper()} {what} (batch {batch}{note}), examples/s | {t} | {m:,.0f} | {p:,.0f} | {m / p:.2f}x |")
kernel = next(r["kernel"] for r in rows if r["engine"] == "mlenv")
for t in (1, 2):
    for n in ("512", "2048"):
        m, p = med("mlenv", "gemm", t, "gflops", n), med("pytorch", "gemm", t, "gflops", n)
        print(f"| SGEMM {n}^3, GFLOP/s (mlenv kernel {kernel}) | {t} | {m:.1f} | {p:.1f} | {m / p:.2f}x |")
PY
