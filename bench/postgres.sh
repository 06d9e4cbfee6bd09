#!/usr/bin/env bash
# The PostgreSQL benchmark: the same scenarios on SQLite and on PostgreSQL
# in one run, and on two taskapi processes behind nginx on one PostgreSQL.
#
#   bash bench/run.sh --db postgres   (or bash bench/postgres.sh)
#   DURATION=10s CONNECTIONS=32 THREADS=2 by default, as bench/run.sh.
#
# It builds taskapi with the `postgres` feature, starts a throwaway
# cluster (tests/postgres/cluster.sh: fsync and synchronous_commit on),
# seeds both databases with the same rows as bench/run.sh (1,000 users,
# 100,000 tasks; `bench` has 50 tasks in one project), and loads each
# server with wrk. Beside req/s and p99 it records the CPU time the taskapi
# processes and the PostgreSQL server processes spent in each scenario,
# which is where the differences come from on a 2-core machine. Writes
# bench/results-postgres.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

duration=${DURATION:-10s}
connections=${CONNECTIONS:-32}
threads=${THREADS:-2}

if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  apt-get install -y --no-install-recommends wrk nginx-light \
    || { apt-get update && apt-get install -y --no-install-recommends wrk nginx-light; }
fi
cargo build --release --quiet --features postgres --bin taskapi --example seed

work=$(mktemp -d)
# Its own directory, which the cluster's owner (the postgres user) can reach.
pg_dir=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash tests/postgres/cluster.sh destroy "$pg_dir" || true
  rm -rf "$work"
}
trap cleanup EXIT

# CPU seconds (user + system) used so far by the processes `pgrep "$@"`
# finds.
cpu_seconds() {
  local ticks
  ticks=$(for pid in $(pgrep "$@"); do
    awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || true
  done | awk '{s += $1} END {print s + 0}')
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", t / hz}'
}

echo "a throwaway PostgreSQL cluster:" >&2
pg_url=$(bash tests/postgres/cluster.sh start "$pg_dir")
psql_run() { psql -X -q -v ON_ERROR_STOP=1 -d "$pg_url" "$@"; }

echo "seeding SQLite and PostgreSQL with the same rows:" >&2
target/release/examples/seed --db "$work/bench.db" \
  --users 1000 --tasks 100000 --bench-tasks 50 --projects 1 2>/dev/null
# On PostgreSQL: `bench` registers through the API (the schema comes from
# the server's own migrations), then SQL adds the rest as seed.rs does.
target/release/taskapi --addr 127.0.0.1:0 --db "$pg_url" 2> "$work/seed.log" &
seed_pid=$!
seed_api=$(base_url "$work/seed.log")
curl -sf "$seed_api/auth/register" -H 'Content-Type: application/json' \
  -d '{"username": "bench", "password": "password-bench"}' >/dev/null
kill "$seed_pid"; wait "$seed_pid" 2>/dev/null || true
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
psql_run <<SQL
INSERT INTO "user" (username, password_hash, created_at)
SELECT 'user' || g, (SELECT password_hash FROM "user" WHERE id = 1), '$now'
FROM generate_series(2, 1000) g;
INSERT INTO project (owner_id, name, name_key, description, created_at, updated_at)
VALUES (1, 'Project 1', 'project 1', 'seeded project', '$now', '$now');
INSERT INTO task (owner_id, created_by, project_id, title, description, due_date, completed,
                  priority, created_at, updated_at)
SELECT CASE WHEN n < 50 THEN 1 ELSE 2 + (n - 50) % 999 END,
       CASE WHEN n < 50 THEN 1 ELSE 2 + (n - 50) % 999 END,
       CASE WHEN n < 50 AND n % 10 <> 0 THEN 1 END,
       'Task ' || n || ': follow up on item ' || n * 7 % 1000,
       'Seeded task number ' || n || ', with a description of realistic length.',
       CASE WHEN n % 5 <> 0 THEN format('%s-%s-%s', 2025 + n % 3,
            lpad((n % 12 + 1)::text, 2, '0'), lpad((n % 28 + 1)::text, 2, '0')) END,
       n % 10 < 3, n * 31 % 10, '$now', '$now'
FROM generate_series(0, 99999) n;
ANALYZE;
SQL

write_wrk_scripts "$work"

rows="$work/rows.tsv"
: > "$rows"
# scenarios SETUP BASE: every scenario against BASE, one row each.
scenarios() {
  local setup=$1 api=$2 token task_id
  token=$(login_token "$api" bench)
  task_id=$(curl -sf "$api/tasks?limit=1&offset=25" -H "Authorization: Bearer $token" \
    | sed 's/^\[{"id":\([0-9]*\).*/\1/')
  local auth=(-H "Authorization: Bearer $token")
  run "$setup" "GET /healthz" "$api/healthz"
  run "$setup" "GET /tasks/{id}" "$api/tasks/$task_id" "${auth[@]}"
  run "$setup" "GET /tasks (50 rows)" "$api/tasks" "${auth[@]}"
  run "$setup" "GET /projects/{id}/tasks" "$api/projects/1/tasks" "${auth[@]}"
  run "$setup" "POST /tasks" "$api/tasks" "${auth[@]}" -s "$work/post.lua"
  run "$setup" "PATCH /tasks/{id}" "$api/tasks/$task_id" "${auth[@]}" -s "$work/patch.lua"
}

# run SETUP NAME URL [wrk options...]
run() {
  local setup=$1 name=$2 url=$3
  shift 3
  local taskapi_before postgres_before
  taskapi_before=$(cpu_seconds -f "target/release/taskapi")
  postgres_before=$(cpu_seconds -u postgres)
  wrk -t"$threads" -c"$connections" -d"$duration" --latency "$@" "$url" > "$work/wrk.txt" 2>&1 || true
  local taskapi_cpu postgres_cpu rps p50 p99 errors
  taskapi_cpu=$(awk -v a="$(cpu_seconds -f "target/release/taskapi")" -v b="$taskapi_before" 'BEGIN {printf "%.1f", a - b}')
  postgres_cpu=$(awk -v a="$(cpu_seconds -u postgres)" -v b="$postgres_before" 'BEGIN {printf "%.1f", a - b}')
  IFS=$'\t' read -r rps p50 p99 errors < <(wrk_figures "$work/wrk.txt")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$setup" "$name" "$rps" "$p99" \
    "$taskapi_cpu" "$postgres_cpu" "$errors" >> "$rows"
  printf '  %-12s %-26s %10s req/s  p99 %-9s cpu taskapi %5ss postgres %5ss %s\n' \
    "$setup" "$name" "$rps" "$p99" "$taskapi_cpu" "$postgres_cpu" "$errors" >&2
}

# start_taskapi LOG DB [flags...]: sets $started to the pid; the URL is the
# first line of LOG.
start_taskapi() {
  local log=$1 db=$2
  shift 2
  target/release/taskapi --addr "127.0.0.1:${PORT:-0}" --db "$db" "$@" 2> "$log" &
  started=$!
  pids+=("$started")
}

echo "SQLite, one process:" >&2
start_taskapi "$work/sqlite.log" "$work/bench.db"
sleep 1
scenarios "SQLite" "$(base_url "$work/sqlite.log")"
kill "$started"; wait "$started" 2>/dev/null || true

echo "PostgreSQL, one process:" >&2
start_taskapi "$work/pg1.log" "$pg_url"
sleep 1
scenarios "PostgreSQL" "$(base_url "$work/pg1.log")"
kill "$started"; wait "$started" 2>/dev/null || true

# Back to the seeded rows, so the next setup lists what this one listed.
psql_run -c "DELETE FROM task WHERE title = 'benchmark task'" -c "VACUUM ANALYZE task"

echo "PostgreSQL, two processes behind nginx:" >&2
# Half the workers each, so the two together hold as many connections as
# the single process did.
workers=$(( $(nproc) * 2 ))
port_a=$(free_port); port_b=$(free_port); port_nginx=$(free_port)
PORT=$port_a start_taskapi "$work/pg-a.log" "$pg_url" --workers "$workers"
PORT=$port_b start_taskapi "$work/pg-b.log" "$pg_url" --workers "$workers"
mkdir -p "$work/nginx/logs"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
error_log $work/nginx/logs/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  upstream taskapi {
    server 127.0.0.1:$port_a;
    server 127.0.0.1:$port_b;
    keepalive 64;
  }
  server {
    listen 127.0.0.1:$port_nginx;
    location / {
      proxy_pass http://taskapi;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
    }
  }
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port_nginx/healthz" >/dev/null && break; sleep 0.05; done
scenarios "2 x PG+nginx" "http://127.0.0.1:$port_nginx"

machine="$(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)"
postgres_version=$(psql_run -At -c 'SHOW server_version')
python3 - "$rows" "$(date -u +%Y-%m-%d)" "$machine" "$postgres_version" \
  "wrk -t$threads -c$connections -d$duration" > bench/results-postgres.md <<'PY'
import sys
rows_path, date, machine, version, load = sys.argv[1:]
rows = [line.rstrip("\n").split("\t") for line in open(rows_path)]
setups = list(dict.fromkeys(row[0] for row in rows))
scenarios = list(dict.fromkeys(row[1] for row in rows))
cell = {(row[0], row[1]): row for row in rows}
print(f"# Benchmark on PostgreSQL, {date}\n")
print(f"Machine: {machine}; PostgreSQL {version} on the same machine (fsync and "
      f"synchronous_commit on). Load: `{load}` per scenario, keep-alive, loopback. "
      "CPU: seconds of CPU the taskapi processes / the PostgreSQL processes used "
      "during the scenario.\n")
print("| scenario | " + " | ".join(f"{s} req/s | p99 | CPU taskapi / PG" for s in setups) + " |")
print("|---|" + "---:|---:|---:|" * len(setups))
for scenario in scenarios:
    cells = []
    for setup in setups:
        row = cell.get((setup, scenario))
        if row is None:
            cells += ["-", "-", "-"]
            continue
        rps = f"{float(row[2]):,.0f}" + (f" ({row[6]})" if row[6] else "")
        cells += [rps, row[3], f"{row[4]} / {row[5]} s"]
    print(f"| {scenario} | " + " | ".join(cells) + " |")
PY
cat bench/results-postgres.md
