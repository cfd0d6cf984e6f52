#!/usr/bin/env bash
# The `consort gov` and `consort code id` verbs with the real `consort` ($1):
#  - usage errors exit 2 with a message naming the problem, on stderr only;
#  - `gov sign` writes requests that an independent checker (gov_cose.py:
#    its own CBOR reader, python's `cryptography`) decodes as the right type,
#    member, proposal id and payload, with an ES256/ES384 signature over the
#    COSE Sig_structure; `gov submit --dry-run` decodes and verifies them and
#    refuses a tampered one or another member's certificate;
#  - against a stand-in node (gov_fake_node.py, HTTPS with its own service
#    certificate) every verb sends the right method, path, content type and a
#    signed body that verifies, prints answers (JSON indented, Lua as it is)
#    and refusals ("consort gov vote: CODE: message", exit 1); a proposal that
#    is not {"actions": [...]} is refused before anything is sent; the service
#    certificate is pinned; a silent node times out; a sandbox-like workspace
#    resolves to its service certificate, memberN files and the first node of
#    its nodes.json that accepts a connection (node 0 evicted in a rolling
#    update), never resending a request a node accepted, and lists every node
#    tried when none answers (node0/node.json without a nodes.json);
#  - `code id` prints what consortd measures, changes with the module, and is
#    the code id a running node reports in /node/quotes;
#  - a whole governance round in a 1-node sandbox:
#    add a member by proposal and ballot, a rejection, withdrawals, a replay,
#    a stale request.
set -u
CONSORT=${1:?usage: test_cli_gov.sh path/to/consort}
case "$CONSORT" in /*) ;; *) CONSORT="$PWD/$CONSORT" ;; esac
CONSORTD=$(dirname "$CONSORT")/consortd
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${CONSORT_BINARY_DIR:-$(dirname "$CONSORT")/..}
APP=$BIN/samples/logging.so
OTHER_APP=$BIN/tests/inventory_app.so
WORK=$(mktemp -d /tmp/consort-cli-gov.XXXXXX)
PIDS=()
SANDBOX_PID=
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    [ -n "$SANDBOX_PID" ] && kill -TERM "$SANDBOX_PID" 2>/dev/null && wait "$SANDBOX_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK" || exit 1
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# expect RC STREAM NEEDLE -- command...: the exit code is RC, STREAM (out or
# err) contains the fixed string NEEDLE ("" for anything non-empty) and the
# other stream is empty.
expect() {
    local want=$1 stream=$2.txt needle=$3
    shift 4
    SIGN_T0=$(date +%s) # when the command ran (check_cose's created_at window, durations)
    "$@" >out.txt 2>err.txt
    local rc=$?
    SIGN_T1=$(date +%s)
    local other=out.txt
    [ "$stream" = out.txt ] && other=err.txt
    if [ "$rc" -ne "$want" ]; then
        fail "exit $rc, expected $want: $*"
    elif [ ! -s "$stream" ] || ! grep -qF -- "$needle" "$stream"; then
        fail "${stream%.txt} lacks '$needle': $*"
    elif [ -s "$other" ]; then
        fail "unexpected output on ${other%.txt}: $*"
    else
        echo "ok: $*"
        return 0
    fi
    sed 's/^/  stdout: /' out.txt | head -20
    sed 's/^/  stderr: /' err.txt | head -20
    return 1
}

# has FILE REGEX WHAT: FILE has a line matching the extended REGEX.
has() {
    grep -qE -- "$2" "$1" || { fail "$3: no line matching '$2'"; sed 's/^/  | /' "$1" | head -20; }
}

# identity NAME CURVE: NAME_privk.pem (consort keygen) and NAME_cert.pem (openssl, self-signed).
identity() {
    "$CONSORT" keygen --priv "$1_privk.pem" --pub "$1_pubk.pem" --curve "$2" >/dev/null &&
        openssl req -x509 -new -key "$1_privk.pem" -subj "/CN=$1" -days 2 -out "$1_cert.pem" \
            2>/dev/null || fail "cannot make identity $1"
}

# member_id CERT: lower-case hex SHA-256 of the certificate's DER, computed by openssl.
member_id() {
    openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}

# wait_file FILE: until FILE exists and is not empty (30 s at most).
wait_file() {
    for _ in $(seq 1 300); do [ -s "$1" ] && return 0; sleep 0.1; done # python starts slowly under load
    return 1
}

ID_A=$(printf 'a%.0s' $(seq 64))
ID_F=$(printf 'f%.0s' $(seq 64))
ID_E=$(printf 'e%.0s' $(seq 64))
identity m0 P-256
identity m1 P-384
identity other P-256
M0="--member-cert m0_cert.pem --member-key m0_privk.pem"
M1="--member-cert m1_cert.pem --member-key m1_privk.pem"
echo '{"actions": [{"name": "set_recovery_threshold", "args": {"threshold": 1}}]}' >proposal.json

# ---- help: every verb has usage and examples ----
for v in propose vote withdraw list show members service constitution sign submit; do
    expect 0 out "usage: consort gov $v" -- "$CONSORT" gov "$v" --help && has out.txt "^  consort " "gov $v example"
done
expect 0 out "usage: consort code id" -- "$CONSORT" code id --help && has out.txt "^  consort code id" "code id example"
expect 0 out "  constitution " -- "$CONSORT" gov --help
expect 2 err "consort gov: a verb is missing" -- "$CONSORT" gov

# ---- usage errors: exit 2, nothing sent, the problem named ----
N_CLOSED="--node https://127.0.0.1:1 --service-cert m0_cert.pem"
expect 2 err "the proposal is missing" -- "$CONSORT" gov propose $N_CLOSED $M0
expect 2 err "FILE or --action: not both" -- "$CONSORT" gov propose proposal.json --action x $N_CLOSED $M0
expect 2 err "which node?" -- "$CONSORT" gov propose proposal.json $M0
expect 2 err "--service-cert PEM is required" -- "$CONSORT" gov propose proposal.json --node https://127.0.0.1:1 $M0
expect 2 err "is not https://HOST:PORT" -- "$CONSORT" gov list --node http://127.0.0.1:1 --service-cert m0_cert.pem
expect 2 err "is not https://HOST:PORT" -- "$CONSORT" gov list --node https://example.com:443 --service-cert m0_cert.pem
expect 2 err "is not https://HOST:PORT" -- "$CONSORT" gov list --node https://127.0.0.1:1/gov --service-cert m0_cert.pem
expect 2 err "who signs?" -- "$CONSORT" gov propose proposal.json $N_CLOSED
expect 2 err "--member-cert needs --member-key" -- "$CONSORT" gov propose proposal.json $N_CLOSED --member-cert m0_cert.pem
expect 2 err "--member-key needs --member-cert" -- "$CONSORT" gov list $N_CLOSED --member-key m0_privk.pem
expect 2 err "--as member0 needs --workspace DIR" -- "$CONSORT" gov propose proposal.json $N_CLOSED --as member0
expect 2 err "expected memberN" -- "$CONSORT" gov propose proposal.json --workspace . --as alice
expect 2 err "not both" -- "$CONSORT" gov propose proposal.json --workspace . --as member0 $M0
expect 2 err "the proposal ID is missing" -- "$CONSORT" gov vote --accept $N_CLOSED $M0
expect 2 err "'12ab' is not a proposal id" -- "$CONSORT" gov vote 12ab --accept $N_CLOSED $M0
expect 2 err "is not a proposal id" -- "$CONSORT" gov vote "${ID_A^^}" --accept $N_CLOSED $M0
expect 2 err "--accept or --reject is required" -- "$CONSORT" gov vote "$ID_A" $N_CLOSED $M0
expect 2 err "--accept or --reject: not both" -- "$CONSORT" gov vote "$ID_A" --accept --reject $N_CLOSED $M0
expect 2 err "the proposal ID is missing" -- "$CONSORT" gov withdraw $N_CLOSED $M0
expect 2 err "the proposal ID is missing" -- "$CONSORT" gov show $N_CLOSED
expect 2 err "is not a proposal id" -- "$CONSORT" gov show ../members $N_CLOSED
expect 2 err "unexpected argument 'extra'" -- "$CONSORT" gov list extra $N_CLOSED
expect 2 err "unknown option '--frobnicate'" -- "$CONSORT" gov members --frobnicate $N_CLOSED
expect 2 err "--timeout: 0 is not from 1 to 3600" -- "$CONSORT" gov list --timeout 0 $N_CLOSED
expect 2 err "option '--node' needs a value" -- "$CONSORT" gov list --node
expect 2 err "--type proposal|ballot|withdrawal is required" -- "$CONSORT" gov sign --out x $M0 proposal.json
expect 2 err "--type 'recovery_share'" -- "$CONSORT" gov sign --type recovery_share --out x $M0
expect 2 err "--out FILE is required" -- "$CONSORT" gov sign --type proposal $M0 proposal.json
expect 2 err "a proposal takes no --proposal-id" -- "$CONSORT" gov sign --type proposal --proposal-id "$ID_A" --out x $M0 proposal.json
expect 2 err "a ballot needs --proposal-id ID" -- "$CONSORT" gov sign --type ballot --vote accept --out x $M0
expect 2 err "a withdrawal needs --proposal-id ID" -- "$CONSORT" gov sign --type withdrawal --out x $M0
expect 2 err "a ballot needs --vote accept|reject" -- "$CONSORT" gov sign --type ballot --proposal-id "$ID_A" --out x $M0
expect 2 err "--vote 'maybe'" -- "$CONSORT" gov sign --type ballot --proposal-id "$ID_A" --vote maybe --out x $M0
expect 2 err "--vote is for a ballot" -- "$CONSORT" gov sign --type withdrawal --proposal-id "$ID_A" --vote accept --out x $M0
expect 2 err "a withdrawal takes no PROPOSAL" -- "$CONSORT" gov sign --type withdrawal --proposal-id "$ID_A" --out x $M0 proposal.json
expect 2 err "(one of them)" -- "$CONSORT" gov sign --type proposal --out x $M0
expect 2 err "(one of them)" -- "$CONSORT" gov sign --type proposal --out x $M0 proposal.json --action y
expect 2 err "an --arg belongs to the --action before it" -- "$CONSORT" gov sign --type proposal --out x $M0 --arg a=1 --action y
expect 2 err "expected KEY=VALUE" -- "$CONSORT" gov sign --type proposal --out x $M0 --action y --arg novalue
expect 2 err "--created-at 'yesterday'" -- "$CONSORT" gov sign --type proposal --out x $M0 proposal.json --created-at yesterday
expect 2 err "who signs?" -- "$CONSORT" gov sign --type proposal --out x proposal.json
expect 2 err "the FILE holding the signed request is missing" -- "$CONSORT" gov submit --dry-run
expect 2 err "which node?" -- "$CONSORT" gov submit x.cose
expect 2 err "--platform 'sgx'" -- "$CONSORT" code id --platform sgx
expect 2 err "--tcti is for --platform tpm" -- "$CONSORT" code id --tcti swtpm:port=1
expect 2 err "unexpected argument 'extra'" -- "$CONSORT" code id extra
[ -e x ] && fail "a refused gov sign wrote its --out file"

# ---- gov sign: the files decode, independently, as what was asked ----
check_cose() { # FILE CERT TYPE [ID|-] [PAYLOAD|-]: FILE signed by the last command timed (SIGN_T0..SIGN_T1)
    if CREATED_WITHIN="$SIGN_T0 $SIGN_T1" python3 "$HERE/gov_cose.py" "$@" >cose.txt 2>&1; then
        echo "ok: gov_cose.py $*"
    else
        fail "gov_cose.py $*: $(cat cose.txt)"
    fi
}
printf '{"vote":true}' >vote_true.json
printf '{"vote":false}' >vote_false.json
: >empty
expect 0 out "signed a proposal as member $(member_id m0_cert.pem) into p.cose" -- \
    "$CONSORT" gov sign --type proposal --out p.cose $M0 proposal.json
check_cose p.cose m0_cert.pem proposal - proposal.json
expect 0 out "signed a ballot" -- "$CONSORT" gov sign --type ballot --proposal-id "$ID_A" --vote accept --out b1.cose $M0
check_cose b1.cose m0_cert.pem ballot "$ID_A" vote_true.json
expect 0 out "signed a ballot" -- "$CONSORT" gov sign --type ballot --proposal-id "$ID_A" --vote reject --out b0.cose $M1
check_cose b0.cose m1_cert.pem ballot "$ID_A" vote_false.json # P-384: ES384
expect 0 out "signed a withdrawal" -- "$CONSORT" gov sign --type withdrawal --proposal-id "$ID_F" --out w.cose $M0
check_cose w.cose m0_cert.pem withdrawal "$ID_F" empty
# the proposal from standard input, the request to standard output
SIGN_T0=$(date +%s)
"$CONSORT" gov sign --type proposal --out - $M0 - <proposal.json >stdin.cose 2>err.txt || fail "gov sign - --out -: $(cat err.txt)"
SIGN_T1=$(date +%s)
check_cose stdin.cose m0_cert.pem proposal - proposal.json
# a proposal written with --action/--arg: JSON values, strings, @FILE
SIGN_T0=$(date +%s)
"$CONSORT" gov sign --type proposal --out actions.cose $M0 --action set_member --arg cert=@m1_cert.pem \
    --arg n=42 --arg flag=true --arg name=alice --action set_recovery_threshold --arg threshold=2 >/dev/null ||
    fail "gov sign --action"
SIGN_T1=$(date +%s)
python3 - "$WORK/m1_cert.pem" >want_actions.json <<'EOF'
import json, sys
cert = open(sys.argv[1]).read()
sys.stdout.write(json.dumps({"actions": [
    {"name": "set_member", "args": {"cert": cert, "n": 42, "flag": True, "name": "alice"}},
    {"name": "set_recovery_threshold", "args": {"threshold": 2}}]}, separators=(",", ":")))
EOF
check_cose actions.cose m0_cert.pem proposal - want_actions.json
# refused before signing: not a proposal, a key that is not the certificate's
expect 1 err "the proposal is not JSON" -- "$CONSORT" gov sign --type proposal --out bad.cose $M0 m0_cert.pem
echo '[{"name": "x"}]' >array.json
expect 1 err "the proposal is not a JSON object" -- "$CONSORT" gov sign --type proposal --out bad.cose $M0 array.json
echo '{"action": []}' >noactions.json
expect 1 err "no \"actions\" array" -- "$CONSORT" gov sign --type proposal --out bad.cose $M0 noactions.json
expect 1 err "m0_cert.pem is not the certificate of the key in other_privk.pem" -- "$CONSORT" gov sign --type proposal --out bad.cose \
    --member-cert m0_cert.pem --member-key other_privk.pem proposal.json
expect 1 err "missing.json" -- "$CONSORT" gov sign --type proposal --out bad.cose $M0 missing.json
[ -e bad.cose ] && fail "a refused gov sign wrote bad.cose"

# ---- gov submit --dry-run: decode, verify, refuse what does not verify ----
expect 0 out "type: ballot" -- "$CONSORT" gov submit b1.cose --dry-run --member-cert m0_cert.pem &&
    has out.txt "^member_id: $(member_id m0_cert.pem)$" "dry-run member id" &&
    has out.txt "^proposal_id: $ID_A$" "dry-run proposal id" &&
    has out.txt "^alg: ES256$" "dry-run alg" &&
    has out.txt "^endpoint: POST /gov/proposals/$ID_A/ballots$" "dry-run endpoint" &&
    has out.txt '^payload: \{"vote":true\}$' "dry-run payload" &&
    has out.txt "^signature: verifies under the certificate of member $(member_id m0_cert.pem)$" "dry-run signature"
expect 0 out "type: ballot" -- "$CONSORT" gov submit b0.cose --dry-run && has out.txt "^alg: ES384$" "P-384 alg"
grep -q "^signature:" out.txt && fail "dry-run without a certificate claims a signature check"
expect 0 out "endpoint: POST /gov/proposals/$ID_F/withdraw" -- "$CONSORT" gov submit w.cose --dry-run
expect 0 out "endpoint: POST /gov/proposals" -- "$CONSORT" gov submit - --dry-run <p.cose && has out.txt "^type: proposal$" "stdin"
# dry_run_refused FILE CERT REGEX: --dry-run prints what FILE says, then
# refuses it (exit 1, stderr matching REGEX) without claiming a signature.
dry_run_refused() {
    "$CONSORT" gov submit "$1" --dry-run --member-cert "$2" >out.txt 2>err.txt
    local rc=$?
    if [ "$rc" -eq 1 ] && grep -q '^payload: ' out.txt && grep -qE -- "$3" err.txt &&
        ! grep -q "^signature:" out.txt; then
        echo "ok: gov submit $1 --dry-run --member-cert $2 refused"
    else
        fail "gov submit $1 --dry-run --member-cert $2: exit $rc: $(cat out.txt err.txt)"
    fi
}
dry_run_refused b1.cose other_cert.pem \
    "^consort gov submit: policy: the request is signed by member $(member_id m0_cert.pem), not by $(member_id other_cert.pem)"
# the same bytes with the vote changed: decodes, does not verify
python3 -c "import sys; d=open('b0.cose','rb').read(); open('t.cose','wb').write(d.replace(b'false', b'fals3'))"
dry_run_refused t.cose m1_cert.pem "^consort gov submit: crypto: .*signature does not verify"
grep -q '^payload: {"vote":fals3}$' out.txt || fail "the tampered payload is not what was printed"
python3 "$HERE/gov_cose.py" t.cose m1_cert.pem ballot "$ID_A" >/dev/null 2>&1 && fail "gov_cose.py accepts a tampered request"
expect 1 err "protocol: " -- "$CONSORT" gov submit proposal.json --dry-run
head -c 40 p.cose >trunc.cose
expect 1 err "protocol: " -- "$CONSORT" gov submit trunc.cose --dry-run

# ---- against a stand-in node ----
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca_key.pem \
    -out ca.pem -subj "/CN=fake service" -days 2 -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,digitalSignature 2>/dev/null &&
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout node_key.pem \
        -out node.csr -subj "/CN=fake node" 2>/dev/null &&
    printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\n' >ext.cnf &&
    openssl x509 -req -in node.csr -CA ca.pem -CAkey ca_key.pem -CAcreateserial -days 2 \
        -extfile ext.cnf -out node.pem 2>/dev/null || fail "cannot make the stand-in node's certificates"
python3 "$HERE/gov_fake_node.py" node.pem node_key.pem fake.port fake.log 2>fake.err &
PIDS+=($!)
wait_file fake.port || fail "the stand-in node did not start: $(cat fake.err)"
: >>fake.log
FAKE="127.0.0.1:$(cat fake.port)"
N="--node https://$FAKE --service-cert ca.pem"

# last_request FIELD: that field of the last request the stand-in node got.
last_request() {
    tail -n 1 fake.log | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}
# last_body FILE: the body of the last request, as bytes into FILE.
last_body() {
    tail -n 1 fake.log | python3 -c "import json,sys; open('$1','wb').write(bytes.fromhex(json.load(sys.stdin)['body']))"
}
# sent METHOD PATH [CTYPE]: the last request had that method, path and content type.
sent() {
    local got
    got="$(last_request method) $(last_request path) $(last_request content_type)"
    [ "$got" = "$1 $2 ${3:-None}" ] || fail "the node got '$got', expected '$1 $2 ${3:-None}'"
}

expect 0 out '  "state": "Open"' -- "$CONSORT" gov propose proposal.json $N $M0 &&
    has out.txt '^  "proposal_id": "1{64}",$' "propose prints the answer indented"
sent POST /gov/proposals application/cose
last_body sent.cose && check_cose sent.cose m0_cert.pem proposal - proposal.json
expect 0 out '"state": "Open"' -- "$CONSORT" gov propose --action set_recovery_threshold --arg threshold=1 $N $M1
last_body sent.cose && printf '{"actions":[{"name":"set_recovery_threshold","args":{"threshold":1}}]}' >want.json &&
    check_cose sent.cose m1_cert.pem proposal - want.json
expect 0 out '"state": "Accepted"' -- "$CONSORT" gov vote "$ID_A" --accept $N $M0
sent POST "/gov/proposals/$ID_A/ballots" application/cose
last_body sent.cose && check_cose sent.cose m0_cert.pem ballot "$ID_A" vote_true.json
expect 0 out '"state": "Accepted"' -- "$CONSORT" gov vote "$ID_A" --reject $N $M1
last_body sent.cose && check_cose sent.cose m1_cert.pem ballot "$ID_A" vote_false.json
expect 1 err "consort gov vote: ProposalNotFound: no proposal $ID_F" -- "$CONSORT" gov vote "$ID_F" --accept $N $M0
expect 1 err "consort gov withdraw: ProposalNotOpen: proposal $ID_A is Accepted, not Open" -- \
    "$CONSORT" gov withdraw "$ID_A" $N $M0
sent POST "/gov/proposals/$ID_A/withdraw" application/cose
last_body sent.cose && check_cose sent.cose m0_cert.pem withdrawal "$ID_A" empty
# submit sends the file's bytes as they are, to the endpoint its header names
expect 1 err "consort gov submit: ProposalNotOpen" -- "$CONSORT" gov submit w.cose $N
sent POST "/gov/proposals/$ID_F/withdraw" application/cose
last_body sent.cose && cmp -s sent.cose w.cose || fail "gov submit did not send the file as it is"
expect 0 out '"state": "Accepted"' -- "$CONSORT" gov submit b0.cose $N
sent POST "/gov/proposals/$ID_A/ballots" application/cose
# reads: JSON indented, the constitution as text, a non-JSON error quoted
expect 0 out '      "ballot_count": 0' -- "$CONSORT" gov list $N && sent GET /gov/proposals
expect 0 out '"seqno": 7' -- "$CONSORT" gov show "$ID_A" $N && sent GET "/gov/proposals/$ID_A"
expect 0 out '"members": [' -- "$CONSORT" gov members $N && sent GET /gov/members
expect 0 out '"service_status": "Open"' -- "$CONSORT" gov service $N && sent GET /gov/service
expect 0 out "function validate(p) return true end" -- "$CONSORT" gov constitution $N &&
    has out.txt '^-- a fake constitution$' "the constitution as it came"
expect 1 err "consort gov show: HTTP 500: internal trouble" -- "$CONSORT" gov show "$ID_E" $N
# nothing is sent for a proposal that is not {"actions": [...]}
before=$(wc -l <fake.log)
expect 1 err "no \"actions\" array" -- "$CONSORT" gov propose noactions.json $N $M0
expect 1 err "not a JSON object" -- "$CONSORT" gov propose - $N $M0 <array.json
[ "$(wc -l <fake.log)" = "$before" ] || fail "a refused proposal reached the node"
# the service certificate is pinned: another one is refused, and nothing is sent
expect 1 err "crypto: GET https://$FAKE/gov/proposals: " -- "$CONSORT" gov list --node "https://$FAKE" --service-cert m0_cert.pem
[ "$(wc -l <fake.log)" = "$before" ] || fail "a request reached a node whose certificate is not pinned"
expect 1 err "connection refused" -- "$CONSORT" gov list --node https://127.0.0.1:1 --service-cert ca.pem
# a node that accepts the connection and never answers: bounded by --timeout
python3 -c "
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(8)
open(sys.argv[1], 'w').write(str(s.getsockname()[1])); time.sleep(600)" silent.port &
PIDS+=($!)
wait_file silent.port || fail "the silent listener did not start"
expect 1 err "no complete answer in 1000 ms" -- "$CONSORT" gov list --node "https://127.0.0.1:$(cat silent.port)" \
    --service-cert ca.pem --timeout 1
# bounded by --timeout, not by the 30 s default nor the listener's 600 s (the
# command alone, as expect timed it: on a loaded machine it can take 9 s)
[ $((SIGN_T1 - SIGN_T0)) -le 20 ] || fail "--timeout 1 took $((SIGN_T1 - SIGN_T0)) s"
# a sandbox-like workspace: node 0's rpc_address, service_cert.pem, memberN files
mkdir -p ws/node0 && printf '{"rpc_address": "%s"}\n' "$FAKE" >ws/node0/node.json &&
    cp ca.pem ws/service_cert.pem && cp m0_cert.pem ws/member0_cert.pem && cp m0_privk.pem ws/member0_privk.pem &&
    cp m1_cert.pem ws/member1_cert.pem && cp m1_privk.pem ws/member1_privk.pem
expect 0 out '"state": "Accepted"' -- "$CONSORT" gov vote "$ID_A" --accept --workspace ws --as member1
last_body sent.cose && check_cose sent.cose m1_cert.pem ballot "$ID_A" vote_true.json
expect 0 out '"state": "Open"' -- "$CONSORT" gov propose proposal.json --workspace ws --as member0
last_body sent.cose && check_cose sent.cose m0_cert.pem proposal - proposal.json
expect 0 out '"proposals": [' -- "$CONSORT" gov list --workspace ws
expect 0 out "signed a ballot as member $(member_id m1_cert.pem)" -- \
    "$CONSORT" gov sign --type ballot --proposal-id "$ID_A" --vote accept --out ws.cose --workspace ws --as member1
expect 0 out "signature: verifies" -- "$CONSORT" gov submit ws.cose --dry-run --workspace ws --as member1
expect 1 err "member2_cert.pem" -- "$CONSORT" gov vote "$ID_A" --accept --workspace ws --as member2
expect 1 err "(is it a consort sandbox workspace?)" -- "$CONSORT" gov list --workspace "$WORK/nothing"
# an explicit --node wins over the workspace's node 0
expect 1 err "connection refused" -- "$CONSORT" gov list --workspace ws --node https://127.0.0.1:1
# a rolling update: node 0 was evicted and exited, nodes.json lists it first;
# the verbs go to the first node that accepts a connection, in its order
# (node0/node.json is read only without a nodes.json)
# Two ports on 127.0.0.1 that refuse connections: a helper holds them bound
# and never listens, for the whole test (a port that was free a moment ago
# and released could be taken by anything meanwhile).
python3 -c "
import socket, sys, time
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(('127.0.0.1', 0))
open(sys.argv[1] + '.tmp', 'w').write(' '.join(str(s.getsockname()[1]) for s in ss))
import os; os.rename(sys.argv[1] + '.tmp', sys.argv[1]); time.sleep(600)" dead.ports &
PIDS+=($!)
wait_file dead.ports || fail "the helper holding two refusing ports did not start"
read -r DEAD1 DEAD2 <dead.ports
# nodes_json DIR ADDR...: DIR/nodes.json as the sandbox writes it, the nodes in that order
nodes_json() {
    local dir=$1
    shift
    python3 - "$dir/nodes.json" "$@" <<'EOF2'
import json, sys
json.dump([{"node_id": "%064x" % i, "rpc_address": a, "pid": 0, "data_dir": "/nowhere"}
           for i, a in enumerate(sys.argv[2:])], open(sys.argv[1], "w"), indent=2)
EOF2
}
mkdir -p ru/node0 && cp ws/*.pem ru/ && printf '{"rpc_address": "127.0.0.1:%s"}\n' "$DEAD1" >ru/node0/node.json &&
    nodes_json ru "127.0.0.1:$DEAD1" "127.0.0.1:$DEAD2" "$FAKE" || fail "cannot make the workspace ru"
before=$(wc -l <fake.log)
expect 0 out '"proposals": [' -- "$CONSORT" gov list --workspace ru && sent GET /gov/proposals
expect 0 out '"state": "Accepted"' -- "$CONSORT" gov vote "$ID_A" --accept --workspace ru --as member1 &&
    sent POST "/gov/proposals/$ID_A/ballots" application/cose
last_body sent.cose && check_cose sent.cose m1_cert.pem ballot "$ID_A" vote_true.json
expect 0 out '"state": "Accepted"' -- "$CONSORT" gov submit b0.cose --workspace ru
[ "$(($(wc -l <fake.log) - before))" = 3 ] || fail "the stand-in node got $(($(wc -l <fake.log) - before)) requests, not 3"
# an explicit --node still wins: no other node is tried
expect 1 err "GET https://127.0.0.1:$DEAD1/gov/proposals: " -- "$CONSORT" gov list --workspace ru --node "https://127.0.0.1:$DEAD1"
grep -q "$FAKE" err.txt && fail "--node $DEAD1 fell back to another node"
# a node that accepts the connection and fails is not left for the next one:
# it may have executed the request, which is never sent twice
nodes_json ru "127.0.0.1:$(cat silent.port)" "$FAKE"
before=$(wc -l <fake.log)
expect 1 err "no complete answer in 1000 ms" -- "$CONSORT" gov vote "$ID_A" --accept --workspace ru --as member1 --timeout 1
[ "$(wc -l <fake.log)" = "$before" ] || fail "a request a node accepted was sent to the next node"
# a node that does not even answer the TCP handshake gets 3 s, then the next
# one is tried (a listener whose backlog is full drops the SYN)
python3 -c "
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
port = s.getsockname()[1]
held = socket.create_connection(('127.0.0.1', port), timeout=5)  # fills the backlog of 0
open(sys.argv[1], 'w').write(str(port)); time.sleep(600)" full.port 2>/dev/null &
PIDS+=($!)
if wait_file full.port; then
    nodes_json ru "127.0.0.1:$(cat full.port)" "$FAKE"
    expect 0 out '"proposals": [' -- "$CONSORT" gov list --workspace ru && sent GET /gov/proposals
    took=$((SIGN_T1 - SIGN_T0)) # the command alone, as expect timed it
    # about 3 s, not the 30 s default (the upper bound leaves room for a loaded machine)
    [ "$took" -ge 2 ] && [ "$took" -le 20 ] || fail "a node that never connects held gov list for $took s, not about 3"
    # all of them share --timeout: what is left untried is named
    nodes_json ru "127.0.0.1:$(cat full.port)" "127.0.0.1:$DEAD1"
    expect 1 err "accepted a connection; tried in its order:" -- "$CONSORT" gov list --workspace ru --timeout 1 &&
        has err.txt "^  GET https://127.0.0.1:$(cat full.port)/gov/proposals: no TCP connection in 1000 ms$" "the silent SYN" &&
        has err.txt "^  127.0.0.1:$DEAD1: not tried: the 1000 ms of --timeout ran out$" "the node left untried"
else
    fail "the full listener did not start"
fi
# none answers: one line per node tried, in order, and why
nodes_json ru "127.0.0.1:$DEAD1" "127.0.0.1:$DEAD2"
expect 1 err "consort gov vote: io: no node of $WORK/ru/nodes.json accepted a connection; tried in its order:" -- \
    "$CONSORT" gov vote "$ID_A" --accept --workspace "$WORK/ru" --as member1 &&
    has err.txt "^  POST https://127.0.0.1:$DEAD1/gov/proposals/$ID_A/ballots: .*connection refused" "first node tried" &&
    has err.txt "^  POST https://127.0.0.1:$DEAD2/gov/proposals/$ID_A/ballots: .*connection refused" "second node tried"
[ "$(wc -l <err.txt)" = 3 ] || fail "expected 3 lines on stderr, got: $(cat err.txt)"
# a nodes.json that is not a list of nodes with rpc_address HOST:PORT
echo '{"rpc_address": "127.0.0.1:1"}' >ru/nodes.json
expect 1 err "ru/nodes.json: not a list of nodes" -- "$CONSORT" gov list --workspace ru
echo '[{"node_id": "x"}]' >ru/nodes.json
expect 1 err "ru/nodes.json: node [0] has no \"rpc_address\" string" -- "$CONSORT" gov list --workspace ru
echo '[{"rpc_address": "example.com:443"}]' >ru/nodes.json
expect 1 err "rpc_address 'example.com:443' is not HOST:PORT" -- "$CONSORT" gov list --workspace ru

# ---- code id: what consortd measures, per module ----
if [ ! -x "$CONSORTD" ] || [ ! -f "$APP" ] || [ ! -f "$OTHER_APP" ]; then
    fail "consortd ($CONSORTD), $APP or $OTHER_APP not built"
else
    hex='^[0-9a-f]{64}$'
    expect 0 out "" -- "$CONSORT" code id --node-binary "$CONSORTD" --app "$APP" && has out.txt "$hex" "code id"
    with_app=$(cat out.txt)
    expect 0 out "" -- "$CONSORT" code id --node-binary "$CONSORTD" --app "$OTHER_APP" && has out.txt "$hex" "code id"
    other_app=$(cat out.txt)
    expect 0 out "" -- "$CONSORT" code id --node-binary "$CONSORTD" && has out.txt "$hex" "code id"
    no_app=$(cat out.txt)
    expect 0 out "$with_app" -- "$CONSORT" code id --app "$APP" # consortd next to consort
    [ "$with_app" != "$other_app" ] && [ "$with_app" != "$no_app" ] && [ "$other_app" != "$no_app" ] ||
        fail "code id does not change with the module: $with_app / $other_app / $no_app"
    [ "$with_app" = "$("$CONSORTD" --code-id --app "$APP" --platform virtual 2>/dev/null)" ] ||
        fail "consort code id differs from consortd --code-id"
    expect 1 err "is it consortd?" -- "$CONSORT" code id --node-binary /bin/true
    expect 1 err "--app $WORK/missing.so" -- "$CONSORT" code id --node-binary "$CONSORTD" --app "$WORK/missing.so"
fi

# ---- a real node: its code id, and a governance round ----
sandbox_up() {
    "$CONSORT" sandbox --nodes 1 --workspace "$WORK/sb" --app "$APP" >sb.out 2>sb.err &
    SANDBOX_PID=$!
    for _ in $(seq 1 600); do
        grep -q '^READY ' sb.out && return 0
        kill -0 "$SANDBOX_PID" 2>/dev/null || break
        sleep 0.2
    done
    fail "the sandbox did not become ready"
    tail -20 sb.err | sed 's/^/  | /'
    return 1
}

# proposal_id: the proposal_id of the answer in out.txt.
proposal_id() {
    sed -nE 's/^  "proposal_id": "([0-9a-f]{64})",?$/\1/p' out.txt
}

if [ -n "${with_app:-}" ] && sandbox_up; then
    SB="--workspace $WORK/sb"
    ADDR=$(sed -nE 's/^READY (.*)$/\1/p' sb.out)
    # the code ids the node reports (GET /node/quotes, pinned like consort does)
    reported=$(python3 - "$ADDR" <<'EOF' 2>quotes.err
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile="sb/service_cert.pem")
ctx.check_hostname = False
ctx.load_cert_chain("sb/user0_cert.pem", "sb/user0_privk.pem")
with urllib.request.urlopen(f"https://{sys.argv[1]}/node/quotes", context=ctx, timeout=30) as r:
    print(" ".join(q["code_id"] for q in json.load(r)["quotes"]))
EOF
    )
    if [ "$reported" = "$with_app" ]; then
        echo "ok: consort code id = the code id in /node/quotes"
    else
        fail "the node reports code id '$reported' ($(tail -n 1 quotes.err)), consort code id says $with_app"
    fi
    expect 0 out "\"$(member_id sb/member0_cert.pem)\"" -- "$CONSORT" gov members $SB
    expect 0 out '"members"' -- "$CONSORT" gov members --node "https://$ADDR" --service-cert sb/service_cert.pem
    # a new member under a name the sandbox does not create
    (cd sb && identity member9 P-256)
    expect 0 out '"state": "Open"' -- "$CONSORT" gov propose $SB --as member0 --action set_member \
        --arg cert=@sb/member9_cert.pem
    P1=$(proposal_id)
    # three members: one ballot is not a majority, two are
    expect 0 out '"state": "Open"' -- "$CONSORT" gov vote "$P1" --accept $SB --as member0
    expect 0 out '"state": "Accepted"' -- "$CONSORT" gov vote "$P1" --accept $SB --as member1
    expect 0 out '"state": "Accepted"' -- "$CONSORT" gov show "$P1" $SB &&
        has out.txt "\"member_id\": \"$(member_id sb/member0_cert.pem)\"" "the ballot is listed"
    expect 0 out "\"$(member_id sb/member9_cert.pem)\"" -- "$CONSORT" gov members $SB
    # member9 proposes offline; with 4 members two votes against reject
    expect 0 out "signed a proposal" -- "$CONSORT" gov sign --type proposal --out p2.cose $SB --as member9 proposal.json
    expect 0 out '"state": "Open"' -- "$CONSORT" gov submit p2.cose $SB
    P2=$(proposal_id)
    expect 1 err "consort gov submit: ReplayedRequest: " -- "$CONSORT" gov submit p2.cose $SB
    expect 0 out '"state": "Open"' -- "$CONSORT" gov vote "$P2" --reject $SB --as member0
    expect 0 out '"state": "Rejected"' -- "$CONSORT" gov vote "$P2" --reject $SB --as member1
    expect 1 err "consort gov vote: ProposalNotOpen: " -- "$CONSORT" gov vote "$P2" --accept $SB --as member9
    # withdrawals: the proposer only
    # (not proposal.json again: the same proposal by the same member in the
    # same second would be the same request, refused as a replay)
    expect 0 out '"state": "Open"' -- "$CONSORT" gov propose $SB --as member9 \
        --action set_recovery_threshold --arg threshold=0
    P3=$(proposal_id)
    expect 1 err "consort gov withdraw: NotProposer: " -- "$CONSORT" gov withdraw "$P3" $SB --as member0
    expect 0 out '"state": "Withdrawn"' -- "$CONSORT" gov withdraw "$P3" $SB --as member9
    expect 1 err "consort gov vote: ProposalNotFound: " -- "$CONSORT" gov vote "$ID_F" --accept $SB --as member0
    expect 1 err "consort gov propose: NotAMember: " -- "$CONSORT" gov propose proposal.json $SB $M0
    expect 1 err "consort gov propose: ProposalInvalid: " -- "$CONSORT" gov propose $SB --as member0 --action launch_missiles
    expect 0 out "" -- "$CONSORT" gov sign --type proposal --out stale.cose $SB --as member0 proposal.json \
        --created-at $(($(date +%s) - 3600))
    expect 1 err "consort gov submit: StaleRequest: " -- "$CONSORT" gov submit stale.cose $SB
    expect 0 out "\"$P2\"" -- "$CONSORT" gov list $SB
    expect 0 out '"service_status": "Open"' -- "$CONSORT" gov service $SB
    expect 0 out "function validate" -- "$CONSORT" gov constitution $SB
    kill -TERM "$SANDBOX_PID"
    wait "$SANDBOX_PID" || fail "the sandbox exited with $?"
    SANDBOX_PID=
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all consort gov / code id checks passed"
