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
source tests/lib.sh

work=$(mktemp -d)
cleanup() {
  stop_taskapi
  rm -rf "$work"
}
trap cleanup EXIT

# The deadlines are raised so that the clients stay for the whole check;
# that they are enforced is tested in tests/it/ with short values.
start_taskapi "$work" --workers 4 \
  --keep-alive-timeout 60 --request-head-timeout 60 --request-body-timeout 60
# The client opens 2,500 sockets; the default soft limit is often 1,024.
ulimit -n "$(ulimit -Hn)"
python3 tests/slow/check.py "${taskapi_base#http://}" "$taskapi_pid"
