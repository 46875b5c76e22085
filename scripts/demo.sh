#!/usr/bin/env bash
# demo.sh runs mlenv's main job on embedded defaults; it grows with the project.
set -euo pipefail
bin=${1:-bin/mlenv}
"$bin" version
