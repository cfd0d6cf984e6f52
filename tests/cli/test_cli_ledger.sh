#!/usr/bin/env bash
# `consort ledger verify` and `consort receipt verify` on a ledger (format
# version 2) and receipts written by the real writer (tests/util/gen_ledger.c),
# then tampered with: what must verify exits 0, every rejection exits 1 naming
# the reason (and, for a ledger, the first bad entry), every usage error exits
# 2; and the independent verifier written from docs/ledger.md agrees.
set -u
CONSORT=${1:?usage: test_cli_ledger.sh path/to/consort}
case "$CONSORT" in /*) ;; *) CONSORT="$PWD/$CONSORT" ;; esac
GEN=${CONSORT_BINARY_DIR:-$(dirname "$CONSORT")/..}/tests/gen_ledger
[ -x "$GEN" ] || { echo "FAIL: test helper $GEN not built"; exit 1; }
WORK=$(mktemp -d /tmp/consort-cli-ledger.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
. "$(dirname "$0")/../util/shtest.sh"

# expect RC NEEDLE -- command...: runs it, checks the exit code and that
# stdout+stderr contain NEEDLE ("" for any output).
expect() {
    local want=$1 needle=$2
    shift 3
    "$@" >out.txt 2>err.txt
    local rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL: exit $rc, expected $want: $*"
        sed 's/^/  stdout: /' out.txt; sed 's/^/  stderr: /' err.txt
        failures=$((failures + 1))
        return
    fi
    if [ -n "$needle" ] && ! grep -qF -- "$needle" out.txt err.txt; then
        echo "FAIL: output lacks '$needle': $*"
        sed 's/^/  stdout: /' out.txt; sed 's/^/  stderr: /' err.txt
        failures=$((failures + 1))
        return
    fi
    echo "ok: $*"
}

# flip FILE OFFSET: inverts one bit of the byte at OFFSET.
flip() {
    python3 - "$1" "$2" <<'EOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x10]))
EOF
}

# fresh: a pristine copy of the generated ledger in ./l
fresh() { rm -rf l; cp -r g/ledger l; }

"$GEN" g --entries 40 --sig-every 5 --chunk-size 4096 || { echo "FAIL: gen_ledger"; exit 1; }
PIN=g/service_cert.pem
OTHER=g/other_service_cert.pem
FIRST=$(cd g/ledger && ls | grep committed | sort -t_ -k2 -n | head -1)
SECOND=$(cd g/ledger && ls | grep committed | sort -t_ -k2 -n | sed -n 2p)
OPEN=$(cd g/ledger && ls | grep '\.open$')
AFTER_SECOND=$(cd g/ledger && ls | grep '^ledger_' | sort -t_ -k2 -n | sed -n 3p)
NCHUNKS=$(ls g/ledger | wc -l)
[ -n "$FIRST" ] && [ -n "$SECOND" ] && [ -n "$OPEN" ] || { echo "FAIL: expected 2 committed chunks and an open one"; ls g/ledger; exit 1; }
# a ledger whose second signature entry (genuinely signed) states a terms
# digest that is not the one of the entries before it
"$GEN" w --entries 20 --sig-every 5 --chunk-size 4096 --wrong-terms || { echo "FAIL: gen_ledger --wrong-terms"; exit 1; }
WRONG=$(cat w/wrong_terms_seqno)

# ---- ledger verify ----
expect 0 "usage: consort ledger verify" -- "$CONSORT" ledger verify --help
expect 0 "ledger verified" -- "$CONSORT" ledger verify g/ledger --service-cert "$PIN"
grep -qF "entries:    1..50 in $NCHUNKS chunk files" out.txt || { echo "FAIL: entry count"; cat out.txt; failures=$((failures + 1)); }
grep -qF "signatures: 8 signature entries, the last at seqno 48" out.txt || { echo "FAIL: signature count"; cat out.txt; failures=$((failures + 1)); }
grep -qF "unsigned:   2 entries after the last signature entry (seqno 49..50): not covered by any signature; a restarting node does not trust them until the service re-confirms them" out.txt || { echo "FAIL: unsigned count"; cat out.txt; failures=$((failures + 1)); }
grep -qF "not checked offline: entry tags" out.txt || { echo "FAIL: what is not checked"; failures=$((failures + 1)); }
expect 2 "DIR is missing" -- "$CONSORT" ledger verify --service-cert "$PIN"
expect 2 "--service-cert is required" -- "$CONSORT" ledger verify g/ledger
expect 2 "--at" -- "$CONSORT" ledger verify g/ledger --service-cert "$PIN" --at yesterday
expect 2 "" -- "$CONSORT" ledger verify g/ledger --service-cert "$PIN" --bogus
expect 1 "cannot open" -- "$CONSORT" ledger verify g/ledger --service-cert missing.pem
expect 1 "ledger directory nowhere" -- "$CONSORT" ledger verify nowhere --service-cert "$PIN"
expect 1 "does not chain to the service certificate" -- "$CONSORT" ledger verify g/ledger --service-cert "$OTHER"
expect 1 "first bad entry: file $FIRST offset" -- "$CONSORT" ledger verify g/ledger --service-cert "$OTHER"
expect 1 "expired" -- "$CONSORT" ledger verify g/ledger --service-cert "$PIN" --at 2099-01-01T00:00:00Z

# frame_at FILE SEQNO: the offset of entry SEQNO's frame in chunk FILE (ledger_<first>-...)
frame_at() {
    python3 - "$1" "$2" <<'PY'
import os, sys
path, want = sys.argv[1], int(sys.argv[2])
seqno = int(os.path.basename(path).split("_")[1].split("-")[0].split(".")[0])
data, off = open(path, "rb").read(), 0
while seqno < want:
    off += 4 + int.from_bytes(data[off:off + 4], "big")
    seqno += 1
print(off)
PY
}

# a flipped bit at a few places of the first chunk (entries 1..5, then the
# signature entry 6): each reported at its entry with the check that caught it
# (docs/ledger.md: the reader's checks at the entry itself; bytes that only the
# Merkle leaf covers, at the signature entry after it)
SIG6=$(frame_at "g/ledger/$FIRST" 6)
while read -r off seqno needle; do
    fresh; flip "l/$FIRST" "$off"
    at=$(frame_at "g/ledger/$FIRST" "$seqno")
    expect 1 "$needle" -- "$CONSORT" ledger verify l --service-cert "$PIN"
    grep -qF "first bad entry: file $FIRST offset $at seqno $seqno " err.txt ||
        { echo "FAIL: flip at $off not named at seqno $seqno (offset $at)"; cat err.txt; failures=$((failures + 1)); }
done <<TABLE
0 1 frame length 268435659 outside
3 1 ledger entry 1: 16 trailing bytes
20 1 entries missing, reordered or duplicated
30 6 signature entry 6: signed root is not the root of the 5 entries before it
100 6 signature entry 6: signed root is not the root of the 5 entries before it
110 1 ledger entry 1: public write set: need
400 6 signature entry 6: signed root is not the root of the 5 entries before it
900 6 signature entry 6: signed root is not the root of the 5 entries before it
$((SIG6 + 485)) 6 signature entry 6: checkpoint:
TABLE
# a signed terms digest that is not the entries' terms, named by its seqno
expect 1 "signed terms digest" -- "$CONSORT" ledger verify w/ledger --service-cert w/service_cert.pem
grep -qE "first bad entry: file [^ ]+ offset [0-9]+ seqno $WRONG " err.txt || { echo "FAIL: wrong terms not named at seqno $WRONG"; cat err.txt; failures=$((failures + 1)); }
# a version 1 entry (version byte of the first entry, after its frame
# length): refused as unsupported, naming the version
fresh; printf '\001' | dd of="l/$FIRST" bs=1 seek=8 conv=notrunc status=none
expect 1 "version 1" -- "$CONSORT" ledger verify l --service-cert "$PIN"
grep -qF "first bad entry: file $FIRST offset 0 seqno 1" err.txt || { echo "FAIL: version 1 not named"; failures=$((failures + 1)); }
# the unsigned tail: a changed tag there cannot be seen offline, only counted
fresh; flip "l/$OPEN" "$(($(stat -c %s "l/$OPEN") - 1))"
expect 0 "unsigned:   2 entries after the last signature entry" -- "$CONSORT" ledger verify l --service-cert "$PIN"
# a truncated committed chunk
fresh; truncate -s -7 "l/$SECOND"
expect 1 "truncated frame" -- "$CONSORT" ledger verify l --service-cert "$PIN"
grep -qF "first bad entry: file $SECOND" err.txt || { echo "FAIL: truncation not named"; failures=$((failures + 1)); }
# a removed middle chunk; a renamed chunk; chunks swapped
fresh; rm "l/$SECOND"
expect 1 "a chunk is missing" -- "$CONSORT" ledger verify l --service-cert "$PIN"
grep -qF "first bad entry: file $AFTER_SECOND offset 0" err.txt || { echo "FAIL: gap not named"; failures=$((failures + 1)); }
fresh; mv "l/$SECOND" "l/$SECOND.bak"
expect 1 "$SECOND.bak" -- "$CONSORT" ledger verify l --service-cert "$PIN"
fresh; mv "l/$FIRST" l/tmp; mv "l/$SECOND" "l/$FIRST"; mv l/tmp "l/$SECOND"
expect 1 "first bad entry: file $FIRST offset 0 seqno 1" -- "$CONSORT" ledger verify l --service-cert "$PIN"
# a torn final frame of the open chunk is reported, not an error
fresh; head -c 37 "l/$FIRST" >> "l/$OPEN"
expect 0 "torn frame of 37 bytes" -- "$CONSORT" ledger verify l --service-cert "$PIN"

# ---- receipt verify ----
expect 0 "usage: consort receipt verify" -- "$CONSORT" receipt verify --help
for r in g/receipts/*.json; do
    seqno=$(basename "$r" .json)
    expect 0 "receipt verified: transaction 1.$seqno" -- "$CONSORT" receipt verify "$r" --service-cert "$PIN" --claims-digest "$(cat "g/claims/$seqno.hex")" --txid "1.$seqno"
done
expect 0 "leaf 0 of a tree of 5 leaves" -- "$CONSORT" receipt verify - --service-cert "$PIN" < g/receipts/1.json
expect 1 "claims digest is not the expected one" -- "$CONSORT" receipt verify g/receipts/1.json --service-cert "$PIN" --claims-digest "$(cat g/claims/5.hex)"
expect 1 "is for transaction 1.1, not 1.2" -- "$CONSORT" receipt verify g/receipts/1.json --service-cert "$PIN" --txid 1.2
expect 1 "does not chain to the service certificate" -- "$CONSORT" receipt verify g/other_receipt.json --service-cert "$PIN"
expect 1 "does not chain to the service certificate" -- "$CONSORT" receipt verify g/receipts/1.json --service-cert "$OTHER"
expect 1 "expired" -- "$CONSORT" receipt verify g/receipts/1.json --service-cert "$PIN" --at 2099-01-01T00:00:00Z
expect 1 "cannot open" -- "$CONSORT" receipt verify nothing.json --service-cert "$PIN"
expect 2 "RECEIPT file is missing" -- "$CONSORT" receipt verify --service-cert "$PIN"
expect 2 "--service-cert is required" -- "$CONSORT" receipt verify g/receipts/1.json
expect 2 "--claims-digest" -- "$CONSORT" receipt verify g/receipts/1.json --service-cert "$PIN" --claims-digest abc
expect 2 "--txid" -- "$CONSORT" receipt verify g/receipts/1.json --service-cert "$PIN" --txid 1.02

# edit KEY VALUE: a copy of receipt 5 with one field replaced
edit() {
    python3 - "$1" "$2" <<'EOF' > edited.json
import json, sys
j = json.load(open("g/receipts/5.json"))
key, value = sys.argv[1], sys.argv[2]
(j["leaf_components"] if key in j["leaf_components"] else j)[key] = value
print(json.dumps(j))
EOF
}
edit txid 1.6
expect 1 "commit_evidence" -- "$CONSORT" receipt verify edited.json --service-cert "$PIN"
edit write_set_digest "$(cat g/claims/1.hex)"
expect 1 "signature does not cover the root" -- "$CONSORT" receipt verify edited.json --service-cert "$PIN"
edit claims_digest "$(cat g/claims/1.hex)"
expect 1 "signature does not cover the root" -- "$CONSORT" receipt verify edited.json --service-cert "$PIN"
edit node_certificate "$(cat "$PIN")"
expect 1 "" -- "$CONSORT" receipt verify edited.json --service-cert "$PIN"
edit cose_receipt "$(python3 -c "import json,base64; c=bytearray(base64.b64decode(json.load(open('g/receipts/5.json'))['cose_receipt'])); c[-1]^=1; print(base64.b64encode(bytes(c)).decode())")"
expect 1 "signature does not cover the root" -- "$CONSORT" receipt verify edited.json --service-cert "$PIN"
echo '{"txid": "1.5"}' > edited.json
expect 1 "has 1 members, expected 4" -- "$CONSORT" receipt verify edited.json --service-cert "$PIN"

# ---- the documents are enough: an independent verifier written from them ----
INDEP=$(dirname "${BASH_SOURCE[0]}")/independent_verify.py
case "$INDEP" in /*) ;; *) INDEP="$OLDPWD/$INDEP" ;; esac
# The independent verifier needs the `cryptography` package
# (scripts/install-deps installs Debian's python3-cryptography); prefer an
# interpreter that has it.
PY=python3
python3 -c "import cryptography" 2>/dev/null || PY=/usr/bin/python3
# where C: "first bad entry: file F offset O seqno S"; python: "rejected: F offset O seqno S: ..."
where_c() { grep -o "first bad entry: file [^ ]* offset [0-9]* seqno [0-9]*" err.txt | sed 's/^first bad entry: file //'; }
where_py() { grep -o "rejected: [^ ]* offset [0-9]* seqno [0-9]*" err.txt | sed 's/^rejected: //'; }
# agree DIR PIN: consort and the independent verifier accept or reject alike,
# and name the same first bad entry
agree() {
    local rc_c rc_p c p
    "$CONSORT" ledger verify "$1" --service-cert "$2" >out.txt 2>err.txt; rc_c=$?; c=$(where_c)
    "$PY" "$INDEP" ledger "$1" "$2" >out.txt 2>err.txt; rc_p=$?; p=$(where_py)
    if [ "$rc_c" -ne "$rc_p" ] || [ "$c" != "$p" ]; then
        echo "FAIL: consort ($rc_c, $c) and the independent verifier ($rc_p, $p) disagree on $1"
        sed 's/^/  stderr: /' err.txt
        failures=$((failures + 1))
    else
        echo "ok: both verifiers agree on $1 (exit $rc_c${c:+, $c})"
    fi
}
if "$PY" -c "import cryptography" 2>/dev/null; then
    expect 0 "ledger verifies: 50 entries, last signature at 48, 2 unsigned after it" -- "$PY" "$INDEP" ledger g/ledger "$PIN"
    for r in g/receipts/*.json; do
        expect 0 "verifies" -- "$PY" "$INDEP" receipt "$r" "$PIN"
    done
    expect 1 "not signed by the service" -- "$PY" "$INDEP" receipt g/other_receipt.json "$PIN"
    fresh; flip "l/$FIRST" 900
    expect 1 "rejected" -- "$PY" "$INDEP" ledger l "$PIN"
    expect 1 "seqno $WRONG: signed terms digest" -- "$PY" "$INDEP" ledger w/ledger w/service_cert.pem
    agree g/ledger "$PIN"
    agree w/ledger w/service_cert.pem
    for off in 0 3 8 20 30 50 100 110 200 400 900 1500 2500; do
        fresh; flip "l/$FIRST" "$off"; agree l "$PIN"
    done
    fresh; truncate -s -7 "l/$SECOND"; agree l "$PIN"
    fresh; rm "l/$SECOND"; agree l "$PIN"
    fresh; head -c 37 "l/$FIRST" >> "l/$OPEN"; agree l "$PIN"
    fresh; flip "l/$OPEN" "$(($(stat -c %s "l/$OPEN") - 1))"; agree l "$PIN"
else
    echo "SKIP: python3 'cryptography' missing (scripts/install-deps installs python3-cryptography): independent verifier not run"
    skipped=$((skipped + 1))
fi

finish "all ledger and receipt CLI checks passed"
