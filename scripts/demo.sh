#!/usr/bin/env bash
# The guided tour behind `make demo`: a replicated, attested service on this
# machine, step by step, then the attestation path underneath it.
# Usage: scripts/demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
C="$root/$build/tools/consort"
[ -x "$C" ] || C="$build/tools/consort"
[ -x "$C" ] || { echo "demo: $C not found (run make first)" >&2; exit 1; }
D="$(dirname "$C")/consortd"
B="$(cd "$(dirname "$C")/.." && pwd)" # the build directory
testdata="${CONSORT_TESTDATA:-$root/../shared/testdata}"
work=$(mktemp -d /tmp/consort-demo.XXXXXX)
ws=service # the sandbox's workspace, relative to $work (the current directory below)
sandbox_pid=
restarted=()

cleanup() {
  set +e
  for p in "${restarted[@]}"; do kill -TERM "$p" 2>/dev/null; done
  [ -n "$sandbox_pid" ] && kill -TERM "$sandbox_pid" 2>/dev/null
  for p in "${restarted[@]}" $sandbox_pid; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

step=0
say() { step=$((step + 1)); printf '\n\033[1m== %d. %s\033[0m\n' "$step" "$1"; }
note() { printf '   %s\n' "$@"; }
# Shows a command (the consort binary as "consort"), then runs it.
show() { local line="$*"; printf '$ %s\n' "${line//$C/consort}"; }
run() { show "$@" >&2; "$@"; }
# Runs a command that must be rejected: shows its reason and exit status.
reject() {
  show "$@"
  set +e; "$@" >/dev/null 2>"$work/err"; code=$?; set -e
  sed 's/^/  /' "$work/err"
  [ "$code" -eq 1 ] || { echo "demo: expected exit 1 (rejected), got $code" >&2; exit 1; }
  echo "  (exit 1: rejected, as it must be)"
}
claims() { python3 -c "import json,sys; j=json.load(sys.stdin); print('  ' + ', '.join(f'{k}={j[k]}' for k in sys.argv[1:]))" "$@"; }

# https METHOD NODE PATH [JSON] [options]: one HTTPS request to node NODE as user0
# (TLS 1.3, client certificate, the pinned service certificate): scripts/sandbox-https.
H="$root/scripts/sandbox-https"
node_addr() { python3 -c "import json,sys; print(json.load(open('$ws/nodes.json'))[int(sys.argv[1])]['rpc_address'])" "$1"; }
node_pid() { python3 -c "import json,sys; print(json.load(open('$ws/nodes.json'))[int(sys.argv[1])]['pid'])" "$1"; }
https() { local m=$1 n=$2 p=$3 b=${4:-}; shift 3; [[ $b == --* ]] && b=; printf '$ %s https://%s%s %s\n' "$m" "$(node_addr "$n")" "$p" "$b" >&2; "$H" "$ws" "$m" "$p" "$@" --node "$n"; }
quiet_https() { "$H" "$ws" "$1" "$3" "${@:4}" --node "$2" >/dev/null 2>&1; }
state_of() { "$H" "$ws" GET /node/state --raw --node "$1" 2>/dev/null; }
# the index of the node that says it leads (among the live ones given)
leader() {
  local i
  for _ in $(seq 150); do
    for i in "$@"; do
      if state_of "$i" | python3 -c "import json,sys; s=json.load(sys.stdin); l=s.get('leader'); l=l.get('node_id') if isinstance(l,dict) else l; sys.exit(0 if s.get('is_leader') is True or (l and l==s.get('node_id', s.get('id')) and s.get('is_leader') is not False) else 1)" 2>/dev/null; then
        echo "$i"; return
      fi
    done
    sleep 0.2
  done
  echo "demo: no leader among nodes $*" >&2; exit 1
}
wait_open() {
  for _ in $(seq 300); do
    state_of "$1" | grep -q '"PartOfNetwork"' && return
    sleep 0.2
  done
  echo "demo: node $1 did not come back" >&2; exit 1
}
# Waits until node $1 serves $2 (it has caught up with the leader), at most 30 s.
wait_caught_up() {
  for _ in $(seq 150); do
    quiet_https GET "$1" "$2" && return
    sleep 0.2
  done
  echo "demo: node $1 did not catch up ($2)" >&2; exit 1
}
restart_node() {
  printf '$ consortd --config %s &\n' "$ws/node$1/node.json"
  "$D" --config "$ws/node$1/node.json" >>"$ws/node$1/consortd.log" 2>&1 &
  restarted+=($!)
}

cat <<'INTRO'
consort runs one stateful application across many attested TEEs (trusted
execution environments). This tour starts a 3-node service on this machine,
writes and reads records, crashes nodes (the leader too) while it keeps
working, proves a write with a receipt checked offline, audits the ledger
offline, and ends with the attestation that decides which nodes are trusted.
Nodes here run on the "virtual" platform: software-signed, INSECURE, for
development only; real deployments use TPM, AMD SEV-SNP or Intel TDX.
INTRO

say "Start a 3-node service (consort sandbox)"
note "Node 0 creates the service (its identity key and certificate, made inside the" \
     "node); nodes 1 and 2 each prove with attestation evidence that they run the same" \
     "code (consortd + the logging application) before node 0 lets them join."
show consort sandbox --nodes 3 --workspace "$ws" "&"
"$C" sandbox --nodes 3 --workspace "$ws" >"$work/sandbox.out" 2>"$work/sandbox.err" &
sandbox_pid=$!
for _ in $(seq 600); do
  grep -q '^READY ' "$work/sandbox.out" 2>/dev/null && break
  kill -0 "$sandbox_pid" 2>/dev/null || { cat "$work/sandbox.err" >&2; echo "demo: the sandbox failed" >&2; exit 1; }
  sleep 0.2
done
grep -q '^READY ' "$work/sandbox.out" || { cat "$work/sandbox.err" >&2; echo "demo: no READY after 120 s" >&2; exit 1; }
sed 's/^/  /' "$work/sandbox.out"
grep 'consort sandbox: node' "$work/sandbox.err" | sed 's/^consort sandbox: /  /'
note "The workspace holds what a client needs: service_cert.pem (pin it),"\
     "user0_cert.pem + user0_privk.pem (a registered user's TLS client certificate)."

say "Who is in the service: GET /node/network (every node Trusted, the service certificate)"
https GET 0 /node/network --raw | python3 -c "
import json,sys; d=json.load(sys.stdin)
for n in d['nodes']: print(f\"  node {n['node_id']}  rpc {n['rpc_address']}  {n['status']}\")
print('  service certificate served = the pinned one:', d['service_certificate'].strip()==open('$ws/service_cert.pem').read().strip())"
L=$(leader 0 1 2)
F=$(( (L + 1) % 3 )); F2=$(( (L + 2) % 3 ))
note "Node $L is the Raft leader; nodes $F and $F2 follow."

say "Write a private and a public record (answered once committed on a majority)"
note "Private records are encrypted in the ledger; public ones are in clear for auditors."
https POST "$L" /app/log/private '{"id": 1, "msg": "the secret recipe"}' --txid-out first_tx
first_tx=$(cat first_tx)
note "Through a follower: it forwards the write to the leader and relays the answer."
https POST "$F" /app/log/public '{"id": 2, "msg": "opening hours: 9 to 5"}'

say "Read them back from another node"
https GET "$F2" "/app/log/private?id=1"
https GET "$F2" "/app/log/public?id=2"
note "Without a registered client certificate there is no access:"
printf '$ GET https://%s/app/log/private?id=1   (no client certificate)\n' "$(node_addr "$F2")"
"$H" "$ws" GET "/app/log/private?id=1" --no-cert --node "$F2" || true

say "Crash a follower (kill -9): the other two are a majority, writes continue"
run kill -9 "$(node_pid "$F")"
https POST "$L" /app/log/private '{"id": 3, "msg": "written while node '"$F"' was down"}'

say "Restart it: it unseals its state, replays its ledger and catches up"
restart_node "$F"
wait_open "$F"
wait_caught_up "$F" "/app/log/private?id=3"
https GET "$F" "/app/log/private?id=3"

say "Crash the leader (kill -9): the others elect a new leader, writes continue"
run kill -9 "$(node_pid "$L")"
t0=$(date +%s%N)
NL=$(leader "$F" "$F2")
note "node $NL leads now (found $(( ($(date +%s%N) - t0) / 1000000 )) ms after the crash)"
for _ in $(seq 50); do quiet_https POST "$NL" /app/log/private '{"id": 4, "msg": "probe"}' && break; sleep 0.2; done
https POST "$NL" /app/log/private '{"id": 4, "msg": "written after the leader crashed"}'

say "Restart the old leader: it rejoins as a follower and catches up"
restart_node "$L"
wait_open "$L"
wait_caught_up "$L" "/app/log/private?id=4"
https GET "$L" "/app/log/private?id=4"

say "A receipt: proof that the first write is in the ledger, checked offline"
note "The service signs the Merkle root of its ledger; a receipt is the path from one"\
     "transaction to a signed root, verifiable with nothing but the service certificate."
for _ in $(seq 100); do quiet_https GET "$NL" "/app/receipt?transaction_id=$first_tx" && break; sleep 0.2; done
"$H" "$ws" GET "/app/receipt?transaction_id=$first_tx" --raw --node "$NL" > receipt.json
printf '$ GET /app/receipt?transaction_id=%s > receipt.json\n' "$first_tx"
python3 -c "import json; r=json.load(open('receipt.json')); print('  txid', r['txid'], ' commit evidence', r['leaf_components']['commit_evidence'][:40] + '...')"
run "$C" receipt verify receipt.json --service-cert "$ws/service_cert.pem"
note "One byte changed, and it no longer verifies:"
python3 -c "import json; r=json.load(open('receipt.json')); d=r['leaf_components']['write_set_digest']; r['leaf_components']['write_set_digest']=('0' if d[0]!='0' else '1')+d[1:]; json.dump(r, open('forged.json','w'))"
reject "$C" receipt verify forged.json --service-cert "$ws/service_cert.pem"

say "Governance: the members decide what code runs"
note "The sandbox's three members opened the service with a signed proposal and two"\
     "votes. Now they trust a new version N of the application as the successor of the"\
     "running one O: one proposal starts a rolling update."
cp "$B/samples/logging.so" logging_v2.so && printf 'v2' >> logging_v2.so
O=$("$C" code id --node-binary "$D" --app "$B/samples/logging.so")
N=$("$C" code id --node-binary "$D" --app logging_v2.so)
show "$C" code id --node-binary consortd --app logging_v2.so; echo "  $N"
printf '{"actions": [{"name": "add_code_id", "args": {"code_id": "%s", "successor_of": "%s", "cutover_quorum": 3, "grace_period_s": 2}}]}\n' "$N" "$O" > update.json
pid=$(run "$C" gov propose update.json --workspace "$ws" --as member0 | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['proposal_id']); print('  state', d['state'], file=sys.stderr)")
sleep 1
run "$C" gov vote "$pid" --accept --workspace "$ws" --as member0 | claims state
run "$C" gov vote "$pid" --accept --workspace "$ws" --as member1 | claims state
update_state() { "$C" gov service --workspace "$ws" --as member0 | python3 -c "import json,sys; u=[u for u in json.load(sys.stdin)['updates'] if u['code_id']==sys.argv[1]][0]; print(u.get('state'), u.get('need', ''))" "$N"; }
echo "  update: $(update_state)"

say "Rolling update: add N nodes one at a time; the old nodes are evicted automatically"
for k in 1 2 3; do
  run "$C" sandbox add-node --workspace "$ws" --app logging_v2.so | claims node_id rpc_address
  sleep 0.5 # the leader's update driver looks every 200 ms
  echo "  update: $(update_state)"
done
for _ in $(seq 100); do [ "$(update_state)" = "done " ] && break; sleep 0.3; done
echo "  update: $(update_state)"
"$C" gov service --workspace "$ws" --as member0 | python3 -c "
import json,sys
for n in json.load(sys.stdin)['nodes']: print('  node', n['node_id'], n['status'], 'code', n['code_id'][:16] + '...')"
note "The O nodes were evicted after the grace period (leadership moved to an N node"\
     "first); the service kept accepting writes throughout:"
new_node=$(python3 -c "import json; print(len(json.load(open('$ws/nodes.json'))) - 1)")
https POST "$new_node" /app/log/public '{"id": 5, "msg": "written after the update"}'

say "Stop the service, then audit every node's ledger offline"
for p in "${restarted[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
kill -TERM "$sandbox_pid"
wait "$sandbox_pid" 2>/dev/null || true
for p in "${restarted[@]}"; do for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
restarted=(); sandbox_pid=
for i in 0 1 2; do
  run "$C" ledger verify "$ws/node$i/data/ledger" --service-cert "$ws/service_cert.pem" | sed -n '1,2p'
done
note "The public record is in clear in the ledger; the private one is encrypted:"
printf '$ grep -c "opening hours" ledger/*   and   grep -c "secret recipe" ledger/*\n'
echo "  public: $(cat "$ws"/node0/data/ledger/* | grep -ac 'opening hours' || true) match(es);  private: $(cat "$ws"/node0/data/ledger/* | grep -ac 'secret recipe' || true) match(es)"
note "A host that edits the ledger is caught (here: the public record rewritten):"
cp -r "$ws/node0/data/ledger" tampered
python3 - tampered <<'EOF'
import os, sys
for name in os.listdir(sys.argv[1]):
    p = os.path.join(sys.argv[1], name); d = open(p, "rb").read()
    if b"opening hours: 9 to 5" in d:
        open(p, "wb").write(d.replace(b"opening hours: 9 to 5", b"opening hours: 9 to 1"))
EOF
reject "$C" ledger verify tampered --service-cert "$ws/service_cert.pem"

say "Composed services: which code handled my data, on every hop (docs/e2e.md)"
note "Two services, each with its own members: records (a front-end) keeps its records" \
     "in storage (a back-end). records' code declares that it calls storage and nothing" \
     "else (part of its code id); its members bound that name to the storage service."
cws=composed
show consort sandbox --nodes 1 --sample composed --workspace "$cws" "&"
"$C" sandbox --nodes 1 --sample composed --workspace "$cws" >"$work/composed.out" 2>"$work/composed.err" &
sandbox_pid=$!
for _ in $(seq 600); do
  grep -q '^READY ' "$work/composed.out" 2>/dev/null && break
  kill -0 "$sandbox_pid" 2>/dev/null || { cat "$work/composed.err" >&2; echo "demo: the composed sandbox failed" >&2; exit 1; }
  sleep 0.2
done
grep -q '^READY ' "$work/composed.out" || { cat "$work/composed.err" >&2; echo "demo: no READY" >&2; exit 1; }
grep -E 'proposed (registering|binding)' "$work/composed.err" | sed 's/^consort sandbox: /  /'
note "A client writes a record through records, asking for a handling statement:"
attested() { # METHOD PATH BODY DIR
  printf '$ %s https://records%s %s   (x-consort-attest: <fresh nonce>)\n' "$1" "$2" "$3"
  if [ -n "$3" ]; then "$H" "$cws/records" "$1" "$2" "$3" --attest "$4"; else "$H" "$cws/records" "$1" "$2" --attest "$4"; fi
}
e2e_verify() { # DIR METHOD TARGET [--policy P]
  local d=$1 m=$2 t=$3; shift 3
  show "$C" e2e verify --service-cert "$cws/records/service_cert.pem" --nonce "<nonce>" --method "$m" --target "$t" \
       --request-body "$d/request" --status "$(cat "$d/status")" --response-body "$d/response" "$@" "$d/statement" >&2
  "$C" e2e verify --service-cert "$cws/records/service_cert.pem" --nonce "$(cat "$d/nonce")" --method "$m" --target "$t" \
       --request-body "$d/request" --status "$(cat "$d/status")" --response-body "$d/response" "$@" "$d/statement"
}
hops() { python3 -c "
import json,sys; d=json.load(sys.stdin)
print(f\"  records: node {d['node'][:16]}, wrote {d['written']}, code {d['code_ids'][0]['code_id'][:16]}... certified={d['code_ids'][0]['certified']}\")
for h in d['hops']: print(f\"  -> {h['service']} (depth {h['depth']}): node {h['node'][:16]}, wrote {h['written']}, code {h['code_ids'][0]['code_id'][:16]}... certified={h['code_ids'][0]['certified']}\")
print('  mode:', d['mode'])"; }
attested POST /app/records '{"id": 1, "record": "a medical record"}' e2e-write
e2e_verify e2e-write POST /app/records | hops
note "Both hops verified: records' statement nests storage's, each signed by its own" \
     "service identity and bound to this request's nonce."

note "A HIPAA client's policy (docs/e2e.md): every hop certified by the CI, tested," \
     "compliance=HIPAA. The CI certifies code from a recorded in-toto supply chain (build," \
     "then test); records' members log its certificate, storage's have not:"
if command -v in-toto-run >/dev/null && /usr/bin/python3 -c "import in_toto" 2>/dev/null; then
  mkdir supply && (cd supply
    for k in owner builder tester; do in-toto-keygen -t ed25519 "$k" >/dev/null; done
    /usr/bin/python3 - <<'LAYOUT'
from securesystemslib.interface import import_ed25519_privatekey_from_file, import_publickeys_from_file
from in_toto.models.layout import Layout, Step
from in_toto.models.metadata import Metablock
b, t = import_publickeys_from_file(["builder.pub", "tester.pub"], ["ed25519", "ed25519"]).values()
l = Layout(); l.expires = "2099-01-01T00:00:00Z"; l.add_functionary_key(b); l.add_functionary_key(t)
s1 = Step(name="build"); s1.pubkeys = [b["keyid"]]
s1.add_product_rule_from_string("CREATE app.so"); s1.add_product_rule_from_string("DISALLOW *")
s2 = Step(name="test"); s2.pubkeys = [t["keyid"]]
s2.add_material_rule_from_string("MATCH app.so WITH PRODUCTS FROM build")
s2.add_material_rule_from_string("DISALLOW *"); s2.add_product_rule_from_string("DISALLOW *")
l.steps = [s1, s2]; m = Metablock(signed=l); m.sign(import_ed25519_privatekey_from_file("owner")); m.dump("root.layout")
LAYOUT
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ci_privk.pem \
      -out ci_cert.pem -subj /CN=consort-ci -days 30 2>/dev/null)
  # certify NAME: the CI records the build and test of samples/composed/NAME.so,
  # certifies it, and NAME's members log the certificate for its code id
  certify() {
    local name=$1 dir=supply/$1
    mkdir "$dir" && cp supply/root.layout "$dir/"
    (cd "$dir"
      in-toto-run -n build -k ../builder -t ed25519 --products app.so -- cp "$B/samples/composed/$name.so" app.so
      in-toto-run -n test -k ../tester -t ed25519 --materials app.so -- test -s app.so)
    run "$C" code certify --layout "$dir/root.layout" --layout-key supply/owner.pub --links "$dir" \
        --artifact "$dir/app.so" --issuer-key supply/ci_privk.pem --issuer-cert supply/ci_cert.pem \
        --tested-by test --claim compliance=HIPAA --out "$name.codecert" | sed 's/^/  /'
    local id pid
    id=$("$C" code id --node-binary "$D" --app "$B/samples/composed/$name.so")
    printf '{"actions": [{"name": "add_code_id", "args": {"code_id": "%s", "certificate": "%s"}}]}\n' \
      "$id" "$(base64 -w0 "$name.codecert")" > "log_$name.json"
    pid=$("$C" gov propose "log_$name.json" --workspace "$cws/$name" --as member0 | python3 -c "import json,sys; print(json.load(sys.stdin)['proposal_id'])")
    sleep 1
    "$C" gov vote "$pid" --accept --workspace "$cws/$name" --as member0 >/dev/null
    echo "  $name's members log it: $("$C" gov vote "$pid" --accept --workspace "$cws/$name" --as member1 | python3 -c "import json,sys; print(json.load(sys.stdin)['state'])")"
  }
  certify records
  printf '{"issuers": ["supply/ci_cert.pem"], "claims": ["tested", "compliance=HIPAA"]}\n' > hipaa.json
  show cat hipaa.json; sed 's/^/  /' hipaa.json
  attested GET '/app/records?id=1' '' e2e-read
  reject "$C" e2e verify --service-cert "$cws/records/service_cert.pem" --nonce "$(cat e2e-read/nonce)" \
      --method GET --target '/app/records?id=1' --request-body e2e-read/request \
      --status "$(cat e2e-read/status)" --response-body e2e-read/response --policy hipaa.json \
      e2e-read/statement
  note "Refused: records is certified, but storage runs code with no certificate, so" \
       "the client cannot know it was built and tested as its policy requires." \
       "Once storage's members log a certificate for its code, the same policy holds:"
  certify storage
  attested GET '/app/records?id=1' '' e2e-read2
  e2e_verify e2e-read2 GET '/app/records?id=1' --policy hipaa.json | hops
else
  note "(in-toto is not installed: scripts/install-deps installs it; skipping the policy part)"
fi
note "And records' code cannot send the record anywhere it did not declare:"
"$H" "$cws/records" GET '/app/records/export?id=1' || true
kill -TERM "$sandbox_pid"; wait "$sandbox_pid" 2>/dev/null || true; sandbox_pid=

say "Underneath: attestation evidence, verified offline"
note "Every node proved itself this way before it was trusted. By hand:"
run "$C" keygen --out node >/dev/null
run "$C" keygen --out intruder >/dev/null
run "$C" platform init --dir platform
run "$C" evidence create --platform-dir platform --key node_pubk.pem --nonce 0011 --out node.evidence
run "$C" evidence verify node.evidence --platform-dir platform --key node_pubk.pem --nonce 0011 \
    | claims platform code_id debug
code_id=$("$C" evidence verify node.evidence --platform-dir platform | python3 -c "import json,sys; print(json.load(sys.stdin)['code_id'])")
printf '{"platforms": ["virtual"], "code_ids": ["%s"]}\n' "$code_id" > trusted.json
printf '{"platforms": ["virtual"], "code_ids": ["%064d"]}\n' 0 > other.json
run "$C" evidence verify node.evidence --platform-dir platform --policy trusted.json >/dev/null
echo "  (exit 0: this code id is trusted)"
reject "$C" evidence verify node.evidence --platform-dir platform --policy other.json
python3 -c "d=bytearray(open('node.evidence','rb').read()); d[40]^=1; open('tampered.evidence','wb').write(d)"
reject "$C" evidence verify tampered.evidence --platform-dir platform
reject "$C" evidence verify node.evidence --platform-dir platform --key intruder_pubk.pem --nonce 0011
if [ -d "$testdata/sev-snp" ]; then
  note "Real AMD SEV-SNP evidence (Milan): VCEK -> ASK -> AMD's pinned root, P-384 signature:"
  mkdir -p snp && cp "$testdata/sev-snp/milan-v2-virtee/vcek.der" "$testdata/sev-snp/certs/ask_milan.pem" snp/
  run "$C" evidence verify "$testdata/sev-snp/milan-v2-virtee/report.bin" --platform snp \
      --certs snp --at 2025-01-01T00:00:00Z | claims platform code_id security_version debug
fi

say "Done"
cat <<'OUTRO'
Run your own: `consort sandbox --nodes 3 --workspace /tmp/mine` (Ctrl-C stops it).
`consort --help` lists every verb; docs/http-api.md, docs/receipts.md,
docs/ledger.md and docs/attestation.md explain what you saw; `make test` runs
every test, the integration tests (tests/integration/) included.
OUTRO
