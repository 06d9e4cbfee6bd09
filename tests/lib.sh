# Shared by the suites under tests/ that run the real binary: start it on a
# fresh database in a work directory, wait for its listening line, stop it.
#
#   source tests/lib.sh
#   start_taskapi "$work" --workers 4   # sets taskapi_pid and taskapi_base
#   ...
#   stop_taskapi                        # in the caller's EXIT trap
#
# The binary is $TASKAPI_BIN, else target/debug/taskapi (after `cargo
# build`); its stderr goes to $work/taskapi.log, whose first line is
# `taskapi listening on http://HOST:PORT`.

start_taskapi() {
  local work=$1
  shift
  "${TASKAPI_BIN:-target/debug/taskapi}" --addr 127.0.0.1:0 --db "$work/taskapi.db" "$@" \
    2> "$work/taskapi.log" &
  taskapi_pid=$!
  for _ in $(seq 100); do [ -s "$work/taskapi.log" ] && break; sleep 0.05; done
  taskapi_base=$(head -1 "$work/taskapi.log" | sed -n 's/^taskapi listening on //p')
  if [ -z "$taskapi_base" ]; then
    echo "taskapi did not start:" >&2
    cat "$work/taskapi.log" >&2
    return 1
  fi
}

stop_taskapi() {
  if [ -n "${taskapi_pid:-}" ]; then
    kill "$taskapi_pid" 2>/dev/null || true
    wait "$taskapi_pid" 2>/dev/null || true
  fi
}
