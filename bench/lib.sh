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

# start_tracking BIN DB DIR PORT starts `BIN server` on the database DB
# with its artifacts in DIR/artifacts and its log in DIR/server.log, on
# 127.0.0.1:PORT; it sets server to the server's PID and returns once the
# server answers.
start_tracking() {
	"$1" server --port "$4" --db "$2" --artifacts "$3/artifacts" 2>"$3/server.log" &
	server=$!
	for _ in $(seq 50); do
		curl -sf "http://127.0.0.1:$4/health" >/dev/null && return
		sleep 0.1
	done
	echo "${0##*/}: the server on port $4 did not answer; see $3/server.log" >&2
	return 1
}
