#!/usr/bin/env bash
# ctr_bar.sh checks the synthetic click-through quality bar: it writes
# ROWS training rows (default 10,000,000, seed 3) and 100,000 validation
# rows (seed 2), both with the tags column, trains
# examples/ctr-{logistic,dlrm,dcn-v2}.yaml on them one after the other, and
# prints one JSON line per model: its validation AUC, the validation file's
# Bayes-optimal AUC and the AUC of the true click probability on the same
# validation labels, and the wall time. Each run's evaluation lines go to
# SPEC.log there.
#
#   bench/train/ctr_bar.sh [path/to/mlenv] [ROWS]
#
# The data go to $CTR_BAR_DIR (default a temporary directory); a training
# file already there is reused. 10,000,000 rows take 0.95 GB of Parquet.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$repo/bin/mlenv}
rows=${2:-10000000}
if [[ ! -x $bin ]]; then
	bin=$(mktemp -d)/mlenv
	(cd "$repo" && go build -o "$bin" ./cmd/mlenv)
fi
work=${CTR_BAR_DIR:-$(mktemp -d)}
mkdir -p "$work/mlenv-data"
cd "$work"
if [[ ! -f mlenv-data/ctr-train.parquet ]]; then
	"$bin" data synth --rows "$rows" --seed 3 --multi-hot --out mlenv-data/ctr-train.parquet >/dev/null
fi
"$bin" data synth --rows 100000 --seed 2 --multi-hot --out mlenv-data/ctr-valid.parquet >/dev/null
field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p" "$2"; }
bayes=$(field bayes_auc mlenv-data/ctr-valid.parquet.json)
sample=$(field sample_auc mlenv-data/ctr-valid.parquet.json)
trained=$(field rows mlenv-data/ctr-train.parquet.json)
for spec in logistic dlrm dcn-v2; do
	rm -rf "ck/$spec"
	start=$(date +%s.%N)
	"$bin" train "$repo/examples/ctr-$spec.yaml" --no-tracking --json \
		--out "models/$spec" --checkpoint-dir "ck/$spec" >"$spec.json" 2>"$spec.log"
	end=$(date +%s.%N)
	auc=$(field auc "$spec.json")
	echo "{\"spec\": \"ctr-$spec\", \"train_rows\": $trained, \"auc\": $auc, \"bayes_auc\": $bayes, \"sample_auc\": $sample, \"wall_s\": $(echo "$end - $start" | bc)}"
done
