#!/usr/bin/env bash
# Runs the README's walkthrough against a fresh server, twice in a row on
# the same database (tests/readme/check.py says what is checked). Needs
# curl, which it installs on Debian if missing. Bounded; stops what it
# starts.
#
#   bash tests/readme/run.sh          (after `cargo build`)
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib.sh
if ! command -v curl >/dev/null; then
  apt-get install -y --no-install-recommends curl \
    || { apt-get update && apt-get install -y --no-install-recommends curl; }
fi

work=$(mktemp -d)
cleanup() {
  stop_taskapi
  rm -rf "$work"
}
trap cleanup EXIT

start_taskapi "$work"
python3 tests/readme/check.py README.md "$taskapi_base"
