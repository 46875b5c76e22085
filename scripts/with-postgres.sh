#!/usr/bin/env bash
# with-postgres.sh CMD [ARGS...] starts a throw-away PostgreSQL cluster on a
# free loopback port, exports its DSN as MLENV_TEST_POSTGRES, runs CMD, and
# stops and removes the cluster however CMD ends. Used by `make test` so the
# store tests run against a real PostgreSQL as well as SQLite.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [[ -z "$bindir" ]]; then
	echo "with-postgres: PostgreSQL is not installed (scripts/deps.sh postgresql)" >&2
	exit 1
fi

dir=$(mktemp -d /tmp/mlenv-pg.XXXXXX)
chown postgres: "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
	echo $((20000 + RANDOM % 20000)))

stop() {
	runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap stop EXIT

runuser -u postgres -- "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust >"$dir/initdb.log" 2>&1 ||
	{ cat "$dir/initdb.log" >&2; exit 1; }
runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -w -l "$dir/server.log" \
	-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on" start >/dev/null ||
	{ cat "$dir/server.log" >&2; exit 1; }
runuser -u postgres -- "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres mlenv_test

export MLENV_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/mlenv_test?sslmode=disable"
echo "with-postgres: PostgreSQL ready on 127.0.0.1:$port"
"$@"
