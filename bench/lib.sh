# lib.sh holds what the benchmark scripts share. Source it from the
# repository root: . bench/lib.sh

# mlenv_bin PATH prints PATH when it is an executable mlenv; otherwise it
# builds mlenv from this checkout into a temporary directory and prints
# that binary's path.
mlenv_bin() {
	if [[ -x $1 ]]; then
		echo "$1"
		return
	fi
	local bin
	bin=$(mktemp -d)/mlenv
	go build -o "$bin" ./cmd/mlenv
	echo "$bin"
}

# need_python MODULE PACKAGE exits with the command that installs PACKAGE
# when Debian's Python (/usr/bin/python3, which sees apt's python3-*
# packages) cannot import MODULE.
need_python() {
	if ! /usr/bin/python3 -c "import $1" 2>/dev/null; then
		echo "${0##*/}: $1 missing; run: apt-get install -y $2" >&2
		exit 1
	fi
}
