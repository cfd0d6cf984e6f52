#!/usr/bin/env bash
# Where a write's CPU goes (issue "Performance", item 1): starts a 3-node
# `consort sandbox` (the logging sample), drives private writes at the maximum
# rate with bench_receipt (32 connections; receipts followed for one write in
# 1000, so receipts cost nothing measurable), records the three consortd
# processes with perf (DWARF call graphs, 499 Hz) during the middle of the
# "max" phase, and prints the share of the nodes' CPU per stage of the write
# path (scripts/perf-stages.py) and that share in microseconds per write.
# Usage: scripts/profile-writes.sh BUILD_DIR [--node-option K=V]... [--seconds S]
# Needs perf (Debian's linux-perf; scripts/install-deps --bench) and root or
# kernel.perf_event_paranoid <= 1. Environment: PROFILE_MARKDOWN=1 prints the
# table as Markdown (as bench/RESULTS.md has it), PROFILE_KEEP=FILE keeps the
# perf script output for a closer look.
set -euo pipefail
build=${1:?usage: profile-writes.sh BUILD_DIR [--node-option K=V]... [--seconds S]}
shift
node_opts=()
seconds=8
while [ $# -gt 0 ]; do
  case $1 in
    --node-option) node_opts+=(--node-option "$2"); shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "profile-writes: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v perf >/dev/null || { echo "profile-writes: perf not found (scripts/install-deps --bench)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
. "$here/bench-lib.sh"
ws=$(mktemp -d /tmp/consort-profile.XXXXXX)
sandbox_pid=
cleanup() {
  [ -z "$sandbox_pid" ] || stop_pid "$sandbox_pid" 30
  rm -rf "$ws"
}
trap cleanup EXIT
start_sandbox "$build" "$ws" --nodes 3 "${node_opts[@]}"
pids=$(node_pids "$ws/w")
echo "machine: $(machine_line); 3 nodes${node_opts[*]:+, ${node_opts[*]}}"
"$build/bench/bench_receipt" --address "$sandbox_address" --ca "$ws/w/service_cert.pem" \
  --cert "$ws/w/user0_cert.pem" --key "$ws/w/user0_privk.pem" --pids "$pids" \
  --seconds "$seconds" --probe-every 1000 >"$ws/bench" 2>&1 &
bench=$!
record=$(( seconds > 4 ? seconds - 3 : 1 ))
sleep 1.5
perf record -q -F 499 --call-graph dwarf,16384 -p "$pids" -o "$ws/perf.data" -- sleep "$record" 2>/dev/null
wait "$bench" || { cat "$ws/bench" >&2; exit 1; }
grep -E '^(max|half)' "$ws/bench"
# CPU per write in the max phase: nodes' cores / writes per second
per_write=$(awk '/^max/ { for (i = 1; i <= NF; i++) { if ($i == "writes/s") w = $(i-1); if ($i == "cores") c = $(i-1) } }
                 END { if (w > 0) printf "%.1f", c * 1e6 / w }' "$ws/bench")
echo "nodes' CPU per write (max phase): ${per_write} us"
perf script -i "$ws/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null >"$ws/stacks"
python3 "$here/perf-stages.py" "$ws/stacks" ${per_write:+--cpu-us-per-write "$per_write"} \
  ${PROFILE_MARKDOWN:+--markdown}
[ -z "${PROFILE_KEEP:-}" ] || cp "$ws/stacks" "$PROFILE_KEEP"
