"""A stand-in service for offline tests: its own identity key and
certificate, node certificates it issues, receipts over Merkle trees of
made-up ledger entries and handling statements signed in batches, all
built by the Python package from the format docs (docs/receipts.md,
docs/e2e.md) so that both verifiers can be held against them."""

import base64
import datetime
import json
import os

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import agreement  # noqa: F401  (puts the package on sys.path)
from consort import cose, e2e, merkle, receipt, x509util

CURVES = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}
DAY = datetime.timedelta(days=1)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _now():
    return datetime.datetime.utcnow().replace(microsecond=0)


class Service:
    def __init__(self, curve="P-256", ca=True, name="consort service"):
        self.key = ec.generate_private_key(CURVES[curve])
        b = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
             .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(_now() - DAY).not_valid_after(_now() + 3650 * DAY)
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                            critical=False))
        if ca:
            b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                              False, False), critical=True)
        self.cert = b.sign(self.key, hashes.SHA256())
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()
        self.der = x509util.der(self.cert)

    def node(self, curve="P-256", not_before=None, not_after=None):
        """(node key, node certificate PEM) issued by this service."""
        key = ec.generate_private_key(CURVES[curve])
        cert = (x509.CertificateBuilder().subject_name(_name("consort node 0011223344556677"))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(not_before or _now() - DAY)
                .not_valid_after(not_after or _now() + 3650 * DAY)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                             False, False), critical=True)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        return key, cert.public_bytes(serialization.Encoding.PEM).decode()

    # ------------------------------------------------------------ receipts

    def receipt(self, node_key, node_pem, tree_size, index, term=2, claims=None):
        """A receipt (JSON text) for the entry at seqno index + 1 of a ledger of
        tree_size entries, the root signed by node_key."""
        txid = f"{term}.{index + 1}"
        wsd = os.urandom(32)
        ce = f"ce:{txid}:{os.urandom(32).hex()}"
        cd = claims if claims is not None else bytes(32)
        leaves = [merkle.leaf_hash(os.urandom(96)) for _ in range(tree_size)]
        leaves[index] = receipt.leaf(wsd, ce, cd)
        root = merkle.tree_root(leaves)
        proof = cbor2.dumps([tree_size, index, merkle.inclusion_path(leaves, index)])
        kid = x509util.key_id(node_key.public_key())
        signed = cose.sign(node_key, {4: kid, 395: 1}, root, detached=True)
        parts = cbor2.loads(signed).value
        parts[1] = {396: {-1: [proof]}}
        cose_receipt = cbor2.dumps(cbor2.CBORTag(18, parts))
        return json.dumps({"txid": txid,
                           "cose_receipt": base64.b64encode(cose_receipt).decode(),
                           "leaf_components": {"write_set_digest": wsd.hex(),
                                               "commit_evidence": ce,
                                               "claims_digest": cd.hex()},
                           "node_certificate": node_pem})

    # ------------------------------------------------------------ handling statements

    def payload(self, nonce, method, target, status, req, resp, code_ids, calls=(),
                policy=None, written="2.17"):
        """code_ids: ids, or (id, code certificate) pairs."""
        codes = [c if isinstance(c, tuple) else (c, None) for c in code_ids]
        return e2e.encode_payload(nonce, e2e.request_digest(method, target, req),
                                  e2e.response_digest(status, resp), "0011223344556677",
                                  codes, written, calls, policy)

    def code_certificate(self, code_id, claims, issued_at=1700000000):
        """A code certificate for code_id by this service's key acting as an
        issuer (docs/code-certificates.md "Format"); claims: {name: value}."""
        payload = cbor2.dumps({"version": 1, "code_id": code_id,
                               "artifact": {"path": "app.so", "sha256": bytes(32)},
                               "layout_sha256": bytes(32),
                               "links": [{"file": "build.link", "sha256": bytes(32)}],
                               "steps": [{"name": "build", "functionaries": ["ab" * 32],
                                          "return_value": 0}],
                               "claims": claims, "issued_at": issued_at})
        return cose.sign(self.key, {3: "application/vnd.consort.code-certificate+cbor",
                                    33: self.der}, payload)

    def batch(self, payloads):
        return e2e.sign_batch(payloads, self.key, self.cert)


def random_nonce():
    return os.urandom(16).hex()
