"""The Python verifiers against the C ones, offline: receipts and handling
statements made by a stand-in service (fakeservice.py) and hundreds of
tampered variants of each; the Python verdict must equal the verdict of
`consort receipt verify` / `consort e2e verify` on every one, and both must
accept the genuine ones. Also the Merkle inclusion probes of
the shared test data's Merkle probes against merkle.root_from_inclusion.

    python3 python/tests/test_offline_agreement.py --consort build/tools/consort
"""

import base64
import glob
import json
import os
import tempfile
import unittest

import agreement
import fakeservice
from consort import ConsortError, e2e, merkle

ARGS, UNITTEST_ARGV = agreement.parse_args() if __name__ == "__main__" else (None, None)
REPO = os.path.dirname(os.path.dirname(agreement.HERE))
MERKLE_DATA = os.path.join(os.environ.get("CONSORT_TESTDATA",
                                          os.path.join(REPO, "..", "shared", "testdata")),
                           "merkle")


class Agreement(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="consort-py-offline-")
        cls.c = agreement.CVerifier(ARGS.consort, cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def same_receipt(self, name, text, pem, **kw):
        cv, cwhy = self.c.receipt(text, pem, **kw)
        pv, pwhy = agreement.py_receipt(text, pem, **kw)
        self.assertEqual(pv, cv, f"{name}: python {'accepts' if pv else 'refuses'} ({pwhy}), "
                                 f"C {'accepts' if cv else 'refuses'} ({cwhy.strip()})")
        return pv

    def same_statement(self, name, x, pem, policy=None):
        cv, cwhy = self.c.statement(x.stmt, pem, *x.args(), policy=policy)
        pv, pwhy = agreement.py_statement(x.stmt, pem, *x.args(), policy=policy)
        self.assertEqual(pv, cv, f"{name}: python {'accepts' if pv else 'refuses'} ({pwhy}), "
                                 f"C {'accepts' if cv else 'refuses'} ({cwhy.strip()})")
        return pv


class ReceiptAgreement(Agreement):
    def check_receipt_and_variants(self, svc, text, other_node_pem):
        self.assertTrue(self.same_receipt("genuine", text, svc.pem), "a genuine receipt")
        refused = 0
        for name, variant in agreement.receipt_variants(text, other_node_pem):
            refused += not self.same_receipt(name, variant, svc.pem)
        self.assertGreater(refused, 100, "tampered receipts refused")

    def test_receipts_p256_and_p384_trees_of_1_to_17_leaves(self):
        """Every tree shape: the leaf first, last, middle, alone; both curves."""
        for curve in ("P-256", "P-384"):
            svc = fakeservice.Service(curve)
            key, pem = svc.node(curve)
            _, other = svc.node(curve)
            shapes = {"P-256": ((1, 0), (3, 2), (8, 7), (13, 6)),
                      "P-384": ((2, 1), (5, 0), (17, 16))}[curve]
            for size, index in shapes:
                with self.subTest(curve=curve, size=size, index=index):
                    self.check_receipt_and_variants(
                        svc, svc.receipt(key, pem, size, index), other)

    def test_receipt_against_the_wrong_service(self):
        svc, other = fakeservice.Service(), fakeservice.Service()
        key, pem = svc.node()
        text = svc.receipt(key, pem, 6, 3)
        self.assertTrue(self.same_receipt("genuine", text, svc.pem))
        self.assertFalse(self.same_receipt("another service", text, other.pem))
        same_name = fakeservice.Service()  # same subject name, another key
        self.assertFalse(self.same_receipt("another service, same name", text, same_name.pem))

    def test_receipt_expectations(self):
        svc = fakeservice.Service()
        key, pem = svc.node()
        claims = bytes(range(32))
        text = svc.receipt(key, pem, 4, 2, claims=claims)
        self.assertTrue(self.same_receipt("the claims", text, svc.pem, claims_digest=claims.hex()))
        self.assertFalse(self.same_receipt("other claims", text, svc.pem,
                                           claims_digest=bytes(32).hex()))
        self.assertTrue(self.same_receipt("its txid", text, svc.pem, txid="2.3"))
        self.assertFalse(self.same_receipt("another txid", text, svc.pem, txid="2.4"))

    def test_receipt_certificates_out_of_their_validity(self):
        svc = fakeservice.Service()
        now = fakeservice._now()
        for name, nb, na in (("expired", now - 10 * fakeservice.DAY, now - fakeservice.DAY),
                             ("not yet valid", now + fakeservice.DAY, now + 9 * fakeservice.DAY)):
            key, pem = svc.node(not_before=nb, not_after=na)
            self.assertFalse(self.same_receipt(f"node certificate {name}",
                                               svc.receipt(key, pem, 3, 1), svc.pem))

    def test_receipt_signed_by_a_service_certificate_that_is_no_ca(self):
        svc = fakeservice.Service(ca=False)
        key, pem = svc.node()
        self.assertFalse(self.same_receipt("service certificate without CA:TRUE",
                                           svc.receipt(key, pem, 3, 1), svc.pem))

    def test_receipt_node_key_and_alg_on_different_curves(self):
        """A P-384 node key whose receipt claims ES256 (its protected header is
        re-signed: only the alg and curve disagree)."""
        svc = fakeservice.Service()
        key, pem = svc.node("P-384")
        text = svc.receipt(key, pem, 2, 0)
        doc = json.loads(text)
        parts = agreement.cose_parts(base64.b64decode(doc["cose_receipt"]))
        import cbor2
        hdr = cbor2.loads(parts[0])
        hdr[1] = -7
        parts[0] = cbor2.dumps(hdr)
        doc["cose_receipt"] = base64.b64encode(agreement.cose_join(parts)).decode()
        self.assertFalse(self.same_receipt("ES256 with a P-384 key", json.dumps(doc), svc.pem))


class StatementAgreement(Agreement):
    def exchange(self, svc, code_ids, batch=1, index=0, calls=(), policy_digest=None):
        nonce = fakeservice.random_nonce()
        req, resp = b'{"id": 7, "msg": "x"}', b"{}"
        payloads = [svc.payload(os.urandom(16), "GET", "/x", 200, b"", b"", code_ids)
                    for _ in range(batch)]
        payloads[index] = svc.payload(bytes.fromhex(nonce), "POST", "/app/log/private", 200,
                                      req, resp, code_ids, calls, policy_digest)
        stmt = svc.batch(payloads)[index]
        return agreement.Exchange(stmt, nonce, "POST", "/app/log/private", 200, req, resp)

    def check_variants(self, x, pem, policy=None):
        self.assertTrue(self.same_statement("genuine", x, pem, policy), "a genuine statement")
        refused = 0
        for name, v in agreement.statement_variants(x):
            refused += not self.same_statement(name, v, pem, policy)
        self.assertGreater(refused, 100, "tampered statements refused")

    def test_single_statements_p256_and_p384(self):
        for curve in ("P-256", "P-384"):
            with self.subTest(curve=curve):
                svc = fakeservice.Service(curve)
                self.check_variants(self.exchange(svc, [os.urandom(32)]), svc.pem)

    def test_statement_ending_in_white_space(self):
        """COSE bytes whose last byte (the signature's) is 0x0a, 0x0d or 0x20 are
        taken whole, by both (the C library trimmed them: 1 in 85 refused)."""
        svc = fakeservice.Service()
        for _ in range(3000):
            x = self.exchange(svc, [os.urandom(32)])
            if x.stmt[-1:] in (b"\n", b"\r", b" "):
                break
        self.assertIn(x.stmt[-1:], (b"\n", b"\r", b" "))
        self.assertTrue(self.same_statement("ends in white space", x, svc.pem))

    def test_batch_signed_statements(self):
        svc = fakeservice.Service()
        for batch, index in ((2, 1), (7, 5), (256, 255)):
            with self.subTest(batch=batch, index=index):
                self.check_variants(self.exchange(svc, [os.urandom(32)], batch, index), svc.pem)

    def test_policy_on_code_certificates(self):
        """issuers and claims: the code id must carry a certificate by a named
        issuer, for that code id, making every claim."""
        svc, ci, other_ci = (fakeservice.Service() for _ in range(3))
        cid, cid2 = os.urandom(32), os.urandom(32)
        claims = {"tested": True, "compliance": "HIPAA", "reviewed_by": ["cd" * 32]}
        good = ci.code_certificate(cid, claims)
        x = self.exchange(svc, [(cid, good)], batch=2, index=1)
        for name, policy, want in (
                ("by the issuer", {"issuers": [ci.pem]}, True),
                ("by one of two issuers", {"issuers": [other_ci.pem, ci.pem]}, True),
                ("with its claims", {"issuers": [ci.pem],
                                     "claims": ["tested", "compliance=HIPAA",
                                                "reviewed_by=" + "cd" * 32]}, True),
                ("and a code id list", {"code_ids": [cid.hex()], "issuers": [ci.pem]}, True),
                ("by another issuer", {"issuers": [other_ci.pem]}, False),
                ("another claim value", {"issuers": [ci.pem], "claims": ["compliance=FERPA"]},
                 False),
                ("a claim it does not make", {"issuers": [ci.pem], "claims": ["audited"]}, False),
                ("another reviewer", {"issuers": [ci.pem], "claims": ["reviewed_by=" + "ef" * 32]},
                 False)):
            self.assertEqual(self.same_statement(name, x, svc.pem, policy), want, name)
        for name, cert in (("a certificate for another code id", ci.code_certificate(cid2, claims)),
                           ("a certificate with a flipped byte",
                            agreement.flip(good, len(good) - 5)),
                           ("a certificate by another key naming the issuer",
                            _reissued(good, other_ci.key)),
                           ("tested: false", ci.code_certificate(cid, {"tested": False}))):
            xx = self.exchange(svc, [(cid, cert)])
            self.assertFalse(self.same_statement(name, xx, svc.pem, {"issuers": [ci.pem]}), name)

    def test_policy_on_code_ids(self):
        svc = fakeservice.Service()
        ids = [os.urandom(32), os.urandom(32)]
        x = self.exchange(svc, ids, batch=3, index=1)
        allow_both = {"code_ids": [i.hex() for i in ids] + [os.urandom(32).hex()]}
        self.assertTrue(self.same_statement("both allowed", x, svc.pem, allow_both))
        self.assertFalse(self.same_statement("one not allowed", x, svc.pem,
                                             {"code_ids": [ids[0].hex()]}))
        self.assertFalse(self.same_statement("issuers required, no certificate", x, svc.pem,
                                             {"issuers": [svc.pem]}))
        self.assertFalse(self.same_statement("claims without issuers", x, svc.pem,
                                             {"claims": ["tested"]}))
        for name, policy in (("an empty policy", {}), ("an empty code id list", {"code_ids": []}),
                             ("upper-case hex", {"code_ids": [i.hex().upper() for i in ids]}),
                             ("63 hex digits", {"code_ids": [ids[0].hex()[:63], ids[1].hex()]}),
                             ("an unknown member", {"code_ids": [], "reviewers": []}),
                             ("code_ids not an array", {"code_ids": ids[0].hex()}),
                             ("an issuer that is no PEM", {"issuers": ["not a certificate"]}),
                             ("a code id that is a number", {"code_ids": [7]})):
            self.same_statement(name, x, svc.pem, policy)
        none = self.exchange(svc, [])
        self.assertFalse(self.same_statement("no code id at all", none, svc.pem))
        self.assertFalse(self.same_statement("another service", x,
                                             fakeservice.Service().pem))

    def nested(self, front, back, code_ids, depth_statement=None, tamper=None):
        """A front-end statement whose call 0 nests back's statement."""
        nonce = fakeservice.random_nonce()
        call_nonce = e2e.call_nonce(bytes.fromhex(nonce), 0)
        creq, cresp = e2e.request_digest("POST", "/app/put", b"k"), e2e.response_digest(200, b"")
        back_payload = e2e.encode_payload(call_nonce, creq, cresp, "aa", [(c, None)
                                                                         for c in code_ids],
                                          "3.4", [])
        back_stmt = back.batch([back_payload, os.urandom(40)])[0]
        call = {"service": "storage", "service_cert": back.der, "request": creq,
                "response": cresp, "statement": back_stmt}
        if tamper:
            tamper(call)
        req, resp = b"{}", b"{}"
        p = front.payload(bytes.fromhex(nonce), "POST", "/app/records", 200, req, resp,
                          code_ids, [call])
        return agreement.Exchange(front.batch([p])[0], nonce, "POST", "/app/records", 200,
                                  req, resp)

    def test_nested_statements(self):
        front, back = fakeservice.Service(), fakeservice.Service("P-384")
        ids = [os.urandom(32)]
        x = self.nested(front, back, ids)
        self.check_variants(x, front.pem)
        other = fakeservice.Service()
        for name, tamper in (
                ("the callee's statement dropped", lambda c: c.__setitem__("statement", None)),
                ("another service certificate for the call",
                 lambda c: c.__setitem__("service_cert", other.der)),
                ("another request digest", lambda c: c.__setitem__("request", bytes(32))),
                ("no response", lambda c: c.__setitem__("response", None)),
                ("the callee's statement with a flipped byte",
                 lambda c: c.__setitem__("statement", agreement.flip(c["statement"], 60)))):
            self.assertFalse(self.same_statement(name, self.nested(front, back, ids,
                                                                   tamper=tamper), front.pem),
                             name)
        self.assertFalse(self.same_statement("the callee's code id outside the policy", x,
                                             front.pem, {"code_ids": [os.urandom(32).hex()]}))

    def test_summary_statements(self):
        svc = fakeservice.Service()
        ids = [os.urandom(32)]
        policy = {"code_ids": [ids[0].hex(), os.urandom(32).hex()]}
        digest = e2e.Policy.parse(policy).digest()
        calls = [{"statement": os.urandom(32), "met_policy": True}]
        x = self.exchange(svc, ids, 2, 0, calls, digest)
        self.assertTrue(self.same_statement("summary", x, svc.pem, policy))
        reordered = {"code_ids": policy["code_ids"][::-1]}
        self.assertTrue(self.same_statement("the same policy in another order", x, svc.pem,
                                            reordered))
        self.assertFalse(self.same_statement("another policy", x, svc.pem,
                                             {"code_ids": [ids[0].hex()]}))
        for name, c in (("a call that missed the policy",
                         [{"statement": os.urandom(32), "met_policy": False}]),
                        ("a call without statement", [{"statement": None, "met_policy": True}])):
            self.assertFalse(self.same_statement(name, self.exchange(svc, ids, 1, 0, c, digest),
                                                 svc.pem, policy))


def _reissued(cert, key):
    """The code certificate's protected header and payload signed again with key."""
    import cbor2
    from consort import cose as pcose
    prot, _, payload, _ = agreement.cose_parts(cert)
    return pcose.sign(key, {k: v for k, v in cbor2.loads(prot).items() if k != 1}, payload)


def _shared(sub, what):
    """A directory of the shared test data; a skip (a failure with
    CONSORT_NO_SKIP=1) without it."""
    path = os.path.join(os.path.dirname(MERKLE_DATA), sub)
    if not os.path.isdir(path):
        if os.environ.get("CONSORT_NO_SKIP") == "1":
            raise AssertionError(f"no {what} under {path}, and CONSORT_NO_SKIP=1")
        raise unittest.SkipTest(f"no {what} under {path} (set CONSORT_TESTDATA)")
    return path


class CoseVectors(unittest.TestCase):
    """cose-wg's COSE_Sign1 ECDSA examples against cose.decode_sign1 and
    verify_signature: RFC 9052 read strictly (the protected bstr as sent, alg
    in the protected header), ES256 and ES384 only (ES512 is refused)."""

    EXPECT = {"ecdsa-examples/ecdsa-sig-01": True, "ecdsa-examples/ecdsa-sig-02": True,
              "ecdsa-examples/ecdsa-sig-03": False, "ecdsa-examples/ecdsa-sig-04": False,
              "sign1-tests/sign-pass-01": False,  # alg unprotected, signed over h'' not h'a0'
              "sign1-tests/sign-pass-02": True, "sign1-tests/sign-pass-03": True,
              "sign1-tests/sign-fail-01": False, "sign1-tests/sign-fail-02": False,
              "sign1-tests/sign-fail-03": False, "sign1-tests/sign-fail-04": False,
              "sign1-tests/sign-fail-06": False, "sign1-tests/sign-fail-07": False}

    def test_cose_wg_sign1_vectors(self):
        from cryptography.hazmat.primitives.asymmetric import ec
        from consort import cose
        root = _shared("cose", "COSE vectors")
        b64url = lambda v: base64.urlsafe_b64decode(v + "=" * (-len(v) % 4))  # noqa: E731
        curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
        for name, want in self.EXPECT.items():
            with open(os.path.join(root, name + ".json")) as f:
                v = json.load(f)
            k = v["input"]["sign0"]["key"]
            key = ec.EllipticCurvePublicNumbers(int.from_bytes(b64url(k["x"]), "big"),
                                                int.from_bytes(b64url(k["y"]), "big"),
                                                curves[k["crv"]]).public_key()
            aad = bytes.fromhex(v["input"]["sign0"].get("external", ""))
            with self.subTest(vector=name):
                try:
                    msg = cose.decode_sign1(bytes.fromhex(v["output"]["cbor"]))
                    self.assertTrue(msg.tagged or "pass-03" in name)
                    cose.verify_signature(cose.alg_of(msg.protected_hdr), key, msg.protected,
                                          msg.payload, msg.signature, aad)
                    ok = True
                except ConsortError:
                    ok = False
                self.assertEqual(ok, want)


class MerkleProbes(unittest.TestCase):
    """transparency-dev/merkle's inclusion probes (RFC 9162 §2.1.3.2)."""

    def test_inclusion_probes(self):
        files = glob.glob(os.path.join(MERKLE_DATA, "inclusion", "**", "*.json"), recursive=True)
        if not files:
            if os.environ.get("CONSORT_NO_SKIP") == "1":
                self.fail(f"no Merkle probes under {MERKLE_DATA}, and CONSORT_NO_SKIP=1")
            self.skipTest(f"no Merkle probes under {MERKLE_DATA} (set CONSORT_TESTDATA)")
        b = lambda v: base64.b64decode(v) if v else b""  # noqa: E731
        for path in files:
            with open(path) as f:
                p = json.load(f)
            with self.subTest(probe=os.path.relpath(path, MERKLE_DATA)):
                try:
                    leaf, root = b(p["leafHash"]), b(p["root"])
                    ok = (len(leaf) == 32 and len(root) == 32 and
                          merkle.root_from_inclusion(leaf, p["leafIdx"], p["treeSize"],
                                                     [b(h) for h in p["proof"] or []]) == root)
                except ConsortError:
                    ok = False
                self.assertEqual(ok, not p["wantErr"], p.get("desc"))
        self.assertGreater(len(files), 50)

    def test_rekor_inclusion_proof(self):
        path = os.path.join(MERKLE_DATA, "rekor-real", "rekor_inclusion_vector.json")
        if not os.path.exists(path):
            if os.environ.get("CONSORT_NO_SKIP") == "1":
                self.fail(f"{path} missing, and CONSORT_NO_SKIP=1")
            self.skipTest(f"{path} missing (set CONSORT_TESTDATA)")
        with open(path) as f:
            v = json.load(f)
        root = merkle.root_from_inclusion(bytes.fromhex(v["leaf_hash"]), v["leaf_index"],
                                          v["tree_size"],
                                          [bytes.fromhex(h) for h in v["inclusion_path"]])
        self.assertEqual(root.hex(), v["root_hash"])


if __name__ == "__main__":
    agreement.run_tests(UNITTEST_ARGV)
