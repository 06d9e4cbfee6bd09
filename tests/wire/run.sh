#!/usr/bin/env bash
# taskapi's responses checked by h11 (tests/wire/check.py), an HTTP/1.1
# implementation independent of the server's own parser and of httparse.
# Bounded (a few seconds); stops what it starts.
#
#   bash tests/wire/run.sh          (after `cargo build`)
#
# Installs h11, pinned in requirements.txt, into a virtualenv under target/
# on first use.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/wire-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import h11' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --requirement tests/wire/requirements.txt
fi
binary=${TASKAPI_BIN:-target/debug/taskapi}

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
addr=$(head -1 "$work/taskapi.log" | sed -n 's/^taskapi listening on http:\/\///p')
"$venv/bin/python" tests/wire/check.py "$addr"
