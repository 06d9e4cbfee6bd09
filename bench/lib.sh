# Helpers that bench/run.sh and bench/postgres.sh share; sourced, not run.

# A port the kernel says is free now (nginx cannot report one it picked).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits for "... listening on http://HOST:PORT" as the first line of $1 and
# prints the URL.
base_url() {
  for _ in $(seq 200); do
    if [ -s "$1" ]; then
      head -1 "$1" | sed -n 's/.* listening on \(http:\/\/.*\)$/\1/p'
      return
    fi
    sleep 0.05
  done
}

# login_token BASE USER: the access token of USER (password password-bench).
login_token() {
  curl -sf "$1/auth/login" -d username="$2" -d password=password-bench \
    | sed 's/.*"access_token":"\([^"]*\)".*/\1/'
}

# Writes the wrk scripts of the write scenarios into directory $1:
# post.lua (create a task), patch.lua (change one), login.lua (a form login).
write_wrk_scripts() {
  cat > "$1/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"title": "benchmark task", "description": "made by wrk", "priority": 3}'
wrk.headers["Content-Type"] = "application/json"
LUA
  cat > "$1/patch.lua" <<'LUA'
wrk.method = "PATCH"
wrk.body = '{"priority": 4, "completed": true}'
wrk.headers["Content-Type"] = "application/merge-patch+json"
LUA
  cat > "$1/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "username=bench&password=password-bench"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
}

# wrk_figures FILE: the req/s, p50, p99 and errors of wrk's output in FILE,
# tab-separated ("-" for a figure wrk did not print).
wrk_figures() {
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec/ {print $2}' "$1")
  p50=$(awk '$1 == "50%" {print $2}' "$1")
  p99=$(awk '$1 == "99%" {print $2}' "$1")
  errors=$(awk '/Non-2xx/ {print $NF} /Socket errors/ {print "socket:" $4 $6 $8 $10}' "$1" | paste -sd' ' -)
  printf '%s\t%s\t%s\t%s\n' "${rps:-0}" "${p50:--}" "${p99:--}" "${errors:-}"
}
