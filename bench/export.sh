#!/usr/bin/env bash
# What exporting a large account costs: the memory `GET /auth/me/export`
# takes above idle, its time and its size. Prints numbers; no target is
# checked here (the aim, under 64 MiB above idle for 100,000 tasks, is in
# the README's "Your data").
#
#   bash bench/export.sh            (TASKS=100000 by default)
#
# It builds the release binaries, seeds a temporary SQLite database where
# the user `bench` owns TASKS tasks in 100 projects (one in ten in none),
# starts taskapi on it, logs in as bench, and reads the server's memory
# from /proc/PID/status: VmRSS at idle, then VmHWM (the peak resident set)
# after one `curl` of the export. Logging in hashes a password with argon2
# (19 MiB, then freed), which would otherwise be the peak: the high-water
# mark is reset to the current RSS just before the export (writing 5 to
# /proc/PID/clear_refs, Linux 4.0+). The server and the directory are
# removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

tasks=${TASKS:-100000}

cargo build --release --quiet --bin taskapi --example seed

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

target/release/examples/seed --db "$work/export.db" \
  --users 1 --tasks "$tasks" --bench-tasks "$tasks" --projects 100 2>/dev/null

target/release/taskapi --addr 127.0.0.1:0 --db "$work/export.db" 2> "$work/taskapi.log" &
server_pid=$!
api=$(base_url "$work/taskapi.log")
if [ -z "$api" ]; then
  echo "taskapi did not start:" >&2
  cat "$work/taskapi.log" >&2
  exit 1
fi
token=$(login_token "$api" bench)
# Let the start-up and login hashing settle and their memory go back.
sleep 1

status_kib() { awk -v key="$1:" '$1 == key {print $2}' "/proc/$server_pid/status"; }
idle_rss=$(status_kib VmRSS)
idle_hwm=$(status_kib VmHWM)
reset="reset"
if ! echo 5 > "/proc/$server_pid/clear_refs" 2>/dev/null; then
  reset="NOT reset (clear_refs not writable): the peak may be the login's"
fi

read -r http_code seconds bytes < <(
  curl -s --max-time 120 -o "$work/export.json" \
    -w '%{http_code} %{time_total} %{size_download}\n' \
    -H "Authorization: Bearer $token" "$api/auth/me/export"
)
peak_hwm=$(status_kib VmHWM)
after_rss=$(status_kib VmRSS)
exported=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["tasks"]))' \
  "$work/export.json" 2>/dev/null || echo "?")

mib() { awk -v kib="$1" 'BEGIN {printf "%.1f MiB", kib / 1024}'; }
echo "GET /auth/me/export, $tasks tasks (SQLite, $(nproc) cores):"
echo "  status                 $http_code, $exported tasks in the document"
echo "  time                   ${seconds} s (curl's total)"
echo "  size                   $(awk -v b="$bytes" 'BEGIN {printf "%.1f MB (%d bytes)", b / 1e6, b}')"
echo "  idle RSS               $(mib "$idle_rss") (peak before: $(mib "$idle_hwm"), $reset)"
echo "  peak RSS (VmHWM)       $(mib "$peak_hwm")"
echo "  peak minus idle        $(mib $((peak_hwm - idle_rss)))"
echo "  RSS after              $(mib "$after_rss")"
