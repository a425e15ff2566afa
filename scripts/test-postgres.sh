#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests of several replicas
# (tests/processes/cluster/): initdb in a directory of its own, run as an unprivileged
# user, listening on loopback only, on a free port.
#
#   scripts/test-postgres.sh start [DIR]   # prints the variables to export
#   scripts/test-postgres.sh stop  [DIR]
#
# DIR defaults to /tmp/qoswatch-test-postgres (the server's user must reach it). `start` writes DIR/env, which
# `.ci/run` sources before `cargo test`:
#   QOSWATCH_TEST_DATABASE_URL  the server, as the `qoswatch` superuser
#   QOSWATCH_TEST_PG_CTL        pg_ctl for this data directory, as its user
#                               (the database-restart test restarts it)
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:-start}
dir=$(realpath -m "${2:-${TMPDIR:-/tmp}/qoswatch-test-postgres}")

bindir=""
for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$candidate/initdb" ]; then bindir=$candidate; break; fi
done
if [ -z "$bindir" ] && command -v pg_config >/dev/null 2>&1; then
  bindir=$(pg_config --bindir)
  [ -x "$bindir/initdb" ] || bindir=""
fi
if [ -z "$bindir" ]; then
  echo "PostgreSQL's server is not installed: apt-get install postgresql (Debian's package)" >&2
  exit 1
fi

# The server refuses to run as root: run it as `postgres` (Debian's package
# creates it) or as a user made for the purpose.
as_user=()
if [ "$(id -u)" = 0 ]; then
  user=postgres
  if ! id "$user" >/dev/null 2>&1; then
    user=qoswatch-test
    id "$user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
  fi
  as_user=(runuser -u "$user" --)
fi

case "$action" in
  start)
    if [ -f "$dir/env" ] && [ -f "$dir/data/postmaster.pid" ]; then
      "${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    mkdir -p "$dir/socket"
    [ ${#as_user[@]} -eq 0 ] || chown -R "$user" "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${as_user[@]}" "$bindir/initdb" -D "$dir/data" -U qoswatch --auth=trust -E UTF8 >"$dir/initdb.log"
    cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/socket'
max_connections = 300
# Test data: speed over durability.
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    "${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
    {
      echo "QOSWATCH_TEST_DATABASE_URL='postgres://qoswatch@127.0.0.1:$port/postgres'"
      echo "QOSWATCH_TEST_PG_CTL='${as_user[*]} $bindir/pg_ctl -D $dir/data -l $dir/server.log'"
    } >"$dir/env"
    echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $dir/data)" >&2
    sed 's/^/export /' "$dir/env"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      "${as_user[@]}" "$bindir/pg_ctl" -D "$dir/data" stop -m fast >/dev/null 2>&1 || true
    fi
    ;;
  *)
    echo "usage: $0 start|stop [DIR]" >&2
    exit 2
    ;;
esac
