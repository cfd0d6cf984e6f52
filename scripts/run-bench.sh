#!/usr/bin/env bash
# Runs every benchmark built in BUILD_DIR (bench/<name>/ -> bench_<name>).
# bench_service needs running services: scripts/bench-service.sh starts them and runs it.
set -euo pipefail
build=${1:?usage: run-bench.sh BUILD_DIR}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
for bin in "$build"/bench/bench_*; do
  [ -x "$bin" ] || continue
  [ "$(basename "$bin")" = bench_service ] && continue
  echo
  echo "== $(basename "$bin")"
  "$bin"
done
if [ -x "$build/bench/bench_service" ]; then
  echo
  echo "== bench_service (scripts/bench-service.sh)"
  "$(dirname "$0")/bench-service.sh" "$build"
fi
