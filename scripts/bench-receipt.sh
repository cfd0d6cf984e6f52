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
ws=$(mktemp -d /tmp/consort-bench-receipt.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$ws"
}
trap cleanup EXIT
"$build/tools/consort" sandbox --nodes 3 --workspace "$ws/w" "${node_opts[@]}" >"$ws/out" 2>"$ws/err" &
pid=$!
for _ in $(seq 900); do
  grep -q '^READY ' "$ws/out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$ws/err" >&2; exit 1; }
  sleep 0.2
done
grep -q '^READY ' "$ws/out" || { cat "$ws/err" >&2; echo "bench-receipt: no READY" >&2; exit 1; }
address=$(sed -n 's/^READY //p' "$ws/out")
pids=$(python3 -c 'import json,sys; print(",".join(str(n["pid"]) for n in json.load(open(sys.argv[1]))))' \
  "$ws/w/nodes.json" 2>/dev/null || true)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%dT%H:%M:%SZ); 3 nodes${node_opts[*]:+, ${node_opts[*]}}"
"$build/bench/bench_receipt" --address "$address" --ca "$ws/w/service_cert.pem" \
  --cert "$ws/w/user0_cert.pem" --key "$ws/w/user0_privk.pem" ${pids:+--pids "$pids"} "$@"
