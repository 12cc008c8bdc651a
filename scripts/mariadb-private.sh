#!/usr/bin/env bash
# Starts a private MariaDB server for the test suite: its own data directory and port under a
# temporary directory, root with an empty password, reachable on 127.0.0.1 only.
#   scripts/mariadb-private.sh start DIR   -> prints MYSQL_URL=mysql://root@127.0.0.1:PORT/
#   scripts/mariadb-private.sh stop DIR
# Installs Debian's mariadb-server when the server binaries are missing (needs root).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?data dir}

find_bin() { for b in "$@"; do command -v "$b" 2>/dev/null && return 0; [ -x "/usr/sbin/$b" ] && { echo "/usr/sbin/$b"; return 0; }; done; return 1; }

case "$cmd" in
start)
  if ! find_bin mariadbd mysqld >/dev/null; then
    echo "mariadb-server missing: installing it" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >&2
  fi
  server=$(find_bin mariadbd mysqld)
  installdb=$(find_bin mariadb-install-db mysql_install_db)
  mkdir -p "$dir"
  if [ ! -d "$dir/data/mysql" ]; then
    "$installdb" --no-defaults --datadir="$dir/data" --user="$(id -un)" \
      --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 \
      || { cat "$dir/install.log" >&2; exit 1; }
  fi
  # A free port: ask the kernel for one, then hand it to the server.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$server" --no-defaults --datadir="$dir/data" --socket="$dir/mysqld.sock" --port="$port" \
    --bind-address=127.0.0.1 --user="$(id -un)" --pid-file="$dir/mysqld.pid" \
    --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 --max-connections=500 \
    --local-infile=1 --log-error="$dir/error.log" >/dev/null 2>&1 &
  echo $! > "$dir/server.pid"
  for _ in $(seq 1 120); do
    if mysql --no-defaults -h127.0.0.1 -P"$port" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
      echo "MYSQL_URL=mysql://root@127.0.0.1:$port/"
      exit 0
    fi
    if ! kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
      echo "mariadbd exited during start-up:" >&2; tail -20 "$dir/error.log" >&2; exit 1
    fi
    sleep 0.5
  done
  echo "mariadbd did not accept connections within 60 s" >&2; tail -20 "$dir/error.log" >&2; exit 1
  ;;
stop)
  if [ -f "$dir/server.pid" ]; then
    pid=$(cat "$dir/server.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
