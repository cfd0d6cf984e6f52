"""Offline verification of transaction receipts (docs/receipts.md
"Verifying independently, step by step"). Nothing in a receipt is trusted;
the only anchor is the pinned service certificate."""

import base64
import hashlib
import json
import re
import time

from . import cbor, cose, merkle, x509util
from .errors import ConsortError, ensure

JSON_MAX = 64 << 10
COSE_MAX = 16 << 10
CERT_MAX = 8192
TXID_MAX = 32
TERM_MAX = (1 << 32) - 1
HDR_VDS, HDR_VDP, VDP_INCLUSION = 395, 396, -1

_HEX64 = re.compile(r"[0-9a-fA-F]{64}\Z")


def _reject_dupes(pairs):
    keys = [k for k, _ in pairs]
    ensure(len(set(keys)) == len(keys), "MALFORMED", "duplicate JSON member")
    return dict(pairs)


def strict_json(text):
    """JSON as the service's parser takes it: duplicate members, NaN and
    Infinity refused."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise ConsortError("MALFORMED", "not JSON: not UTF-8") from None

    def bad_constant(c):
        raise ConsortError("MALFORMED", f"not JSON: {c}")
    try:
        return json.loads(text, object_pairs_hook=_reject_dupes, parse_constant=bad_constant)
    except ValueError as e:
        raise ConsortError("MALFORMED", f"not JSON: {e}") from None


def parse_txid(s):
    """(term, seqno) of "<term>.<seqno>": decimal, no leading zeros, both >= 1."""
    m = re.fullmatch(r"([1-9][0-9]*)\.([1-9][0-9]*)", s) if isinstance(s, str) else None
    ensure(m is not None and len(s) < TXID_MAX and s.isascii(), "MALFORMED",
           f"transaction id {s!r}: expected <term>.<seqno>, decimal numbers >= 1 "
           f"without leading zeros")
    term, seqno = int(m.group(1)), int(m.group(2))
    ensure(seqno < 1 << 64, "MALFORMED", "transaction id: seqno out of range")
    ensure(term <= TERM_MAX, "MALFORMED", f"transaction id: term {term} exceeds 2^32-1")
    return term, seqno


def strict_b64(s, what):
    ensure(len(s) % 4 == 0 and s.isascii(), "MALFORMED",
           f"{what}: base64 of length {len(s)} is not a multiple of 4")
    body = s.rstrip("=")
    ensure(len(s) - len(body) <= 2 and "=" not in body, "MALFORMED", f"{what}: bad base64 padding")
    try:
        return base64.b64decode(s, validate=True)
    except ValueError:
        raise ConsortError("MALFORMED", f"{what}: not base64") from None


def _hex32(s, what):
    ensure(isinstance(s, str) and _HEX64.match(s) is not None, "MALFORMED",
           f"receipt: \"{what}\" is not 64 hex digits")
    return bytes.fromhex(s)


def _exact(obj, keys, what):
    ensure(isinstance(obj, dict), "MALFORMED", f"receipt: {what} is not a JSON object")
    for k in obj:
        ensure(k in keys, "MALFORMED", f"receipt: unexpected member \"{k[:64]}\" in {what}")
    ensure(len(obj) == len(keys), "MALFORMED",
           f"receipt: {what} has {len(obj)} members, expected {len(keys)}")


def _string(obj, key):
    v = obj.get(key)
    ensure(isinstance(v, str), "MALFORMED", f"receipt: \"{key}\" is not a string")
    ensure("\x00" not in v, "MALFORMED", f"receipt: \"{key}\" contains a NUL character")
    return v


class Receipt:
    """A parsed receipt (GET /app/receipt): txid, term, seqno, cose (bytes),
    write_set_digest, commit_evidence, claims_digest (bytes), node_cert."""

    @classmethod
    def parse(cls, text):
        ensure(len(text) <= JSON_MAX, "TOO_LARGE",
               f"receipt: {len(text)} bytes of JSON exceeds {JSON_MAX}")
        doc = strict_json(text) if isinstance(text, (str, bytes, bytearray)) else text
        _exact(doc, ("txid", "cose_receipt", "leaf_components", "node_certificate"),
               "the receipt")
        r = cls()
        r.txid = _string(doc, "txid")
        r.term, r.seqno = parse_txid(r.txid)
        r.cose = strict_b64(_string(doc, "cose_receipt"), "receipt: cose_receipt")
        lc = doc["leaf_components"]
        _exact(lc, ("write_set_digest", "commit_evidence", "claims_digest"), "leaf_components")
        r.write_set_digest = _hex32(_string(lc, "write_set_digest"), "write_set_digest")
        r.claims_digest = _hex32(_string(lc, "claims_digest"), "claims_digest")
        r.commit_evidence = _string(lc, "commit_evidence")
        pem = _string(doc, "node_certificate")
        certs = x509util.pem_certificates(pem)
        ensure(len(certs) == 1, "MALFORMED",
               f"receipt: node_certificate holds {len(certs)} certificates, expected 1")
        r.node_cert = certs[0]
        return r

    def decode_cose(self):
        """(alg, kid, tree_size, leaf_index, path, Sign1) of the COSE receipt."""
        ensure(len(self.cose) <= COSE_MAX, "TOO_LARGE",
               f"COSE receipt of {len(self.cose)} bytes exceeds {COSE_MAX}")
        msg = cose.decode_sign1(self.cose)
        ensure(msg.tagged, "MALFORMED", "COSE receipt: no tag 18")
        ensure(msg.payload is None, "MALFORMED", "COSE receipt: payload not detached")
        h = msg.protected_hdr
        ensure(len(h) == 3, "MALFORMED",
               f"COSE receipt: protected header of {len(h)} entries, "
               f"expected {{1: alg, 4: kid, 395: 1}}")
        alg = cose.alg_of(h)
        kid = h.get(cose.HDR_KID)
        ensure(isinstance(kid, bytes) and len(kid) == 32, "MALFORMED",
               "COSE receipt: kid is not a 32-byte bstr")
        vds = h.get(HDR_VDS)
        ensure(isinstance(vds, int) and not isinstance(vds, bool), "MALFORMED",
               "COSE receipt: vds (395) missing or not an integer")
        ensure(vds == 1, "UNSUPPORTED", f"COSE receipt: vds {vds}, expected 1 (RFC9162_SHA256)")
        u = msg.unprotected
        ensure(len(u) == 1 and u[0][0] == HDR_VDP and type(u[0][0]) is int, "MALFORMED",
               "COSE receipt: unprotected header is not exactly {396: proofs}")
        vdp = u[0][1]
        ensure(isinstance(vdp, cbor.Map) and len(vdp) == 1, "MALFORMED",
               "COSE receipt: 396 is not a map of one entry")
        label, proofs = vdp[0]
        ensure(type(label) is int and label == VDP_INCLUSION, "MALFORMED",
               "COSE receipt: 396: label is not -1 (inclusion proofs)")
        ensure(isinstance(proofs, list) and len(proofs) == 1 and isinstance(proofs[0], bytes),
               "MALFORMED", "COSE receipt: 396: not exactly one inclusion proof (bstr)")
        p = cbor.loads(proofs[0])
        ensure(isinstance(p, list) and len(p) == 3, "MALFORMED",
               "inclusion proof is not an array of 3 items")
        size, index, path = p
        for v, name in ((size, "tree_size"), (index, "leaf_index")):
            ensure(type(v) is int and v >= 0, "MALFORMED", f"inclusion proof: {name} is not a uint")
        ensure(index < size, "MALFORMED",
               f"inclusion proof: leaf_index {index} not below tree_size {size}")
        merkle.check_path(path, "inclusion proof path")
        return alg, kid, size, index, path, msg


def leaf(write_set_digest, commit_evidence, claims_digest):
    """The receipt's Merkle leaf hash (docs/receipts.md step 6)."""
    ce = hashlib.sha256(commit_evidence.encode()).digest()
    return merkle.leaf_hash(write_set_digest + ce + claims_digest)


def verify_receipt(receipt, service_cert, claims_digest=None, txid=None, now=None):
    """Verifies a receipt (its JSON text, bytes, parsed dict or a Receipt)
    against the pinned service certificate (PEM text/bytes, DER or a
    cryptography Certificate). Returns the Receipt; raises ConsortError
    saying what failed. claims_digest (32 bytes or 64 hex) and txid are
    optional expectations; now (Unix seconds) the time for certificate
    validity (default: the current time)."""
    if not isinstance(service_cert, x509util.x509.Certificate):
        service_cert = x509util.load_certificate(service_cert)
    r = receipt if isinstance(receipt, Receipt) else Receipt.parse(receipt)
    now = int(time.time()) if now is None else now
    if txid is not None:
        parse_txid(txid)
        ensure(txid == r.txid, "POLICY", f"receipt is for transaction {r.txid}, not {txid}")
    # step 3: the commit evidence names the transaction
    prefix = f"ce:{r.txid}:"
    ce = r.commit_evidence
    ensure(ce.startswith(prefix) and len(ce) == len(prefix) + 64
           and re.fullmatch(r"[0-9a-f]{64}", ce[len(prefix):]) is not None, "MALFORMED",
           f"receipt: commit_evidence {ce[:100]!r} is not \"{prefix}<64 hex digits>\" "
           f"(the evidence of another transaction?)")
    alg, kid, size, index, path, msg = r.decode_cose()
    ensure(index == r.seqno - 1, "MALFORMED",
           f"receipt: leaf_index {index} is not seqno - 1 for txid {r.txid}")
    x509util.check_issued_by(r.node_cert, service_cert, now, "receipt: node certificate")
    key = r.node_cert.public_key()
    from cryptography.hazmat.primitives.asymmetric import ec
    ensure(isinstance(key, ec.EllipticCurvePublicKey), "BAD_CERTIFICATE",
           "receipt: the node key is not an EC key")
    ensure(x509util.key_id(key) == kid, "BAD_SIGNATURE",
           "receipt: COSE kid is not the node certificate's key id")
    root = merkle.root_from_inclusion(leaf(r.write_set_digest, r.commit_evidence,
                                           r.claims_digest), index, size, path)
    try:
        cose.verify_signature(alg, key, msg.protected, root, msg.signature)
    except ConsortError as e:
        raise ConsortError(e.kind, "receipt: the signature does not cover the root that the "
                                   f"leaf components and proof give ({e.message})") from None
    if claims_digest is not None:
        want = bytes.fromhex(claims_digest) if isinstance(claims_digest, str) else claims_digest
        ensure(want == r.claims_digest, "POLICY", "receipt: claims digest is not the expected one")
    return r
