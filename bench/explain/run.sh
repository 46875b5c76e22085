#!/usr/bin/env bash
# run.sh measures integrated gradients of the DLRM-style model with mlenv
# (`mlenv bench explain`) and PyTorch 1.13 (Debian python3-torch) on this
# machine, at 1 and 2 threads, and prints the ratios mlenv / PyTorch.
#
#   bench/explain/run.sh [path/to/mlenv] [examples] [repeats]
#
# Defaults: bin/mlenv (built if missing), 10,000 examples, 1 repeat; 50
# Gauss-Legendre steps, the zero baseline, 2,048 points per pass on both
# sides. Each figure is the median over repeats, mlenv and PyTorch
# interleaved. Both sides get the same threads (GOMAXPROCS and kernel
# threads; torch.set_num_threads, OMP_NUM_THREADS, OMP_WAIT_POLICY=PASSIVE).
# Two ratios are printed: wall-clock examples/s, and examples per CPU-second,
# which moves far less with other load on a shared machine. PyTorch runs
# with OPENBLAS_CORETYPE as the machine sets it and once more with
# OPENBLAS_CORETYPE=SkylakeX, under which its OpenBLAS uses AVX-512 (see
# /work/shared/RECIPES.md); each gets its own rows.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
bin=$(mlenv_bin "${1:-bin/mlenv}")
examples=${2:-10000}
repeats=${3:-1}
need_python torch python3-torch
out=$(mktemp)
trap 'rm -f "$out"' EXIT
torch() { # threads, then environment assignments
	local t=$1
	shift
	env "$@" OMP_NUM_THREADS="$t" OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/explain/torch_ig_bench.py \
		--threads "$t" --examples "$examples"
}
for ((r = 0; r < repeats; r++)); do
	for t in 1 2; do
		"$bin" bench explain --threads "$t" --examples "$examples" --json >>"$out"
		torch "$t" >>"$out"
		torch "$t" OPENBLAS_CORETYPE=SkylakeX >>"$out"
	done
done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def name(r):
    if r["engine"] != "pytorch":
        return r["engine"]
    return "pytorch" + (" SkylakeX" if r.get("openblas_coretype") == "SkylakeX" else "")
print(f"{'threads':>7} {'peer':<17} {'mlenv ex/s':>11} {'peer ex/s':>10} {'ratio':>6} {'mlenv ex/cpu-s':>15} {'peer ex/cpu-s':>14} {'ratio':>6}")
for t in sorted({r["threads"] for r in rows}):
    med = lambda n, key: statistics.median(r[key] for r in rows if name(r) == n and r["threads"] == t)
    m, mc = med("mlenv", "examples_per_s"), med("mlenv", "examples_per_cpu_s")
    for peer in ("pytorch", "pytorch SkylakeX"):
        p, pc = med(peer, "examples_per_s"), med(peer, "examples_per_cpu_s")
        print(f"{t:>7} {peer:<17} {m:>11.0f} {p:>10.0f} {m / p:>5.2f}x {mc:>15.0f} {pc:>14.0f} {mc / pc:>5.2f}x")
errs = {name(r): r["completeness_mean_error"] for r in rows}
print(f"{len(rows) // 6} repeat(s); completeness mean error at these steps (no refinement):",
      ", ".join(f"{k} {100 * v:.2f}%" for k, v in sorted(errs.items())))
PY
