#!/usr/bin/env bash
# run.sh measures the kernel package's SGEMM implementations against
# OpenBLAS in one process (go test -tags openblas) at 1 and 2 threads and
# prints, for each benchmark, the median and the best GFLOP/s (wall clock)
# and the median GFLOP per CPU-second; see bench/kernel/README.md. On a
# shared machine the best wall-clock run and the CPU-time figure are the
# closer estimates of what the code does on idle cores.
# OpenBLAS is measured under the environment's OPENBLAS_CORETYPE and, for
# comparison only, under SkylakeX. Needs libopenblas-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${COUNT:-5}
impls='(openblas|avx512|avx2)$'

median() { # median of the numbers on standard input
	sort -g | awk '{ v[++n] = $1 } END { printf "%.1f", n % 2 ? v[(n+1)/2] : (v[n/2]+v[n/2+1])/2 }'
}

summary() { # reads "name wall cpu" lines, prints a row per name
	local lines name rows
	lines=$(cat)
	printf '%-52s %8s %8s %10s\n' benchmark median best per-cpu-s
	for name in $(cut -d' ' -f1 <<<"$lines" | sort -u); do
		rows=$(awk -v n="$name" '$1 == n' <<<"$lines")
		printf '%-52s %8s %8s %10s\n' "$name" \
			"$(cut -d' ' -f2 <<<"$rows" | median)" \
			"$(cut -d' ' -f2 <<<"$rows" | sort -g | tail -1)" \
			"$(cut -d' ' -f3 <<<"$rows" | median)"
	done
}

bench() { # bench ENV PATTERN BENCHTIME TAG: ENV is "" or VAR=VALUE
	env $1 go test -tags openblas -count "$count" -run '^$' -bench "$2" -benchtime "$3" ./kernel/ |
		awk -v tag="$4" '/GFLOP\/s/ {
			sub(/-[0-9]+$/, "", $1)
			for (i = 3; i < NF; i++) {
				if ($(i+1) == "GFLOP/s") wall = $i
				if ($(i+1) == "GFLOP/cpu-s") cpu = $i
			}
			print $1 tag, wall, cpu
		}'
}

echo "# $count runs each; GFLOP/s wall-clock median and best, GFLOP per CPU-second median"
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} unless marked (SkylakeX)"
{
	bench "" "Sgemm512$/./$impls" 20x ""
	bench "" "Sgemm512$/./generic$" 2x ""
	bench "" "Sgemm2048$/./$impls" 3x ""
	bench "" "SgemmMLP$/./$impls" 50x ""
	bench "OPENBLAS_CORETYPE=SkylakeX" "Sgemm(512|2048|MLP)$/./openblas$" 10x "(SkylakeX)"
} | sed 's/^Benchmark//' | summary
