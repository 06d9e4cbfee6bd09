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
source tests/lib.sh

venv=target/wire-venv
python_venv "$venv" tests/wire/requirements.txt h11

work=$(mktemp -d)
cleanup() {
  stop_taskapi
  rm -rf "$work"
}
trap cleanup EXIT

start_taskapi "$work"
"$venv/bin/python" tests/wire/check.py "${taskapi_base#http://}"
