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
# models/migration.pml follows the code (store_file.c's commit and open,
# migrate_*.c), including the destination's rule that a package creates its
# store only while its anchor is where it was at the offer ($MIG_FIX,
# -DOFFER_AT_ANCHOR; without it an acknowledged value is lost: a hidden
# destination store re-created from a replayed package, which the model
# found: that variant must be REFUTED). The real runs must verify in m1, m2
# (end-state assertions, ltl safety = onelive, ackd, retired and kept, and
# live) and m3 (onelive only: the open-once fork needs 3 crashes and 2
# destinations).
# Spin must REFUTE the mutants: retire before confirm
# (models/migration_mutant.pml), -DLIVE_EARLY, -DOPEN_ONCE (m3), and the
# model without $MIG_FIX (m0).
# MIGRATION_FLAGS="-D..." adds flags to the real model's runs (e.g.
# MIGRATION_FLAGS=-DOPEN_ONCE must make the script fail).
# Prints states and times per run; exits 1 on any mismatch, and if spin or gcc
# is missing (a missing checker is a failure, not a skip). About 15-25 s on 2
# cores for the rolling update, about 25 s more for the migration; every
# pan run is capped at 120 s. Bigger migration bounds: docs/migration-model.md.
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
    # application counter increments, restarts with a hidden store
    [m1]="-DNDEST=2 -DMAXCRASH=2 -DMAXAPP=1 -DMAXHIDE=1"
    [m2]="-DNDEST=1 -DMAXCRASH=3 -DMAXAPP=2 -DMAXHIDE=1"
    [m0]="-DNDEST=1 -DMAXCRASH=1 -DMAXAPP=1 -DMAXHIDE=1"
    [m3]="-DNDEST=2 -DMAXCRASH=3 -DMAXAPP=1 -DMAXHIDE=0 -DNC=6"
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
    onelive | ackd | retired | kept | msafety) bin=pan_safety args="-N ${kind#m}" ;;
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
# the destination's rule as the code has it (src/sealing/migrate_accept.c:
# the anchor recorded with the offer; docs/migration-model.md)
MIG_FIX="-DOFFER_AT_ANCHOR"
mflags=${MIGRATION_FLAGS:-}
# The real model: everything must verify. The end-state assertion is on in
# every binary (so every run checks it too); msafety is ltl `safety`, the
# conjunction of onelive, ackd, retired and kept. That the state graph has no
# cycle (why `live` needs no fairness) is a manual check (3.7 s more):
# docs/migration-model.md "Running it".
for c in m1 m2 m3; do
    case $c in
    m1 | m2) bins="safety live" kinds="msafety mlive" ;;
    m3) bins="safety" kinds="onelive" ;;
    esac
    mbuild "$c" migration.pml "${CONF[$c]} $MIG_FIX $mflags" "$bins" || {
        fails=$((fails + 1))
        continue
    }
    for k in $kinds; do check "$c" $k pass; done
done

# Without that rule (the code before the model found it): the acknowledged
# value is lost; spin must keep refuting it, so the rule is known to matter.
# m0: the smallest bounds that show it.
c=m0
if mbuild "$c-code" migration.pml "${CONF[$c]} -DNO_END_ASSERT $mflags" safety; then
    check "$c-code" ackd refute
    echo "      counterexample without the anchor rule (m0, ltl ackd; docs/migration-model.md):"
    trail "$c-code" migration.pml "${CONF[$c]} -DNO_END_ASSERT $mflags"
else
    fails=$((fails + 1))
fi

# The mutants, with the end-state assertion compiled out (-DNO_END_ASSERT) so
# that each ltl claim must refute them on its own. migration_mutant.pml: the
# source retires when it sends the package (before the confirm).
c=m1
if mbuild "$c-mut" migration_mutant.pml "${CONF[$c]} $MIG_FIX -DNO_END_ASSERT" "safety live"; then
    for k in retired kept mlive; do check "$c-mut" $k refute; done
    (cd "$work/$c-mut" && ./pan_safety -m100000 -w22 -N kept -i >/dev/null 2>&1) # shortest trail
    echo "      counterexample to the mutant (retire before confirm, m1, ltl kept):"
    trail "$c-mut" migration_mutant.pml "${CONF[$c]} $MIG_FIX -DNO_END_ASSERT"
else
    fails=$((fails + 1))
fi
# mutants by flag: LIVE_EARLY (LIVE without done, m1), OPEN_ONCE (opening
# commits once, m3: 3 crashes, 2 destinations; more blobs coexist, NC=6)
for m in LIVE_EARLY OPEN_ONCE; do
    c=m1 extra=""
    [ "$m" = OPEN_ONCE ] && c=m3
    t=$c-$(tr 'A-Z_' 'a-z-' <<<"$m" | cut -c1-5)
    if mbuild "$t" migration.pml "${CONF[$c]} $MIG_FIX -D$m $extra -DNO_END_ASSERT" safety; then
        check "$t" onelive refute
        if [ "$m" = OPEN_ONCE ]; then
            echo "      counterexample to open-once (m3, ltl onelive: S acts on RETIRED(D) and RETIRED(D2)):"
            trail "$t" migration.pml "${CONF[$c]} $MIG_FIX -D$m $extra -DNO_END_ASSERT"
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
