#!/usr/bin/env bash
# 2,000 idle keep-alive connections and 500 slow clients against taskapi
# directly (no proxy): normal requests still answer at once, the server's
# thread count never moves from its baseline, and a third round of the
# same clients leaves memory where the second left it. Bounded (about 45 s);
# stops what it starts.
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

# The deadlines are raised so that the clients stay for the whole check;
# that they are enforced is tested in tests/it/ with short values.
"$binary" --addr 127.0.0.1:0 --db "$work/taskapi.db" --workers 4 \
  --keep-alive-timeout 60 --request-head-timeout 60 --request-body-timeout 60 \
  2> "$work/taskapi.log" &
pid=$!
for _ in $(seq 100); do [ -s "$work/taskapi.log" ] && break; sleep 0.05; done
addr=$(head -1 "$work/taskapi.log" | sed -n 's/^taskapi listening on http:\/\///p')
# The client opens 2,500 sockets; the default soft limit is often 1,024.
ulimit -n "$(ulimit -Hn)"
python3 tests/slow/check.py "$addr" "$pid"
