#!/usr/bin/env bash
# deps.sh installs the Debian packages that mlenv's build and tests need,
# skipping what is already present. It is idempotent and non-interactive.
set -euo pipefail

need=()
for pkg in "$@"; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
	echo "deps: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
