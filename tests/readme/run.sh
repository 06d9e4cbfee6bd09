#!/usr/bin/env bash
# Runs the README's walkthrough against a fresh server, twice in a row on
# the same database (tests/readme/check.py says what is checked). Needs
# curl, which it installs on Debian if missing. Bounded; stops what it
# starts.
#
#   bash tests/readme/run.sh          (after `cargo build`)
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${TASKAPI_BIN:-target/debug/taskapi}
if ! command -v curl >/dev/null; then
  apt-get install -y --no-install-recommends curl \
    || { apt-get update && apt-get install -y --no-install-recommends curl; }
fi

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$binary" --addr 127.0.0.1:0 --db "$work/taskapi.db" 2> "$work/taskapi.log" &
pid=$!
for _ in $(seq 100); do [ -s "$work/taskapi.log" ] && break; sleep 0.05; done
base=$(head -1 "$work/taskapi.log" | sed -n 's/^taskapi listening on //p')
python3 tests/readme/check.py README.md "$base"
