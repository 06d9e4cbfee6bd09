#!/usr/bin/env bash
# The taskapi benchmark: one command, bounded in time, cleans up after itself.
#
#   bash bench/run.sh            (DURATION=10s CONNECTIONS=32 THREADS=2 by default)
#   bash bench/run.sh --db postgres   (SQLite beside PostgreSQL: bench/postgres.sh)
#
# It builds release binaries, seeds a temporary database (1,000 users,
# 100,000 tasks; the user `bench` has 50 tasks in one project), and starts
# three servers: nginx answering a static 200 (Debian's nginx-light: the
# HTTP ceiling of this machine, and the baseline of every ratio), a bare
# tiny_http "hello" (examples/hello.rs: what taskapi ran on before its own
# connection layer), and taskapi. Each is loaded with wrk, keeping
# connections alive as wrk does by default; `POST /tasks` is also run with
# `Connection: close`, the policy taskapi had to use on tiny_http. Then
# 10,000 idle keep-alive connections are held open against taskapi
# (bench/idle.py) to see what they cost in memory and threads.
#
# It prints a table (req/s, p50, p99, server RSS peak during the scenario,
# ratio to nginx in the same run) and the targets met or missed, writes them
# to bench/results.md and draws docs/benchmark.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

# The same scenarios on PostgreSQL, beside SQLite: bench/postgres.sh.
if [ "${1:-}" = "--db" ] && [ "${2:-}" = "postgres" ]; then
  exec bash bench/postgres.sh
fi

duration=${DURATION:-10s}
connections=${CONNECTIONS:-32}
threads=${THREADS:-2}

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  apt-get install -y --no-install-recommends wrk nginx-light \
    || { apt-get update && apt-get install -y --no-install-recommends wrk nginx-light; }
fi
# The idle check opens 10,000 sockets.
ulimit -n "$(ulimit -Hn)"
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
# run NAME PID URL [wrk options...]: one scenario, one row. CONNECTIONS
# may be set for one call (`connections=256 run ...`).
run() {
  local name=$1 pid=$2 url=$3
  shift 3
  local done_flag="$work/done.$RANDOM"
  sample_rss "$pid" "$done_flag" > "$work/rss" &
  local sampler=$!
  wrk -t"$threads" -c"${connections}" -d"$duration" --latency "$@" "$url" > "$work/wrk.txt" 2>&1 || true
  touch "$done_flag"
  wait "$sampler"
  local rps p50 p99 errors
  IFS=$'\t' read -r rps p50 p99 errors < <(wrk_figures "$work/wrk.txt")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rps" "$p50" "$p99" "$(cat "$work/rss")" "$errors" >> "$rows"
  printf '  %-34s %10s req/s  p50 %-9s p99 %-9s\n' "$name" "$rps" "$p50" "$p99" >&2
}

echo "nginx (static 200):" >&2
mkdir -p "$work/nginx/logs"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 2;
error_log $work/nginx/logs/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:0;
    location / { return 200 "hello world"; }
  }
}
NGINX
# nginx cannot report a port it picked, so take a free one from the kernel.
nginx_port=$(free_port)
sed -i "s/listen 127.0.0.1:0;/listen 127.0.0.1:$nginx_port;/" "$work/nginx/nginx.conf"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
nginx_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$nginx_port/" >/dev/null && break; sleep 0.05; done
run "nginx static 200" "$nginx_pid" "http://127.0.0.1:$nginx_port/"

echo "hello (bare tiny_http):" >&2
target/release/examples/hello 127.0.0.1:0 8 2> "$work/hello.log" &
pids+=($!)
hello_pid=$!
hello=$(base_url "$work/hello.log")
run "tiny_http hello" "$hello_pid" "$hello/"

echo "taskapi:" >&2
# A long keep-alive timeout, so the idle connections stay for the count.
target/release/taskapi --addr 127.0.0.1:0 --db "$work/bench.db" \
  --login-max-failures 1000000 --login-max-failures-per-address 1000000 \
  --keep-alive-timeout 120 2> "$work/taskapi.log" &
pids+=($!)
taskapi_pid=$!
api=$(base_url "$work/taskapi.log")
# The first second computes the dummy password hash (19 MiB, then freed).
sleep 1
idle_rss=$(awk '/^VmRSS/ {print $2}' "/proc/$taskapi_pid/status")
idle_threads=$(awk '/^Threads/ {print $2}' "/proc/$taskapi_pid/status")
token=$(login_token "$api" bench)
task_id=$(curl -sf "$api/tasks?limit=1&offset=25" -H "Authorization: Bearer $token" \
  | sed 's/^\[{"id":\([0-9]*\).*/\1/')
auth=(-H "Authorization: Bearer $token")

write_wrk_scripts "$work"

run "GET /healthz" "$taskapi_pid" "$api/healthz"
run "GET /tasks/{id}" "$taskapi_pid" "$api/tasks/$task_id" "${auth[@]}"
run "GET /tasks (50 rows)" "$taskapi_pid" "$api/tasks" "${auth[@]}"
run "GET /projects/{id}/tasks" "$taskapi_pid" "$api/projects/1/tasks" "${auth[@]}"
run "POST /tasks" "$taskapi_pid" "$api/tasks" "${auth[@]}" -s "$work/post.lua"
run "POST /tasks, Connection: close" "$taskapi_pid" "$api/tasks" "${auth[@]}" \
  -H "Connection: close" -s "$work/post.lua"
run "PATCH /tasks/{id}" "$taskapi_pid" "$api/tasks/$task_id" "${auth[@]}" -s "$work/patch.lua"
connections=256 run "GET /tasks/{id}, 256 connections" "$taskapi_pid" \
  "$api/tasks/$task_id" "${auth[@]}"

echo "taskapi, 10,000 idle keep-alive connections:" >&2
python3 bench/idle.py "${api#http://}" "$taskapi_pid" 10000 > "$work/idle.tsv"
cat "$work/idle.tsv" >&2

# Last, since argon2id's memory churn would blur the RSS figures above.
run "login (argon2id)" "$taskapi_pid" "$api/auth/login" -s "$work/login.lua"

echo "taskapi, one user in 100 shared projects (100,000 tasks):" >&2
target/release/examples/seed --db "$work/shared.db" --users 1 --tasks 100000 \
  --projects 100 --shared member 2>/dev/null
target/release/taskapi --addr 127.0.0.1:0 --db "$work/shared.db" 2> "$work/shared.log" &
pids+=($!)
shared_pid=$!
shared_api=$(base_url "$work/shared.log")
member_token=$(login_token "$shared_api" member)
run "GET /tasks, member of 100 projects" "$shared_pid" "$shared_api/tasks" \
  -H "Authorization: Bearer $member_token"
run "GET /tasks?sort=-priority, member" "$shared_pid" "$shared_api/tasks?sort=-priority" \
  -H "Authorization: Bearer $member_token"

errors_500=$(grep -c ' 5[0-9][0-9] ' "$work/taskapi.log" || true)
machine="$(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)"
date=$(date -u +%Y-%m-%d)
python3 bench/report.py "$rows" "$date" "$machine" "$idle_rss" "$idle_threads" "$errors_500" \
  "wrk -t$threads -c$connections -d$duration" "$work/idle.tsv" bench/results.md docs/benchmark.svg
cat bench/results.md
