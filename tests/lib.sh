# Shared by the suites under tests/: the real binary most of them run,
# started on a fresh database in a work directory (waiting for its
# listening line) and stopped; and the Python tools some of them need.
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

# python_venv VENV REQUIREMENTS MODULE: makes the virtualenv VENV (under
# target/, so `cargo clean` takes it) with REQUIREMENTS installed, unless
# it is there already and imports MODULE.
python_venv() {
  local venv=$1 requirements=$2 module=$3
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import $module" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --requirement "$requirements"
  fi
}
