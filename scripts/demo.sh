#!/usr/bin/env bash
# The guided tour behind `make demo`: what consort can do today, step by step.
# Usage: scripts/demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
C="$root/$build/tools/consort"
[ -x "$C" ] || C="$build/tools/consort"
testdata="${CONSORT_TESTDATA:-$root/../shared/testdata}"
work=$(mktemp -d /tmp/consort-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

step=0
say() { step=$((step + 1)); printf '\n\033[1m== %d. %s\033[0m\n' "$step" "$1"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }
# Runs a command that must be rejected: shows its reason and exit status.
reject() {
  printf '$ %s\n' "$*"
  set +e; "$@" >/dev/null 2>"$work/err"; code=$?; set -e
  sed 's/^/  /' "$work/err"
  [ "$code" -eq 1 ] || { echo "demo: expected exit 1 (rejected), got $code" >&2; exit 1; }
  echo "  (exit 1: rejected, as it must be)"
}
claims() { python3 -c "import json,sys; j=json.load(sys.stdin); print('  ' + ', '.join(f'{k}={j[k]}' for k in sys.argv[1:]))" "$@"; }

cat <<'INTRO'
consort runs one stateful application across many attested TEEs. Every node
proves which code it runs with attestation evidence that binds its key; a
policy decides which code ids, platforms and security versions are trusted.
This tour shows that path: a development platform end to end, then real
evidence from AMD SEV-SNP, Intel TDX and SGX machines checked against the
vendors' pinned roots.
INTRO

say "A node key (ECDSA P-256), made where the node runs"
run "$C" keygen --out node
run "$C" keygen --out intruder >/dev/null

say "A virtual platform: a per-host key that signs reports (development only, loudly insecure)"
run "$C" platform init --dir platform

say "Evidence: the platform reports the code id (hash of the node binary and app) and binds the node key"
run "$C" evidence create --platform-dir platform --key node_pubk.pem --nonce 0011 --out node.evidence

say "Anyone holding the platform certificate verifies it offline and reads the claims"
run "$C" evidence verify node.evidence --platform-dir platform --key node_pubk.pem --nonce 0011 \
    > claims.json
head -n 8 claims.json
echo "  ..."
code_id=$(python3 -c "import json; print(json.load(open('claims.json'))['code_id'])")

say "A policy trusts exactly this code id; a policy for other code rejects it, with the reason"
printf '{"platforms": ["virtual"], "code_ids": ["%s"], "allow_debug": false}\n' "$code_id" > trusted.json
printf '{"platforms": ["virtual"], "code_ids": ["%064d"]}\n' 0 > other.json
run "$C" evidence verify node.evidence --platform-dir platform --policy trusted.json >/dev/null
echo "  (exit 0: accepted)"
reject "$C" evidence verify node.evidence --platform-dir platform --policy other.json

say "The host is the adversary: a flipped bit, or evidence presented for another key, fails closed"
python3 -c "d=bytearray(open('node.evidence','rb').read()); d[40]^=1; open('tampered.evidence','wb').write(d)"
reject "$C" evidence verify tampered.evidence --platform-dir platform
reject "$C" evidence verify node.evidence --platform-dir platform --key intruder_pubk.pem --nonce 0011

if [ -d "$testdata" ]; then
  say "Real AMD SEV-SNP evidence (Milan): VCEK -> ASK -> AMD's pinned root, P-384 report signature"
  mkdir -p snp && cp "$testdata/sev-snp/milan-v2-virtee/vcek.der" "$testdata/sev-snp/certs/ask_milan.pem" snp/
  run "$C" evidence verify "$testdata/sev-snp/milan-v2-virtee/report.bin" --platform snp \
      --certs snp --at 2025-01-01T00:00:00Z | claims platform code_id security_version debug

  say "Real Intel TDX quote: PCK chain, QE report, TCB info and QE identity (collateral as Intel serves it)"
  mkdir -p tdx && cp "$testdata"/tdx/phala-dcap-qvl/derived_* tdx/
  run "$C" evidence verify "$testdata/tdx/phala-dcap-qvl/tdx_quote_v4.dat" --platform tdx \
      --collateral tdx --at 2025-06-20T12:00:00Z | claims platform code_id tcb_status

  say "Real Intel SGX quote: genuine, but its TCB needs configuration and SW hardening"
  mkdir -p sgx && cp "$testdata"/sgx-dcap/phala-dcap-qvl/derived_* sgx/
  run "$C" evidence verify "$testdata/sgx-dcap/phala-dcap-qvl/sgx_quote_v3.dat" --platform sgx \
      --collateral sgx --at 2025-06-20T12:00:00Z | claims tcb_status advisories
  echo '{"platforms": ["sgx"]}' > sgx-policy.json
  echo "The default policy accepts only an up-to-date TCB:"
  reject "$C" evidence verify "$testdata/sgx-dcap/phala-dcap-qvl/sgx_quote_v3.dat" --platform sgx \
      --collateral sgx --at 2025-06-20T12:00:00Z --policy sgx-policy.json
else
  echo "(skipping real-hardware evidence: $testdata not found)"
fi

say "Done"
cat <<'OUTRO'
Next: `consort --help` lists every verb; docs/attestation.md explains
platforms, code ids and policies; `make test` runs the whole test suite.
OUTRO
