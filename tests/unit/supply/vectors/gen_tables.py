#!/usr/bin/python3
"""Writes canonical.json and rules.json with the reference implementation
(securesystemslib 0.26 encode_canonical; in-toto 1.3.1 verify_item_rules).
Usage: /usr/bin/python3 gen_tables.py <output dir>"""
import json, sys
import securesystemslib.formats as ssf
import securesystemslib.exceptions
from in_toto.models.link import Link
from in_toto.models.metadata import Metablock
from in_toto import verifylib, exceptions

out = sys.argv[1]

# --- canonical JSON: JSON text in, canonical bytes (hex) or refusal out ---
inputs = [
    '{}', '[]', '""', '0', '-1', '123456789012345678', 'true', 'false', 'null',
    '{"b": 1, "a": 2, "c": {"z": [], "y": {}}}',
    '{"_type": "link", "Z": 1, "a": 2, "_": 3, "0": 4}',
    '["a\\"b", "c\\\\d", "e/f", "tab\\there", "nl\\nx", "\\u0001"]',
    '{"\\u00e9": 1, "e": 2, "\\u20ac": 3, "\\ud83d\\ude00": 4, "z": 5}',
    '{"k": "caf\\u00e9 \\u20ac \\ud83d\\ude00"}',
    '[1, [2, [3, [4, {"x": null}]]]]',
    '{"a": [true, false, null, -0, 9007199254740993]}',
    '1.5', '[1e3]', '{"x": 0.0}',
]
cases = []
for text in inputs:
    obj = json.loads(text)
    try:
        enc = ssf.encode_canonical(obj).encode("utf-8")
        cases.append({"json": text, "canonical_hex": enc.hex()})
    except securesystemslib.exceptions.FormatError as e:
        cases.append({"json": text, "refused": str(e)})
with open(out + "/canonical.json", "w") as f:
    json.dump(cases, f, indent=1)

# --- artifact rules: verify_item_rules on unsigned links --------------------
H = lambda c: {"sha256": c * 64}
def link(name, materials, products):
    return Metablock(signed=Link(name=name, materials=materials, products=products))

base = {
  "prev": link("prev", {}, {"foo.py": H("a"), "src/a.c": H("b"), "src/b.c": H("c"),
                            "lib/x.h": H("d")}),
  "this": link("this", {"foo.py": H("a"), "src/a.c": H("b"), "src/b.c": H("f"),
                        "gone.txt": H("e"), "[x].txt": H("9")},
                       {"foo.py": H("a"), "src/a.c": H("1"), "new.bin": H("2"),
                        "out/a.c": H("b"), "[x].txt": H("9")}),
}
rule_sets = [
  ("materials", [["MATCH", "*", "WITH", "PRODUCTS", "FROM", "prev"], ["DISALLOW", "*"]]),
  ("materials", [["MATCH", "foo.py", "WITH", "PRODUCTS", "FROM", "prev"], ["DISALLOW", "*"]]),
  ("materials", [["MATCH", "*.c", "IN", "src", "WITH", "PRODUCTS", "IN", "src", "FROM", "prev"],
                 ["ALLOW", "foo.py"], ["ALLOW", "gone.txt"], ["ALLOW", "[[]x].txt"], ["DISALLOW", "*"]]),
  ("materials", [["MATCH", "*", "WITH", "PRODUCTS", "FROM", "nosuchstep"], ["DISALLOW", "*"]]),
  ("materials", [["MATCH", "*", "WITH", "PRODUCTS", "FROM", "nosuchstep"], ["ALLOW", "*"]]),
  ("products", [["CREATE", "*"], ["DISALLOW", "*"]]),
  ("products", [["CREATE", "*"], ["MODIFY", "*"], ["ALLOW", "foo.py"], ["ALLOW", "[[]x].txt"],
                ["DISALLOW", "*"]]),
  ("products", [["MODIFY", "src/*"], ["CREATE", "new.bin"], ["MATCH", "a.c", "WITH", "PRODUCTS", "IN", "src", "FROM", "prev"],
                ["ALLOW", "foo.py"], ["ALLOW", "[[]x].txt"], ["DISALLOW", "*"]]),
  ("products", [["MATCH", "a.c", "IN", "out", "WITH", "PRODUCTS", "IN", "src", "FROM", "prev"],
                ["MATCH", "*", "WITH", "MATERIALS", "FROM", "this"], ["CREATE", "*"], ["MODIFY", "*"],
                ["DISALLOW", "*"]]),
  ("materials", [["DELETE", "*.txt"], ["DISALLOW", "gone.txt"]]),
  ("materials", [["DELETE", "*"], ["ALLOW", "*"]]),
  ("materials", [["REQUIRE", "gone.txt"], ["REQUIRE", "nothere"]]),
  ("materials", [["require", "foo.py"], ["allow", "*"], ["REQUIRE", "foo.py"]]),
  ("products", [["ALLOW", "*"], ["DISALLOW", "*"]]),
  ("products", [["ALLOW", "src/?.c"], ["ALLOW", "[!x]*"], ["DISALLOW", "*"]]),
  ("products", [["ALLOW", "[a-f]*"], ["ALLOW", "[n]ew.bin"], ["ALLOW", "[[]*"], ["DISALLOW", "*"]]),
  ("products", [["ALLOW", "*.bin"], ["ALLOW", "*/*"], ["DISALLOW", "[x"], ["DISALLOW", "f*"]]),
  ("materials", [["MATCH", "*", "IN", "src/", "WITH", "PRODUCTS", "IN", "src/", "FROM", "prev"],
                 ["DISALLOW", "src/*"]]),
  ("products", [["Match", "foo.py", "with", "Materials", "from", "this"], ["DISALLOW", "foo.py"]]),
]
rcases = []
for source_type, rules in rule_sets:
    try:
        verifylib.verify_item_rules("this", source_type, rules, base)
        verdict = {"ok": True}
    except exceptions.RuleVerificationError as e:
        verdict = {"ok": False, "error": str(e).split("\n")[0]}
    rcases.append({"source_type": source_type, "rules": rules, **verdict})
links = {k: {"materials": v.signed.materials, "products": v.signed.products}
         for k, v in base.items()}
with open(out + "/rules.json", "w") as f:
    json.dump({"links": links, "item": "this", "cases": rcases}, f, indent=1)

# --- fnmatch as in-toto uses it (fnmatch.filter on POSIX) -------------------
import fnmatch, warnings
warnings.simplefilter("ignore")
patterns = ["*", "*.c", "src/*", "?", "??", "[abc]", "[!abc]", "[a-c]", "[!a-c]", "[z-a]",
            "[!z-a]", "[]]", "[!]]", "[]-a]", "[a-]", "[-a]", "[!-a]", "[a-c-e]", "[a-cz-b]",
            "[[]x].txt", "[x", "x]", "[\\]", "[a\\b]", "[&&]", "[~|]", "[^a]", "[!]", "[]",
            "**", "*a*b*", "a*", "*a", "caf\u00e9", "caf?", "[\u00e0-\u00ff]*", "?\u20ac",
            "[a-c-]", "[--/]", "[!--]", "[b-a-c]", "", "src/*.c", "*/*"]
names = ["", "a", "b", "d", "z", "-", "]", "[", "!", "^", "\\", "&", "~", "|", "x].txt",
         "[x].txt", "ab", "src/a.c", "src/sub/b.c", "foo.c", "a\nb", "caf\u00e9", "\u00e9t\u00e9",
         "x\u20ac", "/", ".", "[x", "aXb", "aXbX", "e", "c", "x]", ".a"]
fcases = []
for p in patterns:
    try:
        matched = [n for n in names if fnmatch.filter([n], p)]
        fcases.append({"pattern": p, "matches": matched})
    except Exception as e:
        fcases.append({"pattern": p, "error": type(e).__name__ + ": " + str(e)})
with open(out + "/fnmatch.json", "w") as f:
    json.dump({"names": names, "cases": fcases}, f, indent=1, ensure_ascii=False)

# --- random cases (fixed seed): patterns and rule lists drawn from small
# alphabets so that they collide often; same formats as above -------------
import random
rnd = random.Random(20261204)
alpha = "ab-]![*?\\^z/"
rnames = sorted({"".join(rnd.choice("abz-]![/\\^") for _ in range(rnd.randint(0, 4)))
                 for _ in range(60)})
rf = []
for _ in range(400):
    p = "".join(rnd.choice(alpha) for _ in range(rnd.randint(0, 7)))
    try:
        rf.append({"pattern": p, "matches": [n for n in rnames if fnmatch.filter([n], p)]})
    except Exception as e:
        rf.append({"pattern": p, "error": type(e).__name__ + ": " + str(e)})
with open(out + "/fnmatch_random.json", "w") as f:
    json.dump({"names": rnames, "cases": rf}, f, indent=1, ensure_ascii=False)

def rpath():
    return rnd.choice(["", "src/", "out/", "src/sub/"]) + rnd.choice(["a", "b", "c.c", "d.h"])
def rdigest():
    return H(rnd.choice("0123"))
def rartifacts():
    return {rpath(): rdigest() for _ in range(rnd.randint(0, 6))}
def rpattern():
    return rnd.choice(["*", "*.c", "a", "b", "?", "[ab]", "*/*", "src/*", "[!a]*", "c.c", "sub/*"])
def rrule():
    kind = rnd.choice(["MATCH"] * 3 + ["CREATE", "DELETE", "MODIFY", "ALLOW", "DISALLOW", "REQUIRE"])
    if kind == "REQUIRE":
        return [kind, rpath()]
    if kind != "MATCH":
        return [kind, rpattern()]
    r = ["MATCH", rpattern()]
    if rnd.random() < 0.5:
        r += ["IN", rnd.choice(["src", "src/", "out", "src/sub"])]
    r += ["WITH", rnd.choice(["MATERIALS", "PRODUCTS"])]
    if rnd.random() < 0.5:
        r += ["IN", rnd.choice(["src", "out/", "src/sub"])]
    r += ["FROM", rnd.choice(["prev", "this", "none"])]
    return r
rcases = []
for _ in range(300):
    links = {"prev": link("prev", rartifacts(), rartifacts()),
             "this": link("this", rartifacts(), rartifacts())}
    source_type = rnd.choice(["materials", "products"])
    rules = [rrule() for _ in range(rnd.randint(1, 5))]
    if rnd.random() < 0.7:
        rules.append(["DISALLOW", "*"])
    try:
        verifylib.verify_item_rules("this", source_type, rules, links)
        verdict = {"ok": True}
    except exceptions.RuleVerificationError as e:
        verdict = {"ok": False, "error": str(e).split("\n")[0]}
    except Exception as e:  # the reference itself failing (e.g. KeyError)
        verdict = {"ok": False, "crash": type(e).__name__ + ": " + str(e)}
    rcases.append({"links": {k: {"materials": v.signed.materials, "products": v.signed.products}
                             for k, v in links.items()},
                   "source_type": source_type, "rules": rules, **verdict})
with open(out + "/rules_random.json", "w") as f:
    json.dump({"item": "this", "cases": rcases}, f, indent=1)
