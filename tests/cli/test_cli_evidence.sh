#!/usr/bin/env bash
# A tour of keygen, platform init, evidence create and evidence verify with the
# real `consort` binary ($1) in a temporary directory: what must succeed exits
# 0, every rejection exits 1 with its reason, every usage error exits 2.
set -u
CONSORT=${1:?usage: test_cli_evidence.sh path/to/consort}
case "$CONSORT" in /*) ;; *) CONSORT="$PWD/$CONSORT" ;; esac
WORK=$(mktemp -d /tmp/consort-cli-evidence.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
unset CONSORT_PLATFORM_DIR
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

# json_check EXPR: asserts a python3 expression over the claims JSON in out.txt (as `j`).
json_check() {
    if ! python3 -c "import json,sys; j=json.load(open('out.txt')); sys.exit(0 if ($1) else 1)"; then
        echo "FAIL: JSON check failed: $1"; cat out.txt
        failures=$((failures + 1))
    else
        echo "ok: json $1"
    fi
}

# ---- keys and the platform ----
expect 0 "key id:" -- "$CONSORT" keygen --out node
[ "$(stat -c %a node_privk.pem)" = 600 ] || { echo "FAIL: private key mode"; failures=$((failures + 1)); }
grep -q "BEGIN PUBLIC KEY" node_pubk.pem || { echo "FAIL: public key PEM"; failures=$((failures + 1)); }
expect 1 "exists" -- "$CONSORT" keygen --out node
expect 0 "P-384" -- "$CONSORT" keygen --out node --curve P-384 --force
expect 0 "" -- "$CONSORT" keygen --priv other_priv.pem --pub other_pub.pem
# a member's encryption key pair (recovery shares): RSA-3072, private file
# 0600, and what OpenSSL encrypts with RSA-OAEP-256 to the public key the
# private key decrypts
expect 0 "RSA-3072" -- "$CONSORT" keygen --encryption --out member0
if [ "$(stat -c %a member0_enc_privk.pem 2>/dev/null)" = 600 ] &&
   openssl pkey -pubin -in member0_enc_pubk.pem -noout -text 2>/dev/null | grep -q "3072 bit"; then
    echo "ok: encryption key files (0600, RSA 3072)"
else
    echo "FAIL: member0_enc_privk.pem / member0_enc_pubk.pem missing, not 0600 or not RSA-3072"
    failures=$((failures + 1))
fi
printf 'a recovery share' >share.txt
if openssl pkeyutl -encrypt -pubin -inkey member0_enc_pubk.pem -pkeyopt rsa_padding_mode:oaep \
       -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in share.txt -out share.bin &&
   openssl pkeyutl -decrypt -inkey member0_enc_privk.pem -pkeyopt rsa_padding_mode:oaep \
       -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in share.bin -out back.txt &&
   cmp -s share.txt back.txt; then
    echo "ok: RSA-OAEP-256 round trip through the encryption key pair"
else
    echo "FAIL: RSA-OAEP-256 round trip through member0's encryption keys"
    failures=$((failures + 1))
fi
expect 1 "exists" -- "$CONSORT" keygen --encryption --out member0
expect 2 "--encryption" -- "$CONSORT" keygen --encryption --out m --curve P-384
expect 2 "--encryption" -- "$CONSORT" keygen --encryption --priv a.pem --pub b.pem
expect 0 "INSECURE" -- "$CONSORT" platform init --dir plat
grep -q "platform key id:" out.txt || { echo "FAIL: no key id printed"; failures=$((failures + 1)); }
[ "$(stat -c %a plat/platform_key.pem)" = 600 ] || { echo "FAIL: platform key mode"; failures=$((failures + 1)); }
expect 1 "--force" -- "$CONSORT" platform init --dir plat
expect 0 "" -- "$CONSORT" platform init --dir plat2
mkdir certs othercerts
cp plat/platform_cert.pem certs/
cp plat2/platform_cert.pem othercerts/

# ---- evidence create ----
# A code id given explicitly is stated as given.
GIVEN=$(python3 -c "import hashlib; print(hashlib.sha256(b'consort test: a code id').hexdigest())")
expect 0 "code id:" -- "$CONSORT" evidence create --key node_pubk.pem --nonce 00ff \
    --code-id "$GIVEN" --svn 3 --platform-dir plat --out ev.cbor
CODE_ID=$(sed -n 's/^code id: *//p' out.txt)
REPORT_DATA=$(sed -n 's/^report data: *//p' out.txt)
[ "$CODE_ID" = "$GIVEN" ] || { echo "FAIL: code id $CODE_ID, expected $GIVEN"; failures=$((failures + 1)); }
# Otherwise consortd measures it (a code id v2 covers the node process's libraries,
# docs/attestation.md): exactly what `consortd --code-id` prints.
CONSORTD="$(dirname "$CONSORT")/consortd"
SAMPLE="$(dirname "$CONSORT")/../samples/logging.so"
if [ -x "$CONSORTD" ] && [ -r "$SAMPLE" ]; then
    WANT=$("$CONSORTD" --code-id --app "$SAMPLE" 2>/dev/null)
    [ ${#WANT} -eq 64 ] || { echo "FAIL: consortd --code-id printed '$WANT'"; failures=$((failures + 1)); }
    expect 0 "code id:     $WANT" -- "$CONSORT" evidence create --key node_pubk.pem \
        --binary "$CONSORTD" --app "$SAMPLE" --platform-dir plat --out measured.cbor
    # by default, the consortd next to consort, without a module: another code id
    NONE=$("$CONSORTD" --code-id 2>/dev/null)
    expect 0 "code id:     $NONE" -- "$CONSORT" evidence create --key node_pubk.pem \
        --platform-dir plat --out default.cbor
    [ "$WANT" != "$NONE" ] || { echo "FAIL: the module does not change the code id"; failures=$((failures + 1)); }
    expect 1 "not an ELF file" -- "$CONSORT" evidence create --key node_pubk.pem \
        --binary "$CONSORTD" --app node_pubk.pem --platform-dir plat --out x.cbor
else
    echo "SKIP: no consortd and logging sample next to $CONSORT: consortd's measurement not checked"
    skipped=$((skipped + 1))
fi
# A binary that is not consortd cannot measure one.
expect 1 "--code-id" -- "$CONSORT" evidence create --key node_pubk.pem --binary "$CONSORT" \
    --platform-dir plat --out x.cbor

# ---- evidence verify: success and the printed claims ----
expect 0 "" -- "$CONSORT" evidence verify ev.cbor --platform-dir plat --key node_privk.pem --nonce 00ff
json_check "j['platform'] == 'virtual'"
json_check "j['code_id'] == '$CODE_ID'"
json_check "j['report_data'] == '$REPORT_DATA'"
json_check "j['security_version'] == 3 and j['debug'] is False"
json_check "j['extra']['insecure'] == {'kind': 'bool', 'value': True}"
json_check "j['extra']['platform_key_id']['kind'] == 'hex' and len(j['extra']['platform_key_id']['value']) == 64"
json_check "j['advisories'] == [] and j['tcb_status'] == ''"
expect 0 "" -- "$CONSORT" evidence verify ev.cbor --trust certs --platform virtual
# --certs only adds endorsements: the right platform certificate given there is
# still not trusted (a host could otherwise ship its own "trusted" certificate)
expect 1 "no trusted platform certificate given" -- "$CONSORT" evidence verify ev.cbor --certs certs --platform-dir nowhere
expect 0 "" -- env CONSORT_PLATFORM_DIR=plat "$CONSORT" evidence verify ev.cbor

# ---- rejections: exit 1 with the reason ----
expect 1 "no trusted platform certificate given" -- "$CONSORT" evidence verify ev.cbor --platform-dir nowhere
expect 1 "none of the 1 trusted platform certificates" -- "$CONSORT" evidence verify ev.cbor --trust othercerts
expect 1 "report data" -- "$CONSORT" evidence verify ev.cbor --platform-dir plat --key node_privk.pem --nonce 00fe
expect 1 "does not bind" -- "$CONSORT" evidence verify ev.cbor --platform-dir plat --key other_pub.pem --nonce 00ff
expect 1 "consort evidence verify: attestation: " -- "$CONSORT" evidence verify ev.cbor --platform-dir plat --at 2099-01-01T00:00:00Z
# one flipped bit in the code id inside the report (envelope header is 13 bytes)
python3 -c "
d=bytearray(open('ev.cbor','rb').read()); d[13+30]^=0x01; open('tampered.cbor','wb').write(d)"
expect 1 "consort evidence verify: crypto: virtual evidence: virtual report: ECDSA P-256 signature does not verify" -- \
    "$CONSORT" evidence verify tampered.cbor --platform-dir plat
python3 -c "
d=bytearray(open('ev.cbor','rb').read()); d[13+12]^=0x80; open('flags.cbor','wb').write(d)"
expect 1 "flags 0x00000080" -- "$CONSORT" evidence verify flags.cbor --platform-dir plat
head -c 100 ev.cbor >truncated.cbor
expect 1 "not an evidence envelope" -- "$CONSORT" evidence verify truncated.cbor --platform-dir plat
expect 1 "protocol" -- "$CONSORT" evidence verify truncated.cbor --platform-dir plat --platform virtual
expect 1 "is virtual evidence, not snp" -- "$CONSORT" evidence verify ev.cbor --platform snp

# raw evidence (the report alone) needs --platform
python3 -c "d=open('ev.cbor','rb').read(); open('raw.bin','wb').write(d[13:13+216])"
expect 1 "give --platform" -- "$CONSORT" evidence verify raw.bin --platform-dir plat
expect 0 "" -- "$CONSORT" evidence verify raw.bin --platform virtual --platform-dir plat

# ---- policies ----
printf '{"platforms": ["virtual"], "code_ids": ["%s"], "min_security_version": 3}\n' "$CODE_ID" >good.json
printf '{"code_ids": ["%064d"]}\n' 7 >other_code.json
printf '{"min_security_version": 4}\n' >svn.json
printf '{"allow_debg": true}\n' >typo.json
expect 0 "" -- "$CONSORT" evidence verify ev.cbor --platform-dir plat --policy good.json
expect 1 "consort evidence verify: policy: code id $CODE_ID is not trusted" -- \
    "$CONSORT" evidence verify ev.cbor --platform-dir plat --policy other_code.json
json_check "j['code_id'] == '$CODE_ID'"  # the claims are still shown
expect 1 "security version 3 is below the minimum 4" -- "$CONSORT" evidence verify ev.cbor --platform-dir plat --policy svn.json
expect 1 "unknown member 'allow_debg'" -- "$CONSORT" evidence verify ev.cbor --platform-dir plat --policy typo.json
expect 0 "" -- "$CONSORT" evidence create --key node_pubk.pem --code-id "$GIVEN" --debug \
    --platform-dir plat --out debug.cbor
printf '{}\n' >default.json
expect 1 "debug is enabled" -- "$CONSORT" evidence verify debug.cbor --platform-dir plat --policy default.json
expect 1 "no virtual platform" -- "$CONSORT" evidence create --key node_pubk.pem --code-id "$GIVEN" \
    --platform-dir nowhere --out x.cbor

# ---- usage errors: exit 2 ----
expect 2 "unknown option '--bogus'" -- "$CONSORT" evidence verify ev.cbor --bogus
expect 2 "needs a value" -- "$CONSORT" evidence verify ev.cbor --policy
expect 2 "needs a value" -- "$CONSORT" keygen --out --force
expect 2 "unexpected argument 'extra'" -- "$CONSORT" evidence verify ev.cbor extra
expect 2 "FILE is missing" -- "$CONSORT" evidence verify
expect 2 "--nonce needs --key" -- "$CONSORT" evidence verify ev.cbor --nonce 00
expect 2 "--at" -- "$CONSORT" evidence verify ev.cbor --at yesterday
expect 2 "--nonce" -- "$CONSORT" evidence create --key node_pubk.pem --nonce xyz --out x.cbor
expect 2 "--platform" -- "$CONSORT" evidence verify ev.cbor --platform sev
expect 2 "--svn" -- "$CONSORT" evidence create --key node_pubk.pem --svn -1 --out x.cbor
expect 2 "--svn" -- "$CONSORT" evidence create --key node_pubk.pem --svn 4294967296 --out x.cbor
expect 2 "--key PEM is required" -- "$CONSORT" evidence create --out x.cbor
expect 2 "not both" -- "$CONSORT" evidence create --key node_pubk.pem --code-id "$GIVEN" \
    --binary "$CONSORT" --out x.cbor
expect 2 "not 64 hex digits" -- "$CONSORT" evidence create --key node_pubk.pem --code-id 00ff --out x.cbor
expect 2 "--curve" -- "$CONSORT" keygen --out k --curve P-521
expect 2 "not both" -- "$CONSORT" keygen --out k --priv a.pem --pub b.pem
expect 2 "--priv" -- "$CONSORT" keygen --priv a.pem
expect 2 "unexpected argument" -- "$CONSORT" platform init extra
expect 2 "" -- "$CONSORT"
expect 2 "unknown group 'frobnicate'" -- "$CONSORT" frobnicate
expect 2 "unknown verb 'frobnicate'" -- "$CONSORT" evidence frobnicate

# ---- --help on every verb ----
for verb in "keygen" "platform init" "evidence create" "evidence verify"; do
    # shellcheck disable=SC2086
    expect 0 "example:" -- "$CONSORT" $verb --help
done
expect 0 "create, verify" -- "$CONSORT" --help
expect 0 "verify attestation evidence" -- "$CONSORT" evidence --help

finish "all checks passed"
