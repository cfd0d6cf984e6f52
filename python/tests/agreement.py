"""Shared by the Python client's tests: the C verifiers (`consort receipt
verify`, `consort e2e verify`) run as processes, and tampered variants of
receipts and handling statements, for checking that the Python verifiers
reach the same verdict on each."""

import base64
import json
import os
import subprocess
import sys

try:
    import cbor2
    import cryptography  # noqa: F401  (checked here: the package needs it)
except ImportError as e:  # not a skip: the package needs them
    sys.exit(f"{e}: the Python client needs python3-cbor2 and python3-cryptography "
             f"(scripts/install-deps installs them)")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the package: python/consort

from consort import ConsortError, e2e, receipt  # noqa: E402


def parse_args():
    """--consort, --consortd, --app (as tests/CMakeLists.txt passes them; only
    --consort is needed offline); the rest goes to unittest."""
    import argparse
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--consort", required=True)
    ap.add_argument("--consortd")
    ap.add_argument("--app")
    ap.add_argument("--keep", action="store_true")
    args, rest = ap.parse_known_args()
    return args, [sys.argv[0]] + rest


def run_tests(argv):
    """unittest.main, with the harness's exit codes: 1 if a test failed, 77
    (ctest: skipped) if one was skipped, else 0."""
    import unittest
    result = unittest.main(module="__main__", argv=argv, exit=False, verbosity=2).result
    if not result.wasSuccessful():
        sys.exit(1)
    sys.exit(77 if result.skipped else 0)


class CVerifier:
    """The C verifiers' verdicts: True (exit 0), False (exit 1); anything else
    (a usage error, a crash) fails the test that asked."""

    def __init__(self, consort, tmp):
        self.consort = consort
        self.tmp = tmp
        self.runs = 0

    def _file(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return path

    def _run(self, argv):
        self.runs += 1
        p = subprocess.run([self.consort, *argv], capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        if p.returncode not in (0, 1):
            raise AssertionError(f"consort {' '.join(argv)}: exit {p.returncode}: "
                                 f"{(p.stdout + p.stderr).decode(errors='replace')}")
        return p.returncode == 0, (p.stdout + p.stderr).decode(errors="replace")

    def receipt(self, text, service_pem, claims_digest=None, txid=None):
        argv = ["receipt", "verify", self._file("receipt.json", text),
                "--service-cert", self._file("service.pem", service_pem)]
        if claims_digest is not None:
            argv += ["--claims-digest", claims_digest]
        if txid is not None:
            argv += ["--txid", txid]
        return self._run(argv)

    def statement(self, stmt, service_pem, nonce, method, target, status, request_body,
                  response_body, policy=None):
        argv = ["e2e", "verify", "--service-cert", self._file("service.pem", service_pem),
                "--nonce", nonce, "--method", method, "--target", target,
                "--request-body", self._file("req", request_body), "--status", str(status),
                "--response-body", self._file("resp", response_body)]
        if policy is not None:
            argv += ["--policy", self._file("policy.json", json.dumps(policy))]
        return self._run(argv + [self._file("statement", stmt)])


def py_receipt(text, service_pem, claims_digest=None, txid=None):
    try:
        receipt.verify_receipt(text, service_pem, claims_digest=claims_digest, txid=txid)
        return True, ""
    except ConsortError as e:
        return False, str(e)


def py_statement(stmt, service_pem, nonce, method, target, status, request_body, response_body,
                 policy=None):
    try:
        e2e.verify_statement(stmt, service_pem, nonce, method, target, status, request_body,
                             response_body, policy)
        return True, ""
    except ConsortError as e:
        return False, str(e)


# ---------------------------------------------------------------- byte and CBOR surgery

def flip(data, i, mask=0x01):
    b = bytearray(data)
    b[i] ^= mask
    return bytes(b)


def head(major, n):
    """A CBOR head in its shortest form."""
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")


def cose_parts(cose):
    """[protected, unprotected, payload, signature] of a tagged COSE_Sign1."""
    t = cbor2.loads(cose)
    assert isinstance(t, cbor2.CBORTag) and t.tag == 18, "not a tagged COSE_Sign1"
    return list(t.value)


def cose_join(parts, tag=True):
    return cbor2.dumps(cbor2.CBORTag(18, parts) if tag else parts)


def proof_variants(size, index, path):
    """(name, [size, index, path]) tampered inclusion proofs."""
    out = []
    for k, h in enumerate(path):
        for pos in (0, 13, 31):
            p = list(path)
            p[k] = flip(h, pos)
            out.append((f"path hash {k} byte {pos} flipped", [size, index, p]))
    out += [("tree_size + 1", [size + 1, index, path]),
            ("leaf_index + 1", [size, index + 1, path]),
            ("leaf_index - 1", [size, max(index - 1, 0) if index else index + 1, path]),
            ("path + one hash", [size, index, path + [b"\x11" * 32]]),
            ("hash of 31 bytes", [size, index, path[:-1] + [path[-1][:31]] if path
                                  else [b"\x11" * 31]]),
            ("leaf_index = tree_size", [size, size, path]),
            ("proof as a map", {"size": size}),
            ("proof of 4 items", [size, index, path, 0]),
            ("tree_size negative", [-size, index, path])]
    if path:
        out.append(("path without its last hash", [size, index, path[:-1]]))
        out.append(("path reversed (proof direction swapped)", [size, index, path[::-1]]))
        # the sibling on the other side: a left/right swap the index hides
        out.append(("leaf_index with its lowest bit flipped", [size, index ^ 1, path]))
    if size > 1:
        out.append(("tree_size - 1", [size - 1, min(index, size - 2), path]))
        out.append(("tree_size doubled", [2 * size, index, path]))
    return out


def encoding_variants(cose):
    """(name, bytes): the same COSE_Sign1 encoded in ways a strict decoder may
    or may not accept, and cut short."""
    out = [("no tag 18", cbor2.dumps(cose_parts(cose))),
           ("tag 17", cbor2.dumps(cbor2.CBORTag(17, cose_parts(cose)))),
           ("a byte after the item", cose + b"\x00"),
           ("outer array indefinite-length", cose[:1] + b"\x9f" + cose[2:] + b"\xff"),
           ("outer array as 1-byte length (non-shortest)", cose[:1] + b"\x98\x04" + cose[2:])]
    for cut in sorted({1, 2, 3, len(cose) // 2, len(cose) - 1}):
        out.append((f"cut to {cut} bytes", cose[:cut]))
    return out


# ---------------------------------------------------------------- receipts

def receipt_variants(text, other_node_pem=None):
    """(name, receipt JSON text) tampered receipts; text is a genuine one."""
    doc = json.loads(text)
    out = []

    def with_doc(name, fn):
        d = json.loads(text)
        fn(d)
        out.append((name, json.dumps(d)))

    cose = base64.b64decode(doc["cose_receipt"])

    def with_cose(name, data):
        with_doc(name, lambda d: d.__setitem__("cose_receipt", base64.b64encode(data).decode()))

    # every byte of the COSE receipt, flipped
    for i in range(len(cose)):
        with_cose(f"COSE byte {i} flipped", flip(cose, i))
    prot, unprot, payload, sig = cose_parts(cose)
    for i in range(len(sig)):
        with_cose(f"signature byte {i} flipped (0x80)", cose_join([prot, unprot, payload,
                                                                   flip(sig, i, 0x80)]))
    with_cose("signature cut", cose_join([prot, unprot, payload, sig[:-1]]))
    with_cose("signature as (r, n - s)", cose_join([prot, unprot, payload, _neg_s(sig)]))
    with_cose("payload attached (the root)", cose_join([prot, unprot, b"\x00" * 32, sig]))
    ph = cbor2.loads(prot)
    for name, change in (("alg ES384", {1: -35}), ("alg ES512", {1: -36}), ("vds 2", {395: 2}),
                         ("kid of 31 bytes", {4: ph[4][:31]}), ("extra cty", {3: "x"})):
        h = dict(ph)
        h.update(change)
        with_cose(f"protected: {name}", cose_join([cbor2.dumps(h), unprot, payload, sig]))
    proof = cbor2.loads(unprot[396][-1][0])
    for name, p in proof_variants(*proof):
        with_cose(f"proof: {name}",
                  cose_join([prot, {396: {-1: [cbor2.dumps(p)]}}, payload, sig]))
    pb = unprot[396][-1][0]
    for name, u in (("two proofs", {396: {-1: [pb, pb]}}),
                    ("proof under label -2", {396: {-2: [pb]}}),
                    ("proof not a bstr", {396: {-1: [proof]}}),
                    ("an extra unprotected entry", {396: {-1: [pb]}, 5: b"x"}),
                    ("no proof", {}),
                    ("proof bstr with a byte after it", {396: {-1: [pb + b"\x00"]}}),
                    ("tree_size non-shortest", {396: {-1: [_nonshortest_size(pb)]}})):
        with_cose(f"unprotected: {name}", cose_join([prot, u, payload, sig]))
    for name, data in encoding_variants(cose):
        with_cose(f"encoding: {name}", data)

    # the leaf components and the rest of the document
    for key in ("write_set_digest", "claims_digest"):
        for pos in (0, 31, 63):
            with_doc(f"{key} digit {pos} changed",
                     lambda d, k=key, p=pos: d["leaf_components"].__setitem__(
                         k, _other_digit(d["leaf_components"][k], p)))
        with_doc(f"{key} upper case", lambda d, k=key: d["leaf_components"].__setitem__(
            k, d["leaf_components"][k].upper()))
        with_doc(f"{key} one digit short", lambda d, k=key: d["leaf_components"].__setitem__(
            k, d["leaf_components"][k][:-1]))
    ce = doc["leaf_components"]["commit_evidence"]
    term, seqno = doc["txid"].split(".")
    for name, v in (("last digit changed", _other_digit(ce, len(ce) - 1)),
                    ("upper case hex", ce[:-64] + ce[-64:].upper()),
                    ("of another transaction", f"ce:{term}.{int(seqno) + 1}:{ce[-64:]}"),
                    ("without prefix", ce[3:]), ("with a trailing newline", ce + "\n")):
        with_doc(f"commit_evidence {name}",
                 lambda d, v=v: d["leaf_components"].__setitem__("commit_evidence", v))
    for name, v in (("seqno + 1", f"{term}.{int(seqno) + 1}"),
                    ("term + 1", f"{int(term) + 1}.{seqno}"),
                    ("leading zero", f"0{term}.{seqno}"), ("no seqno", term),
                    ("seqno 0", f"{term}.0")):
        with_doc(f"txid {name}", lambda d, v=v: d.__setitem__("txid", v))
    with_doc("an extra member", lambda d: d.__setitem__("extra", "x"))
    with_doc("no node_certificate", lambda d: d.pop("node_certificate"))
    with_doc("an extra leaf component", lambda d: d["leaf_components"].__setitem__("x", "0"))
    with_doc("txid a number", lambda d: d.__setitem__("txid", 17))
    with_doc("node certificate twice", lambda d: d.__setitem__(
        "node_certificate", d["node_certificate"] * 2))
    with_doc("node certificate cut", lambda d: d.__setitem__(
        "node_certificate", d["node_certificate"][:200]))
    pem_lines = doc["node_certificate"].split("\n")
    for k in (3, 6, 9):
        if k < len(pem_lines) - 2:
            def body_flip(d, k=k):
                lines = d["node_certificate"].split("\n")
                lines[k] = ("B" if lines[k][5] != "B" else "C").join([lines[k][:5], lines[k][6:]])
                d["node_certificate"] = "\n".join(lines)
            with_doc(f"node certificate base64 line {k} changed", body_flip)
    key_block = ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                 "AAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n")
    for name, fn in (("text before it", lambda p: "hello\n" + p),
                     ("text after it", lambda p: p + "bye\n"),
                     ("a private key block before it", lambda p: key_block + p),
                     ("CRLF line ends", lambda p: p.replace("\n", "\r\n")),
                     ("no final newline", lambda p: p.rstrip("\n")),
                     ("spaces before line ends", lambda p: p.replace("\n", " \n", 3)),
                     ("its base64 on one line", lambda p: "\n".join(
                         [p.split("\n")[0], "".join(p.split("\n")[1:-2]), p.split("\n")[-2], ""])),
                     ("its END line missing", lambda p: p.rsplit("-----END", 1)[0])):
        with_doc(f"node certificate PEM: {name}",
                 lambda d, fn=fn: d.__setitem__("node_certificate", fn(d["node_certificate"])))
    if other_node_pem is not None:
        with_doc("another node's certificate",
                 lambda d: d.__setitem__("node_certificate", other_node_pem))
    with_doc("cose_receipt without padding",
             lambda d: d.__setitem__("cose_receipt", d["cose_receipt"].rstrip("=")))
    with_doc("cose_receipt with a space",
             lambda d: d.__setitem__("cose_receipt", " " + d["cose_receipt"][1:]))
    with_doc("cose_receipt url-safe alphabet", lambda d: d.__setitem__(
        "cose_receipt", d["cose_receipt"].replace("+", "-").replace("/", "_")))
    out.append(("duplicate member", text.rstrip()[:-1] + ', "txid": "1.1"}'))
    out.append(("not JSON", text[:-5]))
    out.append(("JSON array", "[" + text + "]"))
    return out


def _other_digit(hex_text, pos):
    c = hex_text[pos]
    return hex_text[:pos] + ("1" if c != "1" else "2") + hex_text[pos + 1:]


_ORDERS = {32: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
           48: int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
                   "581a0db248b0a77aecec196accc52973", 16)}


def _neg_s(sig):
    """(r, n - s): the other valid encoding of the same ECDSA signature."""
    n = len(sig) // 2
    s = int.from_bytes(sig[n:], "big")
    return sig[:n] + (_ORDERS[n] - s).to_bytes(n, "big")


def _nonshortest_size(proof_bstr):
    """The inclusion proof with tree_size in a 4-byte head."""
    size, index, path = cbor2.loads(proof_bstr)
    return (b"\x83" + b"\x1a" + size.to_bytes(4, "big") + cbor2.dumps(index)
            + cbor2.dumps(path))


# ---------------------------------------------------------------- handling statements

class Exchange:
    """What a client sent and received, and the statement (COSE bytes) it got."""

    def __init__(self, stmt, nonce, method, target, status, request_body, response_body):
        self.stmt, self.nonce, self.method, self.target = stmt, nonce, method, target
        self.status, self.request_body, self.response_body = status, request_body, response_body

    def args(self):
        return (self.nonce, self.method, self.target, self.status, self.request_body,
                self.response_body)

    def replace(self, **kw):
        x = Exchange(self.stmt, self.nonce, self.method, self.target, self.status,
                     self.request_body, self.response_body)
        x.__dict__.update(kw)
        return x


def statement_variants(x, max_flips=None):
    """(name, Exchange) tampered statements and exchanges; x is genuine.
    max_flips: flip every k-th byte of the COSE object so that at most that
    many are flipped (default: every byte)."""
    out = []
    cose = x.stmt
    step = 1 if not max_flips else max(1, -(-len(cose) // max_flips))
    for i in range(0, len(cose), step):
        out.append((f"COSE byte {i} flipped", x.replace(stmt=flip(cose, i))))
    prot, unprot, payload, sig = cose_parts(cose)
    for i in range(len(sig)):
        out.append((f"signature byte {i} flipped (0x80)",
                    x.replace(stmt=cose_join([prot, unprot, payload, flip(sig, i, 0x80)]))))
    out.append(("signature as (r, n - s)",
                x.replace(stmt=cose_join([prot, unprot, payload, _neg_s(sig)]))))
    proof = unprot[-70002]
    for name, p in proof_variants(*proof):
        out.append((f"batch proof: {name}", x.replace(stmt=cose_join([prot, {-70002: p},
                                                                      payload, sig]))))
    for name, u in (("no proof", {}), ("an extra unprotected entry", {-70002: proof, 5: b"x"}),
                    ("proof under label -70003", {-70003: proof})):
        out.append((f"unprotected: {name}", x.replace(stmt=cose_join([prot, u, payload, sig]))))
    out.append(("payload detached", x.replace(stmt=cose_join([prot, unprot, None, sig]))))
    for name, data in encoding_variants(cose):
        out.append((f"encoding: {name}", x.replace(stmt=data)))
    b64 = base64.b64encode(cose).decode()
    out += [("base64 of the statement", x.replace(stmt=b64.encode())),
            ("base64 with a trailing newline", x.replace(stmt=(b64 + "\n").encode())),
            ("base64 without padding", x.replace(stmt=b64.rstrip("=").encode() if "=" in b64
                                                 else b64[:-1].encode())),
            ("base64 with a character changed",
             x.replace(stmt=("A" if b64[10] != "A" else "B").join([b64[:10], b64[11:]]).encode())),
            ("empty", x.replace(stmt=b"\n"))]
    other_nonce = ("0" if x.nonce[0] != "0" else "1") + x.nonce[1:]
    out += [("another nonce", x.replace(nonce=other_nonce)),
            ("the nonce upper case", x.replace(nonce=x.nonce.upper())),
            ("another method", x.replace(method="PUT" if x.method != "PUT" else "POST")),
            ("another target", x.replace(target=x.target + "&x=1")),
            ("another status", x.replace(status=x.status + 1)),
            ("another request body", x.replace(request_body=x.request_body + b" ")),
            ("another response body", x.replace(response_body=x.response_body + b" "))]
    return out
