#!/usr/bin/env bash
# Counter increments per second with the replicated backend (issue 14 item
# 6; include/consort/app.h CONSORT_SEALING_SERVICE): a 3-node `consort
# sandbox` running the service-scope sealing sample (sealing_service.so),
# driven by bench_scale's `counters` mode, closed loop, each connection
# incrementing its own counters (no conflicts). Every increment is durable
# on a majority before its request is answered. Prints increments/s for 1,
# 16 and 64 counters per request (one transaction each) and PASS/MISS
# against the goal: at least 10,000 increments/s batched.
# Usage: scripts/bench-counters.sh BUILD_DIR [SECONDS] [CONNECTIONS]
set -euo pipefail
build=${1:?usage: bench-counters.sh BUILD_DIR [SECONDS] [CONNECTIONS]}
seconds=${2:-10}
conns=${3:-32}
. "$(dirname "$0")/bench-lib.sh"
ws=$(mktemp -d /tmp/consort-bench-counters.XXXXXX)
sandbox_pid=
cleanup() {
  [ -z "$sandbox_pid" ] || stop_pid "$sandbox_pid" 30
  rm -rf "$ws"
}
trap cleanup EXIT
start_sandbox "$build" "$ws" --nodes 3 --app "$build/samples/sealing_service.so"
echo "machine: $(machine_line); 3 nodes, $conns connections, ${seconds}s per run"
goal=10000
best=0
printf '%-10s %14s %12s %9s %9s\n' batch increments/s requests/s p50_ms p99_ms
for batch in 1 16 64; do
  out=$("$build/bench/bench_scale" counters --address "$sandbox_address" \
    --ca "$ws/w/service_cert.pem" --cert "$ws/w/user0_cert.pem" --key "$ws/w/user0_privk.pem" \
    --connections "$conns" --seconds "$seconds" --batch "$batch") || {
    echo "$out" >&2
    exit 1
  }
  get() { echo "$out" | sed -n "s/^$1=//p"; }
  printf '%-10s %14s %12s %9s %9s\n' "$batch" "$(get increments_per_s)" "$(get requests_per_s)" \
    "$(get p50_ms)" "$(get p99_ms)"
  if [ "$batch" -gt 1 ]; then
    best=$(python3 -c "import sys; print(max(float(sys.argv[1]), float(sys.argv[2])))" "$best" "$(get increments_per_s)")
  fi
done
verdict=$(python3 -c "import sys; print('PASS' if float(sys.argv[1]) >= float(sys.argv[2]) else 'MISS')" "$best" "$goal")
echo "batched increments/s: $best against the goal of $goal: ratio $(python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$best" "$goal") $verdict"
