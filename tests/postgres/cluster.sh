#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, in a directory of its own:
#   tests/postgres/cluster.sh start DIR   # creates it on first use (and
#                                         # installs PostgreSQL if missing),
#                                         # starts it, prints its URL
#   tests/postgres/cluster.sh stop DIR    # stops it, keeping its data
#   tests/postgres/cluster.sh destroy DIR # stops it and removes DIR
# The restart test stops and starts the cluster under load with these.
# Debian's postgresql is installed when missing. The server runs as the
# `postgres` user (it refuses to run as root), listens on 127.0.0.1 only,
# on a free port, with fsync and synchronous_commit left on, so an
# acknowledged commit is on disk as in production.
set -euo pipefail

command=${1:?usage: cluster.sh start|stop|destroy DIR}
dir=${2:?usage: cluster.sh start|stop|destroy DIR}

bindir() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$found" ]; then
    echo "installing Debian's postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends postgresql >/dev/null \
      || { apt-get update >/dev/null && apt-get install -y --no-install-recommends postgresql >/dev/null; }
    found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  echo "$found"
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

bin=$(bindir)
data="$dir/data"

case "$command" in
  start)
    mkdir -p "$dir"
    if [ ! -d "$data" ]; then
      [ "$(id -u)" = 0 ] && chown postgres "$dir"
      if ! as_postgres test -w "$dir"; then
        echo "cluster.sh: the postgres user cannot write to $dir (is a parent private?)" >&2
        exit 1
      fi
      as_postgres "$bin/initdb" -D "$data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >/dev/null
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 400
fsync = on
synchronous_commit = on
CONF
      echo "$port" >"$dir/port"
    fi
    as_postgres "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 30 start >/dev/null
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
    ;;
  stop)
    as_postgres "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null
    ;;
  destroy)
    as_postgres "$bin/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "unknown command $command" >&2
    exit 2
    ;;
esac
