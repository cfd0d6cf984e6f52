#!/usr/bin/python3
"""Writes chains_random.json: random supply chains (layouts, links, keys made
here and signed with in-toto 1.3.1's models) and what in_toto.verifylib.
in_toto_verify said of each. Usage:
PYTHONHASHSEED=0 /usr/bin/python3 gen_random_chains.py <output dir>"""
import json, os, random, sys, tempfile, logging
from securesystemslib import keys as sslkeys
from in_toto.models.layout import Layout, Step
from in_toto.models.link import Link
from in_toto.models.metadata import Metablock
from in_toto import verifylib
logging.disable(logging.CRITICAL)

out = sys.argv[1]
rnd = random.Random(4242)

def pub(k):
    return {x: k[x] for x in ("keytype", "scheme", "keyid", "keyid_hash_algorithms")} | \
        {"keyval": {"public": k["keyval"]["public"]}}

owner = sslkeys.generate_ed25519_key()
funcs = [sslkeys.generate_ed25519_key() for _ in range(3)] + [sslkeys.generate_ecdsa_key()]

def rpath():
    return rnd.choice(["", "src/"]) + rnd.choice(["a", "b", "c.c"])
def rdigest():
    return {"sha256": rnd.choice("01") * 64}
def rartifacts():
    return {rpath(): rdigest() for _ in range(rnd.randint(0, 4))}
def rrule(names):
    kind = rnd.choice(["MATCH"] * 3 + ["CREATE", "DELETE", "MODIFY", "ALLOW", "ALLOW",
                                       "DISALLOW", "REQUIRE"])
    if kind == "REQUIRE":
        return [kind, rpath()]
    pat = rnd.choice(["*", "*.c", "a", "src/*", "[ab]"])
    if kind != "MATCH":
        return [kind, pat]
    r = ["MATCH", pat]
    if rnd.random() < 0.3:
        r += ["IN", "src"]
    r += ["WITH", rnd.choice(["MATERIALS", "PRODUCTS"])]
    if rnd.random() < 0.3:
        r += ["IN", "src"]
    return r + ["FROM", rnd.choice(names)]

cases = []
for case in range(120):
    n_steps = rnd.randint(1, 3)
    names = ["s%d" % i for i in range(n_steps)]
    layout = Layout()
    layout.expires = "2030-01-01T00:00:00Z" if rnd.random() < 0.92 else "2020-01-01T00:00:00Z"
    for f in funcs:
        layout.add_functionary_key(pub(f))
    steps = []
    for name in names:
        s = Step(name=name)
        signers = rnd.sample(funcs, rnd.randint(1, 3))
        s.pubkeys = [f["keyid"] for f in signers]
        s.threshold = rnd.randint(1, len(signers) + (1 if rnd.random() < 0.1 else 0))
        s.expected_materials = [rrule(names) for _ in range(rnd.randint(0, 3))]
        s.expected_products = [rrule(names) for _ in range(rnd.randint(0, 3))]
        for rules in (s.expected_materials, s.expected_products):
            if rnd.random() < 0.6:
                rules.insert(0, ["ALLOW", "*"])
            if rnd.random() < 0.5:
                rules.append(["DISALLOW", "*"])
        steps.append((s, signers))
    layout.steps = [s for s, _ in steps]
    mb = Metablock(signed=layout)
    mb.sign(owner if rnd.random() < 0.95 else funcs[0])
    if rnd.random() < 0.04:  # altered after signing
        mb.signed.readme = "changed"
    files = {}
    for s, signers in steps:
        mats, prods = rartifacts(), rartifacts()
        for f in signers:
            if rnd.random() < 0.04:
                continue  # this functionary did not report
            m, p = (mats, prods) if rnd.random() < 0.9 else (rartifacts(), rartifacts())
            link = Metablock(signed=Link(name=s.name, materials=m, products=p,
                                         byproducts={"return-value": 0, "stderr": "", "stdout": ""},
                                         command=[], environment={}))
            link.sign(f if rnd.random() < 0.93 else rnd.choice(funcs + [owner]))
            files["%s.%s.link" % (s.name, f["keyid"][:8])] = link
    with tempfile.TemporaryDirectory() as d:
        texts = {}
        for name, link in files.items():
            link.dump(os.path.join(d, name))
            texts[name] = open(os.path.join(d, name)).read()
        mb.dump(os.path.join(d, "root.layout"))
        layout_text = open(os.path.join(d, "root.layout")).read()
        try:
            verifylib.in_toto_verify(Metablock.load(os.path.join(d, "root.layout")),
                                     {owner["keyid"]: pub(owner)}, link_dir_path=d,
                                     persist_inspection_links=False)
            verdict = {"ok": True}
        except Exception as e:
            verdict = {"ok": False, "error": type(e).__name__ + ": " + str(e).split("\n")[0]}
    cases.append({"layout": layout_text, "links": texts, **verdict})

with open(out + "/chains_random.json", "w") as f:
    json.dump({"owner": pub(owner), "cases": cases}, f, indent=1)
