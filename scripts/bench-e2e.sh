#!/usr/bin/env bash
# Starts `consort sandbox --sample composed` (records -> storage, NODES nodes
# each, default 1) and runs bench_e2e against the records front-end: writes
# with and without handling statements, in the same run (bench/e2e/main.c).
# Usage: scripts/bench-e2e.sh BUILD_DIR [bench_e2e options...]
set -euo pipefail
build=${1:?usage: bench-e2e.sh BUILD_DIR [options]}
shift
nodes=${NODES:-1}
. "$(dirname "$0")/bench-lib.sh"
ws=$(mktemp -d /tmp/consort-bench-e2e.XXXXXX)
sandbox_pid=
cleanup() {
  [ -z "$sandbox_pid" ] || stop_pid "$sandbox_pid" 30
  rm -rf "$ws"
}
trap cleanup EXIT
start_sandbox "$build" "$ws" --nodes "$nodes" --sample composed
r="$ws/w/records"
echo "machine: $(machine_line); $nodes node(s) per service"
# the services' processes (the sandbox's consortd children), for CPU per write
pids=$(pgrep -d, -P "$sandbox_pid" consortd || true)
"$build/bench/bench_e2e" --address "$sandbox_address" --ca "$r/service_cert.pem" \
  --cert "$r/user0_cert.pem" --key "$r/user0_privk.pem" ${pids:+--pids "$pids"} "$@"
