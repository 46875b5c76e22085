#!/usr/bin/env bash
# run.sh measures the kernel package's SGEMM implementations against
# OpenBLAS in one process (go test -tags openblas) at 1 and 2 threads and
# prints the median GFLOP/s of each benchmark; see bench/kernel/README.md.
# OpenBLAS is measured under the environment's OPENBLAS_CORETYPE and, for
# comparison only, under SkylakeX. Needs libopenblas-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${COUNT:-5}
impls='(openblas|avx512|avx2)$'

median() { # reads "name value" lines, prints "name median" sorted by name
	sort -k1,1 -k2,2g | awk '
		function flush() { if (n) printf "%-60s %8.1f\n", name, (n%2 ? v[(n+1)/2] : (v[n/2]+v[n/2+1])/2) }
		$1 != name { flush(); name = $1; n = 0 }
		{ v[++n] = $2 }
		END { flush() }'
}

bench() { # bench ENV PATTERN BENCHTIME TAG: ENV is "" or VAR=VALUE
	env $1 go test -tags openblas -count "$count" -run '^$' -bench "$2" -benchtime "$3" ./kernel/ |
		awk -v tag="$4" '/GFLOP\/s/ { sub(/-[0-9]+$/, "", $1); print $1 tag, $5 }'
}

echo "# GFLOP/s, median of $count runs; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
{
	bench "" "Sgemm512$/./$impls" 20x ""
	bench "" "Sgemm512$/./generic$" 2x ""
	bench "" "Sgemm2048$/./$impls" 3x ""
	bench "" "SgemmMLP$/./$impls" 50x ""
	bench "OPENBLAS_CORETYPE=SkylakeX" "Sgemm(512|2048|MLP)$/./openblas$" 10x "(SkylakeX)"
} | sed 's/^Benchmark//' | median
