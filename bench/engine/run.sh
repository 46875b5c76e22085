#!/usr/bin/env bash
# run.sh measures mlenv's engine and PyTorch 1.13 (Debian python3-torch) on
# this machine in one go, at 1 and 2 threads, and prints the ratios.
#
#   bench/engine/run.sh [path/to/mlenv] [seconds]
#
# Both sides get the same thread count (GOMAXPROCS / kernel threads for
# mlenv; torch.set_num_threads, OMP_NUM_THREADS and OMP_WAIT_POLICY=PASSIVE
# for PyTorch). OPENBLAS_CORETYPE is left as the machine sets it.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-bin/mlenv}
secs=${2:-3}
if [[ ! -x $bin ]]; then
	bin=$(mktemp -d)/mlenv
	go build -o "$bin" ./cmd/mlenv
fi
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	echo "run.sh: PyTorch missing; run: apt-get install -y python3-torch" >&2
	exit 1
fi
out=$(mktemp)
# batch sizes: 512 for the MLP and DLRM (as in the issue), 64 for the CNN.
for spec in mlp:512 dlrm:512 cnn:64 gemm:512; do
	model=${spec%:*} batch=${spec#*:}
	for t in 1 2; do
		"$bin" bench engine --model "$model" --threads "$t" --batch "$batch" --seconds "$secs" --json >>"$out"
		OMP_NUM_THREADS=$t OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/engine/torch_bench.py \
			--model "$model" --threads "$t" --batch "$batch" --seconds "$secs" >>"$out"
	done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def get(engine, model, t):
    return next(r for r in rows if r["engine"].startswith(engine) and r["model"] == model and r["threads"] == t)
print("| figure | threads | mlenv | PyTorch | ratio |")
print("|---|---|---|---|---|")
for model in ("mlp", "dlrm", "cnn"):
    for t in (1, 2):
        m, p = get("mlenv", model, t), get("pytorch", model, t)
        for key, what in (("train_examples_per_s", "training"), ("infer_examples_per_s", "inference")):
            label = f"{model.upper()} {what} (batch {m['batch']}), examples/s"
            print(f"| {label} | {t} | {m[key]:,.0f} | {p[key]:,.0f} | {m[key] / p[key]:.2f}x |")
for t in (1, 2):
    m, p = get("mlenv", "gemm", t), get("pytorch", "gemm", t)
    for n in ("512", "2048"):
        print(f"| SGEMM {n}^3, GFLOP/s ({m['kernel']}) | {t} | {m['gflops'][n]:.1f} | {p['gflops'][n]:.1f} | {m['gflops'][n] / p['gflops'][n]:.2f}x |")
PY
rm -f "$out"
