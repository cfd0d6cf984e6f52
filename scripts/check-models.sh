#!/usr/bin/env bash
# shellcheck disable=SC2086 # flag lists ($flags, $args, $3) are split on purpose
# Model-checks the rolling update's eviction rule with spin (issue 9, item 7;
# docs/rolling-updates.md "The eviction rule and its model").
#
#   scripts/check-models.sh [WORKDIR]
#
# For each configuration of bounds (below) it runs spin -a on
# models/rolling_update.pml, compiles pan with gcc and checks
#   assert  assertions and invalid end states, no claim (-DSAFETY -DNOCLAIM)
#   safety  ltl `safety`, the floor of live N voters     (-DSAFETY, -N safety)
#   avail   ltl `avail`, a live majority after <= TOL crashes (-N avail)
#   live    ltl `live`, every O voter eventually gone: acceptance cycles
#           under weak fairness (-DNFAIR=3, pan -a -f -N live)
# and requires "errors: 0". Then it requires spin to REFUTE (errors > 0):
#   the mutant (models/rolling_update_mutant.pml, the guard removed), by the
#   eviction assertion and, with that assertion compiled out, by each ltl
#   safety claim alone;
#   liveness with too few node slots (the rule blocks forever: the
#   "blocked, need K" case) or too few for the default cutover quorum, so the
#   liveness check is known not to be vacuous.
# Then the fork-free migration (issue 14, docs/migration-model.md):
# models/migration.pml in configurations m1, m2 (below) must give errors: 0
# for the end-state assertions, the ltl safety claims onelive, ackd, retired,
# kept, the ltl `live` (pan -a: acceptance cycles, no fairness needed) and a
# check that the state graph has no cycles at all (-DNP, pan -l); and spin
# must REFUTE the mutants: models/migration_mutant.pml (the source retires
# before the destination's confirm), -DLIVE_EARLY (the destination goes LIVE
# without waiting for done) and -DNAIVE_RESTART (no restart rule in the
# store's two-write scheme).
# Prints states and times per run; exits 1 on any mismatch, and if spin or gcc
# is missing (a missing checker is a failure, not a skip). About 15-25 s on 2
# cores for the rolling update, about 15-20 s more for the migration; every
# pan run is capped at 120 s.
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
models=$here/models
work=${1:-}
if [ -z "$work" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/consort-models.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work" || exit 1

for tool in spin gcc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "FAIL: $tool not found (Debian: apt-get install $tool)" >&2
        exit 1
    fi
done
echo "spin: $(spin -V | head -1); models: $models; work: $work"

# name -> spin -D flags. The first eviction needs, with every slot filled,
# NSLOTS - NO_INIT >= MAJ(NSLOTS - 1) + TOL live N voters (MAJ(n) = n/2 + 1),
# and the default cutover (a majority of the voters running N) needs
# NSLOTS - NO_INIT >= MAJ(NSLOTS); MAXFAIL > TOL so that crashes beyond what
# the policy tolerates are explored too.
declare -A CONF=(
    [c1]="-DNSLOTS=6 -DNO_INIT=2 -DTOL=1 -DMAXFAIL=2"
    [c2]="-DNSLOTS=8 -DNO_INIT=3 -DTOL=1 -DMAXFAIL=3"
    [c3]="-DNSLOTS=7 -DNO_INIT=3 -DTOL=0 -DMAXFAIL=2"
    [c4]="-DNSLOTS=6 -DNO_INIT=1 -DTOL=2 -DMAXFAIL=3"
    [c5]="-DNSLOTS=6 -DNO_INIT=3 -DTOL=0 -DMAXFAIL=2 -DCUTOVER=3"
    # liveness must FAIL: 2 O + 3 N: 3 < MAJ(4) + 1 = 4, blocked (need 1)
    [few]="-DNSLOTS=5 -DNO_INIT=2 -DTOL=1 -DMAXFAIL=2"
    # liveness must FAIL: 3 O + 3 N never reach the default cutover (4 of 6)
    [nocut]="-DNSLOTS=6 -DNO_INIT=3 -DTOL=0 -DMAXFAIL=2"
    # the migration (models/migration.pml): destinations, crashes,
    # application counter increments, refused store copies at restarts
    [m1]="-DNDEST=2 -DMAXCRASH=2 -DMAXAPP=1 -DMAXRB=1"
    [m2]="-DNDEST=1 -DMAXCRASH=3 -DMAXAPP=2 -DMAXRB=1"
)

fails=0
runs=0
t_start=$(date +%s.%N)

# build TAG MODEL "SPIN FLAGS" BINARIES: spin -a, then the pan binaries named
# (assert, safety, live) in $work/TAG. -O0 compiles 3x faster than -O2 and
# these state spaces are small; the liveness search is the longest, so -O1.
build() {
    local tag=$1 model=$2 flags=$3 dir=$work/$1 b
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    if ! (cd "$dir" && spin -a $flags "$models/$model" >spin.log 2>&1); then
        echo "FAIL  $tag: spin -a $flags $model:" >&2
        cat "$dir/spin.log" >&2
        return 1
    fi
    for b in $4; do
        case $b in
        assert) set -- -O0 -DSAFETY -DNOCLAIM ;;
        safety) set -- -O0 -DSAFETY ;;
        live) set -- -O1 -DNFAIR=3 ;;
        np) set -- -O1 -DNP ;;
        esac
        if ! (cd "$dir" && gcc -w "$@" -o "pan_$b" pan.c); then
            echo "FAIL  $tag: gcc could not compile pan ($b)" >&2
            return 1
        fi
    done
}

# check TAG KIND EXPECT(pass|refute) : runs one pan binary of $work/TAG
check() {
    local tag=$1 kind=$2 expect=$3 dir=$work/$1 bin args out errors states elapsed verdict
    case $kind in
    assert) bin=pan_assert args="" ;;
    safety) bin=pan_safety args="-N safety" ;;
    avail) bin=pan_safety args="-N avail" ;;
    live) bin=pan_live args="-a -f -N live" ;;
    onelive | ackd | retired | kept) bin=pan_safety args="-N $kind" ;;
    mlive) bin=pan_live args="-a -N live" ;;
    cycles) bin=pan_np args="-l" ;;
    esac
    runs=$((runs + 1))
    out=$(cd "$dir" && timeout 120 ./$bin -m100000 -w22 $args 2>&1)
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' <<<"$out" | head -1)
    states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' <<<"$out" | head -1)
    elapsed=$(sed -n 's/^pan: elapsed time \([0-9.e+-]*\) seconds.*/\1/p' <<<"$out" | head -1)
    if [ -z "$errors" ]; then
        verdict=FAIL
    elif [ "$expect" = pass ] && [ "$errors" = 0 ]; then
        verdict=ok
    elif [ "$expect" = refute ] && [ "$errors" != 0 ]; then
        verdict=ok
    else
        verdict=FAIL
    fi
    printf '%-5s %-6s %-7s expect %-7s errors: %-3s %9s states  %5ss  %s\n' "$verdict" "$tag" \
        "$kind" "$expect" "${errors:-?}" "${states:-?}" "${elapsed:-?}" "${CONF[${tag%%-*}]}"
    if [ "$verdict" = FAIL ]; then
        fails=$((fails + 1))
        echo "$out" | grep -E "violated|error|pan:" | head -5 | sed 's/^/      /'
    fi
}

# trail TAG MODEL FLAGS: prints the counterexample's events (printf lines)
trail() {
    local dir=$work/$1
    [ -n "$(ls "$dir"/*.trail 2>/dev/null)" ] || return 0
    (cd "$dir" && cp "$models"/*.pml . && spin -t $3 "$2" 2>&1) |
        grep -E '^ +[a-z]|assertion violated|acceptance|CYCLE' | sed 's/^ */      | /' | head -24
}

# The real model: everything must verify.
for c in c1 c2 c3 c4 c5; do
    build "$c" rolling_update.pml "${CONF[$c]}" "assert safety live" || {
        fails=$((fails + 1))
        continue
    }
    for k in assert safety avail live; do check "$c" $k pass; done
done

# The mutant: the eviction assertion must fail; with it compiled out, each ltl
# safety claim must fail on its own.
for c in c1 c2 c4; do
    if build "$c-mut" rolling_update_mutant.pml "${CONF[$c]}" assert; then
        check "$c-mut" assert refute
        if [ "$c" = c1 ]; then
            (cd "$work/$c-mut" && ./pan_assert -i >/dev/null 2>&1) # shortest trail
            echo "      shortest counterexample to the mutant (c1):"
            trail "$c-mut" rolling_update_mutant.pml "${CONF[$c]}"
        fi
    else
        fails=$((fails + 1))
    fi
    if build "$c-mutltl" rolling_update_mutant.pml "${CONF[$c]} -DNO_EVICT_ASSERT" safety; then
        check "$c-mutltl" safety refute
        check "$c-mutltl" avail refute
    else
        fails=$((fails + 1))
    fi
done

# Liveness is not vacuous: too few N nodes can join, so O is never evicted.
for c in few nocut; do
    build "$c" rolling_update.pml "${CONF[$c]}" "safety live" || {
        fails=$((fails + 1))
        continue
    }
    check "$c" safety pass
    check "$c" live refute
done

# The fork-free migration (docs/migration-model.md).
# mbuild TAG MODEL "SPIN FLAGS" BINARIES: like build, but every pan binary at
# -O0 and compiled in parallel (this pan.c takes 6 s to compile at -O1, 2 s at
# -O0; the searches are short either way).
mbuild() {
    local tag=$1 model=$2 flags=$3 dir=$work/$1 b pids="" ok=0
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    if ! (cd "$dir" && spin -a $flags "$models/$model" >spin.log 2>&1); then
        echo "FAIL  $tag: spin -a $flags $model:" >&2
        cat "$dir/spin.log" >&2
        return 1
    fi
    for b in $4; do
        case $b in
        assert) set -- -DSAFETY -DNOCLAIM ;;
        safety) set -- -DSAFETY ;;
        live) set -- ;;
        np) set -- -DNP ;;
        esac
        (cd "$dir" && gcc -w -O0 "$@" -o "pan_$b" pan.c) &
        pids="$pids $!"
    done
    for b in $pids; do wait "$b" || ok=1; done
    [ "$ok" = 0 ] || echo "FAIL  $tag: gcc could not compile pan" >&2
    return $ok
}

t_mig=$(date +%s.%N)
# The real model: everything must verify. The end-state assertion is on in
# every binary; `cycles` (no cycle in the state graph at all) is why `live`
# needs no fairness (docs/migration-model.md), checked on m1.
for c in m1 m2; do
    bins="assert safety live"
    [ "$c" = m1 ] && bins="$bins np"
    mbuild "$c" migration.pml "${CONF[$c]}" "$bins" || {
        fails=$((fails + 1))
        continue
    }
    for k in assert onelive ackd retired kept mlive; do check "$c" $k pass; done
    [ "$c" = m1 ] && check "$c" cycles pass
done

# The mutants, with the end-state assertion compiled out (-DNO_END_ASSERT) so
# that each ltl claim must refute them on its own. migration_mutant.pml: the
# source retires when it sends the package (before the confirm).
c=m1
if mbuild "$c-mut" migration_mutant.pml "${CONF[$c]} -DNO_END_ASSERT" "safety live"; then
    for k in retired kept mlive; do check "$c-mut" $k refute; done
    (cd "$work/$c-mut" && ./pan_safety -m100000 -w22 -N kept -i >/dev/null 2>&1) # shortest trail
    echo "      counterexample to the mutant (retire before confirm, m1, ltl kept):"
    trail "$c-mut" migration_mutant.pml "${CONF[$c]} -DNO_END_ASSERT"
else
    fails=$((fails + 1))
fi
# mutants by flag: LIVE_EARLY (LIVE without done), NAIVE_RESTART (no restart rule)
for m in LIVE_EARLY NAIVE_RESTART; do
    t=$c-$(tr 'A-Z_' 'a-z-' <<<"$m" | cut -c1-5)
    if mbuild "$t" migration.pml "${CONF[$c]} -D$m -DNO_END_ASSERT" safety; then
        check "$t" onelive refute
        if [ "$m" = NAIVE_RESTART ]; then
            (cd "$work/$t" && ./pan_safety -m100000 -w22 -N onelive -i >/dev/null 2>&1)
            echo "      shortest counterexample to the naive restart (m1, ltl onelive):"
            trail "$t" migration.pml "${CONF[$c]} -D$m -DNO_END_ASSERT"
        fi
    else
        fails=$((fails + 1))
    fi
done
t_end=$(date +%s.%N)
echo "migration: $(awk -v a="$t_mig" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }') s"
total=$(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }')
if [ "$fails" -ne 0 ]; then
    echo "FAIL: $fails of $runs model checks did not give the expected result (${total} s)"
    exit 1
fi
echo "OK: $runs model checks as expected (${total} s, spin + gcc + pan)"
