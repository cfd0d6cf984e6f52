#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD_DIR for SECONDS each, starting
# from its committed seed corpus (tests/fuzz/corpus/<name>/). New inputs go to
# a scratch corpus under BUILD_DIR so the committed seeds stay small; crashes
# are written to BUILD_DIR/fuzz-artifacts/ and fail the run.
set -euo pipefail
build=${1:?usage: run-fuzz.sh BUILD_DIR SECONDS}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$build/fuzz-artifacts"
status=0
found=0
for bin in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  found=1
  name=$(basename "$bin"); short=${name#fuzz_}
  work="$build/fuzz-corpus/$short"
  mkdir -p "$work"
  echo "== $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-artifacts/$short-" \
        "$work" "$root/tests/fuzz/corpus/$short" 2>"$build/fuzz-artifacts/$short.log"; then
    echo "!! $name found a failure; see $build/fuzz-artifacts/$short.log"
    tail -n 30 "$build/fuzz-artifacts/$short.log"
    status=1
  else
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$build/fuzz-artifacts/$short.log" | sed 's/^/   /'
  fi
done
[ "$found" = 1 ] || { echo "no fuzz targets in $build/tests/fuzz"; exit 1; }
exit $status
