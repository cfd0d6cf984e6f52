#!/usr/bin/env bash
# Starts `consort sandbox --sample composed` (records -> storage, NODES nodes
# each, default 1) and runs bench_e2e against the records front-end: writes
# with and without handling statements, in the same run (bench/e2e/main.c).
# Usage: scripts/bench-e2e.sh BUILD_DIR [bench_e2e options...]
set -euo pipefail
build=${1:?usage: bench-e2e.sh BUILD_DIR [options]}
shift
nodes=${NODES:-1}
ws=$(mktemp -d /tmp/consort-bench-e2e.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$ws"
}
trap cleanup EXIT
"$build/tools/consort" sandbox --nodes "$nodes" --sample composed --workspace "$ws/w" \
  >"$ws/out" 2>"$ws/err" &
pid=$!
for _ in $(seq 900); do
  grep -q '^READY ' "$ws/out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$ws/err" >&2; exit 1; }
  sleep 0.2
done
grep -q '^READY ' "$ws/out" || { cat "$ws/err" >&2; echo "bench-e2e: no READY" >&2; exit 1; }
address=$(sed -n 's/^READY //p' "$ws/out")
r="$ws/w/records"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%dT%H:%M:%SZ); $nodes node(s) per service"
# the services' processes (the sandbox's consortd children), for CPU per write
pids=$(pgrep -d, -P "$pid" consortd || true)
"$build/bench/bench_e2e" --address "$address" --ca "$r/service_cert.pem" \
  --cert "$r/user0_cert.pem" --key "$r/user0_privk.pem" ${pids:+--pids "$pids"} "$@"
