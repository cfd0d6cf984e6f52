#!/usr/bin/env bash
# The tour of README.md ("A five-minute tour"), as `make demo` runs it:
# scripts/demo.sh takes the block out of README.md and runs it as one bash
# script with set -euo pipefail, so any command of it that fails fails this
# test. Then its output is checked, step by step; and the tour runs a second
# time in the same place, as a newcomer who pastes it again would.
set -u
BUILD=${1:?usage: test_tour.sh BUILD_DIR}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/consort-tour-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# section OUT CMD: the output of the tour's command whose shown line contains
# CMD, up to the next shown command (demo.sh shows each as "$ <line>").
section() {
    python3 - "$1" "$2" <<'PY'
import re, sys
text = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1], errors="replace").read())
out, on = [], False
for line in text.split("\n"):
    if line.startswith("$ "):
        if on:
            break
        on = sys.argv[2] in line
        continue
    if on:
        out.append(line)
print("\n".join(out))
PY
}
# expect OUT CMD REGEX WHAT: the output of CMD matches the extended REGEX.
expect() {
    section "$1" "$2" | grep -qE -- "$3" || { fail "$4: no line matching '$3' after '$2'"; section "$1" "$2" | head -20 | sed 's/^/  | /'; }
}
reject() {
    if section "$1" "$2" | grep -qE -- "$3"; then fail "$4: '$3' after '$2'"; fi
}

for run in 1 2; do
    out=$WORK/tour$run.out
    CONSORT_TOUR=$WORK/tour bash "$SRC/scripts/demo.sh" "$BUILD" >"$out" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "run $run: the tour exited $rc"
        tail -40 "$out" | sed 's/^/  | /'
        continue
    fi
    grep -q "Traceback" "$out" && fail "run $run: a Python traceback"
    grep -q "tour: stopped" "$out" && fail "run $run: a command failed"
    expect "$out" 'sandbox --nodes 3' '^READY 127\.0\.0\.1:[0-9]+$' "the sandbox is ready"
    expect "$out" 'sandbox --nodes 3' '^  POST +/app/log/private +users' "the banner lists the app's endpoints"
    expect "$out" 'cat $W/svc/nodes.json' '"role": "leader"' "nodes.json names the leader"
    expect "$out" '"the secret recipe"}'"'"' --txid-out' '^  HTTP 200   x-consort-txid: [0-9]+\.[0-9]+$' "the private write"
    expect "$out" 'a follower forwards it' '^  HTTP 200   x-consort-txid' "the public write through a follower"
    expect "$out" "GET '/app/log/private?id=1' --node 2" 'the secret recipe' "the read from node 2"
    expect "$out" 'GET /node/network' '"Trusted"' "GET /node/network"
    expect "$out" 'sandbox kill' '^\{"node":0,"pid":[0-9]+,"leader":[12]\}$' "kill: a new leader"
    expect "$out" 'while node 0 was down' '^  HTTP 200   x-consort-txid' "a write right after the kill"
    expect "$out" 'sandbox restart' '^\{"node":0,"pid":[0-9]+,.*"committed_seqno":[0-9]+\}$' "restart"
    expect "$out" "GET '/app/log/private?id=3' --node 0" 'written while node 0 was down' "the restarted node caught up"
    expect "$out" 'receipt verify' '^receipt verified: transaction [0-9]+\.[0-9]+ is in the service' "the receipt"
    expect "$out" 'gov vote $P --accept $G --as member1' '"state": "Accepted"' "the update is accepted"
    expect "$out" 'the third N node' '^\{"node":5,"node_id":"[0-9a-f]{16}"' "the third N node joined"
    expect "$out" 'gov service' '"state": "(evicting|done)"' "the old nodes are being evicted"
    expect "$out" 'ledger verify' '^ledger verified: ' "ledger verify"
    expect "$out" 'ledger show $L --table' 'value "opening hours: 9 to 5"' "ledger show: the public record"
    reject "$out" 'ledger show $L --table' 'secret recipe' "ledger show --table: the private record"
    expect "$out" 'ledger show $L --from' 'private writes: [0-9]+ bytes, encrypted' "ledger show: the private write"
    expect "$out" 'ledger show $L --from' '^[0-9]+\.[0-9]+ +SIGNATURE' "ledger show: a signature entry"
    reject "$out" 'ledger show $L --from' 'secret recipe' "ledger show: the private plaintext"
    expect "$out" 'grep -ac' '^0$' "the private record is not in clear in the ledger files"
    expect "$out" 'ledger verify $W/tampered' 'consort ledger verify: .*first bad entry|first bad entry' "the tampered ledger is caught"
    expect "$out" 'ledger verify $W/tampered' '^rejected \(exit 1\)$' "the tampered ledger's exit status"
    expect "$out" 'sample composed' '^READY 127\.0\.0\.1:[0-9]+$' "the composed services are ready"
    expect "$out" '"a medical record"}' '^  HTTP 200   x-consort-txid' "the write through records"
    expect "$out" 'e2e verify' '"service": "storage"' "the statement names storage's hop"
    expect "$out" 'e2e verify' '"mode": "nested"' "the statements nest"
    expect "$out" 'records/export' 'HTTP 403' "an undeclared destination is refused"
    expect "$out" 'sandbox stop --workspace $R' '"stopped":true' "the composed services stop"
    expect "$out" 'evidence verify $W/ev.cbor --platform-dir $W/platform --key' '"platform": "virtual"' "evidence verify"
    expect "$out" '--policy $W/policy.json' 'is not trusted' "the policy rejects another code id"
    expect "$out" '--policy $W/policy.json' 'rejected \(exit 1\)' "the rejection's exit status"
    if [ -d "$SRC/../shared/testdata/sev-snp" ]; then
        expect "$out" 'if [ -d $T ]' '"platform": "snp"' "the SEV-SNP report verifies"
    fi
    [ "$failures" -eq 0 ] && echo "ok: tour run $run"
done

# scripts/sandbox-https says what is wrong, without a traceback
for args in "$WORK/none GET /x" "$WORK/tour/svc GET /x --node 9" "$WORK/tour/svc POST /x {bad"; do
    # shellcheck disable=SC2086 # the words
    "$SRC/scripts/sandbox-https" $args >"$WORK/h.out" 2>&1
    rc=$?
    if [ "$rc" -ne 1 ] || grep -q Traceback "$WORK/h.out" || ! grep -q '^sandbox-https: ' "$WORK/h.out"; then
        fail "sandbox-https $args: exit $rc: $(cat "$WORK/h.out")"
    fi
done
grep -q 'no such directory' <("$SRC/scripts/sandbox-https" "$WORK/none" GET /x 2>&1) || fail "sandbox-https: a missing workspace"
grep -q 'has nodes 0 to 5' <("$SRC/scripts/sandbox-https" "$WORK/tour/svc" GET /x --node 9 2>&1) || fail "sandbox-https: --node 9"
grep -q 'not JSON' <("$SRC/scripts/sandbox-https" "$WORK/tour/svc" POST /x '{bad' 2>&1) || fail "sandbox-https: a body that is not JSON"

# README.md keeps exactly two set-up commands, and the tour block demo.sh runs
setup=$(sed -n '/^## Two commands/,/^## /p' "$SRC/README.md" | grep -cE '^make (demo|test) ')
[ "$setup" -eq 2 ] || fail "README.md's set-up commands: $setup, expected make demo and make test"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s); the tour's output:"
    sed 's/^/  | /' "$WORK/tour1.out" | tail -150
    exit 1
fi
echo "PASS"
