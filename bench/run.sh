#!/usr/bin/env bash
# The taskapi benchmark: one command, bounded in time, cleans up after itself.
#
#   bash bench/run.sh            (DURATION=10s CONNECTIONS=32 THREADS=2 by default)
#
# It builds release binaries, seeds a temporary database (1,000 users,
# 100,000 tasks; the user `bench` has 50 tasks in one project), starts a bare
# tiny_http "hello" server (examples/hello.rs, same tiny_http) and taskapi,
# and loads each with wrk for every scenario. It prints a table (req/s, p50,
# p99, server RSS peak during the scenario, ratio to the hello baseline of
# the same run), writes it to bench/results.md and draws docs/benchmark.svg.
#
# taskapi answers every request with `Connection: close` (see README), so
# its scenarios are compared with hello run the same way (wrk sending
# `Connection: close`); hello with keep-alive is printed too, as the
# ceiling of tiny_http itself.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
connections=${CONNECTIONS:-32}
threads=${THREADS:-2}

if ! command -v wrk >/dev/null; then
  apt-get install -y --no-install-recommends wrk \
    || { apt-get update && apt-get install -y --no-install-recommends wrk; }
fi
cargo build --release --quiet --bin taskapi --example hello --example seed

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

target/release/examples/seed --db "$work/bench.db" \
  --users 1000 --tasks 100000 --bench-tasks 50 --projects 1 2>/dev/null

# Waits for "... listening on http://HOST:PORT" as the first line of $1.
base_url() {
  for _ in $(seq 200); do
    if [ -s "$1" ]; then
      head -1 "$1" | sed -n 's/.* listening on \(http:\/\/.*\)$/\1/p'
      return
    fi
    sleep 0.05
  done
}

# Prints the highest VmRSS (kB) of pid $1 until the file $2 appears.
sample_rss() {
  local peak=0 rss
  while [ ! -e "$2" ]; do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    sleep 0.1
  done
  echo "$peak"
}

rows="$work/rows.tsv"
: > "$rows"
# run NAME PID URL [wrk options...]: one scenario, one row.
run() {
  local name=$1 pid=$2 url=$3
  shift 3
  local done_flag="$work/done.$RANDOM"
  sample_rss "$pid" "$done_flag" > "$work/rss" &
  local sampler=$!
  wrk -t"$threads" -c"$connections" -d"$duration" --latency "$@" "$url" > "$work/wrk.txt" 2>&1 || true
  touch "$done_flag"
  wait "$sampler"
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
  errors=$(awk '/Non-2xx/ {print $NF} /Socket errors/ {print "socket:" $4 $6 $8 $10}' "$work/wrk.txt" | paste -sd' ' -)
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "${rps:-0}" "${p50:--}" "${p99:--}" "$(cat "$work/rss")" "${errors:-}" >> "$rows"
  printf '  %-34s %10s req/s  p50 %-9s p99 %-9s\n' "$name" "${rps:-0}" "${p50:--}" "${p99:--}" >&2
}

echo "hello (bare tiny_http):" >&2
target/release/examples/hello 127.0.0.1:0 8 2> "$work/hello.log" &
pids+=($!)
hello_pid=$!
hello=$(base_url "$work/hello.log")
run "hello, keep-alive" "$hello_pid" "$hello/"
run "hello, Connection: close" "$hello_pid" "$hello/" -H "Connection: close"

echo "taskapi:" >&2
target/release/taskapi --addr 127.0.0.1:0 --db "$work/bench.db" \
  --login-max-failures 1000000 --login-max-failures-per-address 1000000 \
  2> "$work/taskapi.log" &
pids+=($!)
supervisor_pid=$!
api=$(base_url "$work/taskapi.log")
# taskapi runs as a supervisor and the server process it starts; the
# server is the one under load.
taskapi_pid=$(pgrep -P "$supervisor_pid" | head -1)
idle_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$taskapi_pid/status")
supervisor_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$supervisor_pid/status")
token=$(curl -sf "$api/auth/login" -d username=bench -d password=password-bench \
  | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
task_id=$(curl -sf "$api/tasks?limit=1&offset=25" -H "Authorization: Bearer $token" \
  | sed 's/^\[{"id":\([0-9]*\).*/\1/')
auth=(-H "Authorization: Bearer $token")

cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"title": "benchmark task", "description": "made by wrk", "priority": 3}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat > "$work/patch.lua" <<LUA
wrk.method = "PATCH"
wrk.body = '{"priority": 4, "completed": true}'
wrk.headers["Content-Type"] = "application/merge-patch+json"
LUA
cat > "$work/login.lua" <<LUA
wrk.method = "POST"
wrk.body = "username=bench&password=password-bench"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA

run "GET /healthz" "$taskapi_pid" "$api/healthz"
run "GET /tasks/{id}" "$taskapi_pid" "$api/tasks/$task_id" "${auth[@]}"
run "GET /tasks (50 rows)" "$taskapi_pid" "$api/tasks" "${auth[@]}"
run "GET /projects/{id}/tasks" "$taskapi_pid" "$api/projects/1/tasks" "${auth[@]}"
run "POST /tasks" "$taskapi_pid" "$api/tasks" "${auth[@]}" -s "$work/post.lua"
run "PATCH /tasks/{id}" "$taskapi_pid" "$api/tasks/$task_id" "${auth[@]}" -s "$work/patch.lua"
run "login (argon2id)" "$taskapi_pid" "$api/auth/login" -s "$work/login.lua"

errors_500=$(grep -c ' 5[0-9][0-9] ' "$work/taskapi.log" || true)
machine="$(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)"
date=$(date -u +%Y-%m-%d)
python3 bench/report.py "$rows" "$date" "$machine" "$idle_rss" "$supervisor_rss" "$errors_500" \
  "wrk -t$threads -c$connections -d$duration" bench/results.md docs/benchmark.svg
cat bench/results.md
