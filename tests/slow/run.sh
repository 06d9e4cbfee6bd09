#!/usr/bin/env bash
# 500 slow and idle clients against taskapi directly (no proxy): normal
# requests still answer within a second, and threads and memory return to
# baseline after the clients leave. Bounded (about 25 s); stops what it
# starts.
#
#   bash tests/slow/run.sh          (after `cargo build`)
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${TASKAPI_BIN:-target/debug/taskapi}

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Four workers: two may read slow bodies, two always serve the rest.
"$binary" --addr 127.0.0.1:0 --db "$work/taskapi.db" --workers 4 2> "$work/taskapi.log" &
pid=$!
for _ in $(seq 100); do [ -s "$work/taskapi.log" ] && break; sleep 0.05; done
addr=$(head -1 "$work/taskapi.log" | sed -n 's/^taskapi listening on http:\/\///p')
# The supervisor's child is the server process that holds the connections.
server=$(pgrep -P "$pid" | head -1)
python3 tests/slow/check.py "$addr" "$server"
