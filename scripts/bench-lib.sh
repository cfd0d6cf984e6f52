# Shell pieces the benchmark drivers share (sourced, not run): a
# `consort sandbox` started in the background and waited for, its nodes'
# pids, the machine line every result starts with, and stopping a process.
# The caller sets `set -euo pipefail` and a trap that calls stop_pid on
# $sandbox_pid.

# stop_pid PID SECONDS: SIGTERM, then SIGKILL if it is still there after SECONDS.
stop_pid() {
  local pid=$1 wait=$2 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < wait * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  echo "$(basename "$0"): pid $pid did not stop in ${wait}s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# start_sandbox BUILD WS [consort sandbox options...]: starts the sandbox with
# its workspace in WS/w (output in WS/out, WS/err) and waits for READY (at
# most 180 s). Sets sandbox_pid and sandbox_address; exits 1 with the
# sandbox's errors if it stops or never gets ready.
start_sandbox() {
  local build=$1 ws=$2
  shift 2
  "$build/tools/consort" sandbox --workspace "$ws/w" "$@" >"$ws/out" 2>"$ws/err" &
  sandbox_pid=$!
  for _ in $(seq 900); do
    grep -q '^READY ' "$ws/out" 2>/dev/null && break
    kill -0 "$sandbox_pid" 2>/dev/null || { cat "$ws/err" >&2; exit 1; }
    sleep 0.2
  done
  grep -q '^READY ' "$ws/out" || { cat "$ws/err" >&2; echo "$(basename "$0"): no READY" >&2; exit 1; }
  sandbox_address=$(sed -n 's/^READY //p' "$ws/out")
}

# node_pids WORKSPACE: the pids of its nodes, "PID,PID,..." (from nodes.json).
node_pids() {
  python3 -c 'import json,sys; print(",".join(str(n["pid"]) for n in json.load(open(sys.argv[1]))))' \
    "$1/nodes.json"
}

# machine_line: what every result starts with (cores, CPU model, load, UTC time).
machine_line() {
  echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
