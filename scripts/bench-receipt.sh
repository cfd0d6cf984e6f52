#!/usr/bin/env bash
# Starts a 3-node `consort sandbox` (the logging sample) and runs
# bench_receipt against it: how long after a write's acknowledgement its
# receipt can be fetched, at the maximum write rate and at half of it
# (bench/receipt/main.c).
# Usage: scripts/bench-receipt.sh BUILD_DIR [--node-option K=V]... [bench_receipt options...]
set -euo pipefail
build=${1:?usage: bench-receipt.sh BUILD_DIR [--node-option K=V]... [options]}
shift
node_opts=()
while [ $# -gt 0 ] && [ "$1" = --node-option ]; do
  node_opts+=(--node-option "$2")
  shift 2
done
. "$(dirname "$0")/bench-lib.sh"
ws=$(mktemp -d /tmp/consort-bench-receipt.XXXXXX)
sandbox_pid=
cleanup() {
  [ -z "$sandbox_pid" ] || stop_pid "$sandbox_pid" 30
  rm -rf "$ws"
}
trap cleanup EXIT
start_sandbox "$build" "$ws" --nodes 3 "${node_opts[@]}"
pids=$(node_pids "$ws/w" 2>/dev/null || true)
echo "machine: $(machine_line); 3 nodes${node_opts[*]:+, ${node_opts[*]}}"
"$build/bench/bench_receipt" --address "$sandbox_address" --ca "$ws/w/service_cert.pem" \
  --cert "$ws/w/user0_cert.pem" --key "$ws/w/user0_privk.pem" ${pids:+--pids "$pids"} "$@"
