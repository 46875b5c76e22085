#!/usr/bin/env bash
# run.sh runs every benchmark of bench/ against its peer; see bench/README.md.
set -euo pipefail
bin=${1:-bin/mlenv}
go test -run '^$' -bench . -benchtime 1x ./... 
