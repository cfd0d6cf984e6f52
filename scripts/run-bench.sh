#!/usr/bin/env bash
# Runs every benchmark built in BUILD_DIR (bench/<name>/ -> bench_<name>).
# bench_service and bench_e2e need running services: scripts/bench-service.sh and
# scripts/bench-e2e.sh start them and run them. bench_receipt (scripts/bench-receipt.sh)
# and bench_scale (scripts/bench-scale.sh, `make bench-scale`: a long run) too, and
# are run only through their scripts.
set -euo pipefail
build=${1:?usage: run-bench.sh BUILD_DIR}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
for bin in "$build"/bench/bench_*; do
  [ -x "$bin" ] || continue
  case "$(basename "$bin")" in bench_service | bench_e2e | bench_receipt | bench_scale) continue ;; esac
  echo
  echo "== $(basename "$bin")"
  "$bin"
done
if [ -x "$build/bench/bench_service" ]; then
  echo
  echo "== bench_service (scripts/bench-service.sh)"
  "$(dirname "$0")/bench-service.sh" "$build"
fi
if [ -x "$build/bench/bench_e2e" ]; then
  echo
  echo "== bench_e2e (scripts/bench-e2e.sh)"
  "$(dirname "$0")/bench-e2e.sh" "$build"
fi
