#!/usr/bin/env bash
# deploy/nginx.conf in front of taskapi, attacked on loopback: the attacks
# are stopped at nginx while normal requests pass, over kept-alive upstream
# connections. Bounded (about 15 s); stops what it starts.
#
#   bash tests/proxy/run.sh          (after `cargo build`)
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  apt-get install -y --no-install-recommends nginx-light \
    || { apt-get update && apt-get install -y --no-install-recommends nginx-light; }
fi
nginx=$(command -v nginx || echo /usr/sbin/nginx)
binary=${TASKAPI_BIN:-target/debug/taskapi}

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Two workers, so that holding two would be enough to starve taskapi.
"$binary" --addr 127.0.0.1:0 --db "$work/taskapi.db" --workers 2 2> "$work/taskapi.log" &
pids+=($!)
taskapi_pid=$!
for _ in $(seq 100); do [ -s "$work/taskapi.log" ] && break; sleep 0.05; done
upstream=$(head -1 "$work/taskapi.log" | sed -n 's/^taskapi listening on http:\/\///p')

proxy_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The shipped file, with this run's addresses and files under $work.
sed -e "s/127.0.0.1:8000/$upstream/" -e "s/127.0.0.1:8080/127.0.0.1:$proxy_port/" \
  -e "s|^events {|pid $work/nginx.pid;\nerror_log $work/error.log;\ndaemon off;\nevents {|" \
  deploy/nginx.conf > "$work/nginx.conf"
"$nginx" -p "$work" -c "$work/nginx.conf" -e "$work/error.log" &
pids+=($!)

python3 tests/proxy/check.py "127.0.0.1:$proxy_port" "$upstream" "$taskapi_pid"
