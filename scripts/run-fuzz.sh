#!/usr/bin/env bash
# Runs the libFuzzer targets built in BUILD_DIR (make fuzz / make fuzz-check).
#
#   run-fuzz.sh BUILD_DIR SECONDS   fuzz each target for SECONDS from its
#                                   committed seeds (tests/fuzz/corpus/<name>/)
#                                   with its dictionary if there is one
#                                   (tests/fuzz/<name>.dict)
#   run-fuzz.sh --check BUILD_DIR   replay every committed seed through every
#                                   target under ASan/UBSan (-runs=0): what CI
#                                   runs; fails on any crash or leak, a target
#                                   without seeds or seeds without a target
#
# FUZZ_TARGETS="http_server ledger_chunk" limits the run to those targets.
# New inputs go to a scratch corpus under BUILD_DIR so the committed seeds
# stay small; crashes are written to BUILD_DIR/fuzz-artifacts/ and fail the
# run. A fuzzing run prints one line per target and writes them to
# BUILD_DIR/fuzz-artifacts/summary.tsv:
#   target  seeds  executions  cov_start  ft_start  cov_end  ft_end  crashes
set -euo pipefail
check=0
if [ "${1:-}" = "--check" ]; then
  check=1
  shift
fi
build=${1:?usage: run-fuzz.sh [--check] BUILD_DIR [SECONDS]}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
# The targets' own log lines (a refused join, a bad request) would slow the
# run and fill the logs: errors only, unless asked otherwise.
export CONSORT_LOG=${CONSORT_LOG:-error}
arts="$build/fuzz-artifacts"
mkdir -p "$arts"
status=0
found=0
summary="$arts/summary.tsv"
[ "$check" = 1 ] || printf 'target\tseeds\texecutions\tcov_start\tft_start\tcov_end\tft_end\tcrashes\n' >"$summary"

selected() {
  [ -z "${FUZZ_TARGETS:-}" ] && return 0
  for t in $FUZZ_TARGETS; do [ "$t" = "$1" ] && return 0; done
  return 1
}

for bin in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin"); short=${name#fuzz_}
  selected "$short" || continue
  found=1
  seeds="$root/tests/fuzz/corpus/$short"
  nseeds=$({ find "$seeds" -type f 2>/dev/null || true; } | wc -l)
  if [ "$nseeds" = 0 ]; then
    echo "!! $name has no seed corpus ($seeds)"
    status=1
    continue
  fi
  log="$arts/$short.log"
  if [ "$check" = 1 ]; then
    if "$bin" -runs=0 -timeout=60 -artifact_prefix="$arts/$short-" "$seeds" >"$log" 2>&1; then
      echo "ok  $name: $nseeds seeds replayed"
    else
      echo "!! $name failed on its seeds; see $log"
      tail -n 30 "$log"
      status=1
    fi
    continue
  fi
  dict=()
  [ -f "$root/tests/fuzz/$short.dict" ] && dict=(-dict="$root/tests/fuzz/$short.dict")
  work="$build/fuzz-corpus/$short"
  mkdir -p "$work"
  echo "== $name for ${seconds}s ($nseeds seeds${dict:+, dictionary})"
  crashes=0
  if ! "$bin" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 "${dict[@]}" \
        -artifact_prefix="$arts/$short-" "$work" "$seeds" >"$log" 2>&1; then
    echo "!! $name found a failure; see $log"
    tail -n 30 "$log"
    crashes=1
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  start=$(grep -m1 -E '^#[0-9]+[[:space:]]+INITED' "$log" | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/\1\t\2/')
  end=$(grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse|INITED)' "$log" | tail -n 1 |
        sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/\1\t\2/')
  line=$(printf '%s\t%s\t%s\t%s\t%s\t%s' "$short" "$nseeds" "${execs:-?}" "${start:-?	?}" "${end:-?	?}" "$crashes")
  printf '%s\n' "$line" >>"$summary"
  printf '   %s\n' "$line"
done
[ "$found" = 1 ] || { echo "no fuzz targets in $build/tests/fuzz"; exit 1; }
if [ "$check" = 1 ] && [ -z "${FUZZ_TARGETS:-}" ]; then
  for d in "$root"/tests/fuzz/corpus/*/; do
    short=$(basename "$d")
    [ -x "$build/tests/fuzz/fuzz_$short" ] || { echo "!! corpus/$short has no target fuzz_$short"; status=1; }
  done
fi
exit $status
