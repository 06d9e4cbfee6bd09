#!/usr/bin/env bash
# taskapi's /metrics read by a real Prometheus parser (tests/metrics/check.py,
# with the prometheus_client package's text parser). Bounded (a few
# seconds); stops what it starts.
#
#   bash tests/metrics/run.sh          (after `cargo build`)
#
# Installs prometheus_client, pinned in requirements.txt, into a virtualenv
# under target/ on first use.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib.sh

venv=target/metrics-venv
python_venv "$venv" tests/metrics/requirements.txt prometheus_client

work=$(mktemp -d)
cleanup() {
  stop_taskapi
  rm -rf "$work"
}
trap cleanup EXIT

start_taskapi "$work" --metrics-addr 127.0.0.1:0
# The metrics line follows the listening line.
for _ in $(seq 100); do [ "$(wc -l < "$work/taskapi.log")" -ge 2 ] && break; sleep 0.05; done
metrics=$(sed -n 's/^metrics on //p' "$work/taskapi.log" | head -1)
"$venv/bin/python" tests/metrics/check.py "$taskapi_base" "$metrics"
