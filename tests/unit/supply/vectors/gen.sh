#!/usr/bin/env bash
# Regenerates the in-toto test vectors with the reference implementation
# (Debian 12 packages in-toto 1.3.1 and python3-securesystemslib 0.26).
# Usage: gen.sh <output dir>   (writes chain/, keys/ and canonical/ there)
# Fresh keys are made on every run; only public keys are kept.
set -euo pipefail
PY=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# --- keys ---------------------------------------------------------------
in-toto-keygen -t ed25519 owner
in-toto-keygen -t ed25519 alice
in-toto-keygen -t ecdsa bob
in-toto-keygen -t rsa -b 3072 carol
in-toto-keygen -t ed25519 mallory
mkdir -p "$out/keys"
# public key objects as securesystemslib imports them (keyid included)
$PY - "$out/keys" <<'PYEOF'
import json, sys
from securesystemslib.interface import import_publickeys_from_file
from securesystemslib.keys import format_keyval_to_metadata
types = {"owner": "ed25519", "alice": "ed25519", "bob": "ecdsa",
         "carol": "rsa", "mallory": "ed25519"}
for name, kt in types.items():
    key = list(import_publickeys_from_file([name + ".pub"], [kt]).values())[0]
    with open("%s/%s.json" % (sys.argv[1], name), "w") as f:
        json.dump(key, f, indent=1, sort_keys=True)
PYEOF
cp carol.pub "$out/keys/carol.pem"

keyid() { $PY -c "import json;print(json.load(open('$out/keys/$1.json'))['keyid'])"; }

# --- the supply chain ---------------------------------------------------
# write-code (alice) creates foo.py; package (bob and carol, threshold 2)
# turns it into foo.tar, deterministically so that both agree.
TAR="tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf foo.tar foo.py"
mkdir src && cd src
in-toto-run -n write-code -k ../alice -t ed25519 --products foo.py -- \
  sh -c 'echo "print(\"hello\")" > foo.py'
in-toto-run -n package -k ../bob -t ecdsa --materials foo.py --products foo.tar -- $TAR
rm foo.tar
in-toto-run -n package -k ../carol -t rsa --materials foo.py --products foo.tar -- $TAR
cp foo.tar ../honest-foo.tar
# mallory performs write-code too (not authorised for it)
rm -f foo.py
in-toto-run -n write-code -k ../mallory -t ed25519 --products foo.py -- \
  sh -c 'echo "print(\"hello\")" > foo.py'
cd ..

# package over a foo.py that was altered after write-code recorded it
mkdir swapped && cd swapped
cp ../src/foo.py . && echo "import os  # backdoor" >> foo.py
in-toto-run -n package -k ../bob -t ecdsa --materials foo.py --products foo.tar -- $TAR
rm foo.tar
in-toto-run -n package -k ../carol -t rsa --materials foo.py --products foo.tar -- $TAR
cd ..

# carol packages a different foo.tar (both links valid, artifacts disagree)
mkdir disagree && cd disagree
cp ../src/foo.py .
in-toto-run -n package -k ../carol -t rsa --materials foo.py --products foo.tar -- \
  tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -cf foo.tar foo.py
cd ..

# --- layouts ------------------------------------------------------------
$PY - <<'PYEOF'
import copy, json
from securesystemslib.interface import import_ed25519_privatekey_from_file
from securesystemslib.interface import import_publickeys_from_file
from in_toto.models.layout import Layout, Step, Inspection
from in_toto.models.metadata import Metablock

owner = import_ed25519_privatekey_from_file("owner")
mallory = import_ed25519_privatekey_from_file("mallory")
pub = import_publickeys_from_file(
    ["alice.pub", "bob.pub", "carol.pub"], ["ed25519", "ecdsa", "rsa"])
alice, bob, carol = list(pub.values())
TAR = "tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf foo.tar foo.py"

def layout(expires="2030-01-01T00:00:00Z", inspect=False):
    l = Layout()
    l.expires = expires
    l.readme = "consort test supply chain"
    for k in (alice, bob, carol):
        l.add_functionary_key(k)
    s1 = Step(name="write-code")
    s1.pubkeys = [alice["keyid"]]
    s1.set_expected_command_from_string(
        "sh -c 'echo \"print(\\\"hello\\\")\" > foo.py'")
    s1.add_product_rule_from_string("CREATE foo.py")
    s1.add_product_rule_from_string("DISALLOW *")
    s2 = Step(name="package")
    s2.pubkeys = [bob["keyid"], carol["keyid"]]
    s2.threshold = 2
    s2.set_expected_command_from_string(TAR)
    s2.add_material_rule_from_string("MATCH foo.py WITH PRODUCTS FROM write-code")
    s2.add_material_rule_from_string("DISALLOW *")
    s2.add_product_rule_from_string("CREATE foo.tar")
    s2.add_product_rule_from_string("DISALLOW *")
    l.steps = [s1, s2]
    if inspect:
        i = Inspection(name="untar")
        i.set_run_from_string("tar xf foo.tar")
        i.add_material_rule_from_string("MATCH foo.tar WITH PRODUCTS FROM package")
        i.add_product_rule_from_string("MATCH foo.py WITH PRODUCTS FROM write-code")
        l.inspect = [i]
    return l

def write(l, path, key=owner):
    m = Metablock(signed=l)
    m.sign(key)
    m.dump(path)

write(layout(), "root.layout")
write(layout(expires="2020-01-01T00:00:00Z"), "expired.layout")
write(layout(inspect=True), "inspect.layout")
write(layout(), "mallory.layout", key=mallory)
# signed, then altered: package's threshold lowered to 1
m = Metablock.load("root.layout")
m.signed.steps[1].threshold = 1
m.dump("tampered.layout")
PYEOF

# --- the variants -------------------------------------------------------
A=$(keyid alice | cut -c1-8); B=$(keyid bob | cut -c1-8)
C=$(keyid carol | cut -c1-8); M=$(keyid mallory | cut -c1-8)
honest_links() {
  cp src/write-code.$A.link src/package.$B.link src/package.$C.link "$1"/
}
mkvariant() { rm -rf "$out/chain/$1"; mkdir -p "$out/chain/$1"; echo "$out/chain/$1"; }

d=$(mkvariant honest); cp root.layout $d/; honest_links $d
d=$(mkvariant expired); cp expired.layout $d/root.layout; honest_links $d
d=$(mkvariant bad-layout-sig); cp tampered.layout $d/root.layout; honest_links $d
d=$(mkvariant wrong-layout-key); cp mallory.layout $d/root.layout; honest_links $d
d=$(mkvariant inspection); cp inspect.layout $d/root.layout; honest_links $d
d=$(mkvariant missing-link); cp root.layout $d/; honest_links $d; rm $d/write-code.$A.link
d=$(mkvariant unauthorised-key); cp root.layout $d/; honest_links $d
  cp src/write-code.$M.link $d/write-code.$A.link
d=$(mkvariant threshold-missing); cp root.layout $d/; honest_links $d; rm $d/package.$C.link
d=$(mkvariant threshold-bad-sig); cp root.layout $d/; honest_links $d
  cp src/package.$B.link $d/package.$C.link
d=$(mkvariant threshold-disagree); cp root.layout $d/; honest_links $d
  cp disagree/package.$C.link $d/
d=$(mkvariant swapped-material); cp root.layout $d/; honest_links $d
  cp swapped/package.$B.link swapped/package.$C.link $d/
# a recorded product hash edited after signing
d=$(mkvariant altered-artifact); cp root.layout $d/; honest_links $d
$PY - "$d/write-code.$A.link" <<'PYEOF'
import json, sys
p = sys.argv[1]
m = json.load(open(p))
h = m["signed"]["products"]["foo.py"]["sha256"]
m["signed"]["products"]["foo.py"]["sha256"] = ("0" if h[0] != "0" else "1") + h[1:]
json.dump(m, open(p, "w"), indent=1, sort_keys=True)
PYEOF

# --- what in-toto-verify says about each ----------------------------------
cp owner.pub "$out/keys/owner.pub"
for d in "$out"/chain/*/; do
  v=$(basename "$d")
  run=$(mktemp -d)
  cp "$d"/* "$run"/
  cp honest-foo.tar "$run"/foo.tar   # what the inspection would untar
  set +e
  (cd "$run" && in-toto-verify --layout root.layout --layout-keys "$work/owner.pub" \
     -t ed25519 --verbose) > "$run/.out" 2>&1
  rc=$?
  set -e
  {
    echo "# cd chain/$v && in-toto-verify --layout root.layout --layout-keys ../../keys/owner.pub -t ed25519 --verbose"
    echo "# in-toto 1.3.1 (Debian 12), run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "exit: $rc"
    sed -e "s#$run#.#g" -e "s#$work#..#g" "$run/.out"
  } > "$d/in-toto-verify.txt"
  rm -rf "$run"
done
echo "vectors written to $out"
