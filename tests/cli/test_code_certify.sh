#!/usr/bin/env bash
# `consort code certify` against the in-toto reference implementation (the
# Debian package in-toto): functionary keys and a layout made with the
# reference tools and library, a small supply chain recorded with
# in-toto-run (fetch the sources, build, two testers run the tests, a
# review), then the honest chain and each tampered variant given to both
# in-toto-verify and consort code certify. They must agree on every
# verdict; consort must name the check that failed. Then what only consort
# checks: the artifact given must be the one the chain built, a failed test
# step gives no "tested" certificate (in-toto-verify passes that chain: the
# return value is not its business), and `consort code verify` checks the
# certificate it wrote.
set -u
CONSORT=${1:?usage: test_code_certify.sh path/to/consort}
case "$CONSORT" in /*) ;; *) CONSORT="$PWD/$CONSORT" ;; esac
# the reference implementation's library lives in Debian's python3 (another python3
# first in PATH may not have it)
PY=/usr/bin/python3
failures=0
skip() {
    echo "SKIP: $*"
    if [ "${CONSORT_NO_SKIP:-0}" = 1 ]; then
        echo "FAIL: skipped and CONSORT_NO_SKIP=1 (scripts/install-deps installs in-toto)"
        exit 1
    fi
    exit 77
}
for tool in in-toto-keygen in-toto-run in-toto-verify cc openssl; do
    command -v "$tool" >/dev/null || skip "$tool is not installed"
done
$PY -c 'import in_toto, securesystemslib' 2>/dev/null || skip "python3-in-toto is not installed ($PY)"

WORK=$(mktemp -d /tmp/consort-cli-certify.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
CODE_ID=$(printf 'c0de%.0s' $(seq 16))

# ---- keys: the layout owner, the functionaries, someone unauthorised ----
for k in owner alice bob carol dave erin mallory; do
    in-toto-keygen -t ed25519 "$k" >/dev/null || { echo "FAIL: in-toto-keygen $k"; exit 1; }
done
# the issuer of code certificates (an ECDSA P-256 key and its certificate)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout issuer_privk.pem \
    -out issuer_cert.pem -subj /CN=consort-ci -days 30 2>/dev/null || { echo "FAIL: openssl"; exit 1; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other_privk.pem \
    -out other_cert.pem -subj /CN=consort-ci -days 30 2>/dev/null || { echo "FAIL: openssl"; exit 1; }

# ---- the layout (in_toto's own model, signed by the owner) ----
$PY - <<'EOF' || { echo "FAIL: layout"; exit 1; }
from securesystemslib.interface import import_ed25519_privatekey_from_file
from securesystemslib.interface import import_publickeys_from_file
from in_toto.models.layout import Layout, Step
from in_toto.models.metadata import Metablock

owner = import_ed25519_privatekey_from_file("owner")
names = ["alice", "bob", "carol", "dave", "erin"]
keys = dict(zip(names, import_publickeys_from_file([n + ".pub" for n in names],
                                                   ["ed25519"] * len(names)).values()))

def step(name, who, threshold=1):
    s = Step(name=name)
    s.pubkeys = [keys[w]["keyid"] for w in who]
    s.threshold = threshold
    return s

def layout(expires):
    l = Layout()
    l.expires = expires
    l.readme = "consort interoperability test: fetch, build, test, review"
    for k in keys.values():
        l.add_functionary_key(k)
    fetch = step("fetch", ["alice"])
    fetch.add_product_rule_from_string("CREATE src/app.c")
    fetch.add_product_rule_from_string("DISALLOW *")
    build = step("build", ["bob"])
    build.add_material_rule_from_string("MATCH src/app.c WITH PRODUCTS FROM fetch")
    build.add_material_rule_from_string("DISALLOW *")
    build.add_product_rule_from_string("CREATE app.so")
    build.add_product_rule_from_string("DISALLOW *")
    test = step("test", ["carol", "dave"], threshold=2)
    test.add_material_rule_from_string("MATCH app.so WITH PRODUCTS FROM build")
    test.add_material_rule_from_string("DISALLOW *")
    test.add_product_rule_from_string("DISALLOW *")
    review = step("review", ["erin"])
    review.add_material_rule_from_string("MATCH src/app.c WITH PRODUCTS FROM fetch")
    review.add_material_rule_from_string("DISALLOW *")
    review.add_product_rule_from_string("DISALLOW *")
    l.steps = [fetch, build, test, review]
    return l

for path, expires in (("root.layout", "2099-01-01T00:00:00Z"),
                      ("expired.layout", "2020-01-01T00:00:00Z")):
    m = Metablock(signed=layout(expires))
    m.sign(owner)
    m.dump(path)
EOF

keyid8() { $PY -c "
from securesystemslib.interface import import_publickeys_from_file
print(list(import_publickeys_from_file(['$1.pub'], ['ed25519']).keys())[0][:8])"; }
BOB=$(keyid8 bob); CAROL=$(keyid8 carol); DAVE=$(keyid8 dave); ERIN=$(keyid8 erin)

# ---- the supply chain, recorded with in-toto-run ----
# run DIR KEY STEP [in-toto-run options] -- command: one step, in DIR
run() {
    local dir=$1 key=$2 name=$3
    shift 3
    (cd "$dir" && in-toto-run -n "$name" -k "$WORK/$key" -t ed25519 "$@") >/dev/null 2>&1
}
mkdir -p upstream honest/src
cat >upstream/app.c <<'EOF'
int app_answer(void) { return 42; }
EOF
cat >upstream/test.sh <<'EOF'
#!/bin/sh
# the test: the module builds into a shared object that exports app_answer
nm -D app.so | grep -q ' T app_answer'
EOF
chain() { # chain DIR [SOURCE]: records fetch, build, test (twice), review in DIR
    local d=$1 src=${2:-upstream/app.c}
    mkdir -p "$d/src"
    run "$d" alice fetch --products src/app.c -- cp "$WORK/$src" src/app.c &&
        run "$d" bob build --materials src/app.c --products app.so -- \
            cc -shared -fPIC -o app.so src/app.c &&
        cp upstream/test.sh "$d/" &&
        run "$d" carol test --materials app.so -- sh test.sh &&
        run "$d" dave test --materials app.so -- sh test.sh &&
        run "$d" erin review --materials src/app.c -- true
}
chain honest || { echo "FAIL: recording the honest chain"; exit 1; }

# variants: a directory each, with the links and the layout to verify
variant() { rm -rf "v/$1"; mkdir -p "v/$1"; cp honest/*.link "v/$1/"; cp root.layout "v/$1/"; }
variant honest
variant expired; cp expired.layout v/expired/root.layout
variant missing-step; rm v/missing-step/review.*.link
variant threshold-not-met; rm v/threshold-not-met/test.$DAVE.link
# mallory builds, and her link is filed under bob's name
variant wrong-functionary
mkdir -p mal/src && cp honest/src/app.c mal/src/
run mal mallory build --materials src/app.c --products app.so -- cc -shared -fPIC -o app.so src/app.c
cp mal/build.*.link v/wrong-functionary/build.$BOB.link
# app.so altered after the build: the testers ran on another artifact
variant altered-artifact
mkdir -p alt && cp honest/app.so honest/test.sh alt/ && printf 'x' >>alt/app.so
run alt carol test --materials app.so -- sh test.sh
run alt dave test --materials app.so -- sh test.sh
cp alt/test.*.link v/altered-artifact/
# the build consumed other sources than fetch produced
variant product-mismatch
mkdir -p pm/src && sed 's/42/43/' upstream/app.c >pm/src/app.c
run pm bob build --materials src/app.c --products app.so -- cc -shared -fPIC -o app.so src/app.c
cp pm/build.*.link v/product-mismatch/
# the layout changed after the owner signed it (test's threshold lowered)
variant tampered-layout
$PY - v/tampered-layout/root.layout <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["signed"]["steps"][2]["threshold"] = 1
json.dump(m, open(sys.argv[1], "w"), indent=1)
EOF

# ---- verdicts: in-toto-verify and consort code certify must agree ----
# case VARIANT WANT_RC CHECK: both verify v/VARIANT; WANT_RC 0 = verifies
agree() {
    local v=$1 want=$2 check=$3 ref ours
    (cd "v/$v" && in-toto-verify --layout root.layout --layout-keys "$WORK/owner.pub" \
        -t ed25519) >"v/$v.ref" 2>&1
    ref=$?
    "$CONSORT" code certify --layout "v/$v/root.layout" --layout-key owner.pub --links "v/$v" \
        --artifact honest/app.so --code-id "$CODE_ID" --issuer-key issuer_privk.pem \
        --issuer-cert issuer_cert.pem --out "v/$v.cert" >"v/$v.ours" 2>&1
    ours=$?
    if [ "$want" = 0 ] && [ "$ref" -ne 0 ]; then
        fail "$v: in-toto-verify refused the chain (exit $ref):"; sed 's/^/  /' "v/$v.ref"
    elif [ "$want" != 0 ] && [ "$ref" -eq 0 ]; then
        fail "$v: in-toto-verify passed a tampered chain"
    fi
    if [ $((ref != 0)) -ne $((ours != 0)) ]; then
        fail "$v: in-toto-verify exits $ref but consort code certify exits $ours:"
        sed 's/^/  consort: /' "v/$v.ours"; sed 's/^/  in-toto: /' "v/$v.ref"
        return
    fi
    if [ "$want" != 0 ] && ! grep -qF "check: $check" "v/$v.ours"; then
        fail "$v: consort refused, but not at the check '$check':"; sed 's/^/  /' "v/$v.ours"
        return
    fi
    if [ "$want" != 0 ] && [ -e "v/$v.cert" ]; then
        fail "$v: refused, yet a certificate was written"
        return
    fi
    echo "ok: $v: in-toto-verify exit $ref, consort code certify exit $ours${check:+ ($check)}"
}
agree honest 0 ""
agree expired 1 "layout expired"
agree tampered-layout 1 "layout signature"
agree missing-step 1 "link missing step review"
agree threshold-not-met 1 "link missing step test"
agree wrong-functionary 1 "link signature threshold step build"
agree altered-artifact 1 "artifact rule step test"
agree product-mismatch 1 "artifact rule step build"

# ---- beyond in-toto-verify ----
# expect RC NEEDLE command...: exit code and a needle in stdout+stderr
expect() {
    local want=$1 needle=$2
    shift 2
    "$@" >out.txt 2>&1
    local rc=$?
    if [ "$rc" -ne "$want" ] || ! grep -qF -- "$needle" out.txt; then
        fail "exit $rc (expected $want), wanted '$needle': $*"; sed 's/^/  /' out.txt
        return
    fi
    echo "ok: exit $rc '$needle': ${*:1:3} ..."
}
certify() { # certify DIR ARTIFACT OUT [options]
    local d=$1 a=$2 o=$3
    shift 3
    "$CONSORT" code certify --layout "$d/root.layout" --layout-key owner.pub --links "$d" \
        --artifact "$a" --code-id "$CODE_ID" --issuer-key issuer_privk.pem \
        --issuer-cert issuer_cert.pem --out "$o" "$@"
}
# the honest chain with its claims, and what the certificate then says
expect 0 "certified code id $CODE_ID" certify v/honest honest/app.so app.cert \
    --tested-by test --reviewed-by review --claim compliance=HIPAA
ERIN_ID=$($PY -c "
from securesystemslib.interface import import_publickeys_from_file
print(list(import_publickeys_from_file(['erin.pub'], ['ed25519']).keys())[0])")
expect 0 '"compliance": "HIPAA"' "$CONSORT" code verify --cert app.cert \
    --issuer-cert issuer_cert.pem --code-id "$CODE_ID" --artifact honest/app.so \
    --require tested --require compliance=HIPAA --require "reviewed_by=$ERIN_ID"
expect 1 'claim "compliance" is "HIPAA", not "FERPA"' "$CONSORT" code verify --cert app.cert \
    --issuer-cert issuer_cert.pem --require compliance=FERPA
expect 1 "issued by another certificate" "$CONSORT" code verify --cert app.cert \
    --issuer-cert other_cert.pem
expect 1 "another code id" "$CONSORT" code verify --cert app.cert --issuer-cert issuer_cert.pem \
    --code-id "$(printf 'ab%.0s' $(seq 32))"
expect 1 "not the certified artifact" "$CONSORT" code verify --cert app.cert \
    --issuer-cert issuer_cert.pem --artifact upstream/app.c
# the artifact must be the one the chain built
cp honest/app.so swapped.so && printf 'x' >>swapped.so
expect 1 "not the artifact the supply chain made" certify v/honest swapped.so x.cert \
    --artifact-path app.so
expect 1 "a product of no step" certify v/honest upstream/test.sh x.cert
[ -e x.cert ] && fail "a certificate was written for a refused artifact"
# a failed test step: in-toto-verify passes the chain, consort gives no "tested"
mkdir -p failing && cp upstream/test.sh failing/ && printf 'exit 1\n' >>failing/test.sh
(mkdir -p ft && cd ft && cp ../honest/*.link . && cp ../root.layout . &&
    cp ../honest/app.so ../failing/test.sh . && rm test.*.link &&
    in-toto-run -n test -k ../carol -t ed25519 --materials app.so -- sh test.sh &&
    in-toto-run -n test -k ../dave -t ed25519 --materials app.so -- sh test.sh) >/dev/null 2>&1
rm -f ft/test.sh ft/app.so
(cd ft && in-toto-verify --layout root.layout --layout-keys "$WORK/owner.pub" -t ed25519) \
    >ft.ref 2>&1 || fail "in-toto-verify refused the chain whose test step failed"
expect 1 'the test step "test" returned 1' certify ft honest/app.so ft.cert --tested-by test
expect 0 "certified" certify ft honest/app.so ft.cert # no claim asked: certified
expect 1 'no claim "tested"' "$CONSORT" code verify --cert ft.cert --issuer-cert issuer_cert.pem \
    --require tested
# required options missing: a usage error
expect 2 "--layout, --layout-key" "$CONSORT" code certify --layout root.layout

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all agree"
exit 0
