#!/usr/bin/env python3
"""Checks a signed governance request independently of consort's C code
(docs/governance.md "Signed requests"), for tests/cli/test_cli_gov.sh.

usage: gov_cose.py FILE MEMBER_CERT_PEM TYPE [PROPOSAL_ID|-] [PAYLOAD_FILE|-]

FILE must be a tagged COSE_Sign1 (CBOR tag 18) with an attached payload and an
empty unprotected header, whose protected header holds exactly alg (-7 with a
P-256 key, -35 with P-384), kid (the member id: lower-case hex SHA-256 of the
certificate's DER, as bytes), the type TYPE, a created_at within a minute of
now, and the proposal id PROPOSAL_ID (absent for "-"). The ECDSA signature
(r || s) must verify under the certificate's key over the Sig_structure
["Signature1", protected, h'', payload] (RFC 9052 section 4.4). With
PAYLOAD_FILE, the payload must be exactly that file's bytes. Prints "ok" and
exits 0, or prints what is wrong and exits 1.

Uses a minimal CBOR reader (the subset COSE_Sign1 needs) and the
`cryptography` module, nothing of consort."""

import hashlib
import os
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


class Cbor:
    """Reads one CBOR item at a time from bytes (definite lengths only)."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def head(self):
        b = self.data[self.pos]
        self.pos += 1
        major, info = b >> 5, b & 31
        if info < 24:
            return major, info
        n = {24: 1, 25: 2, 26: 4, 27: 8}[info]  # KeyError: indefinite or reserved
        v = int.from_bytes(self.data[self.pos:self.pos + n], "big")
        self.pos += n
        return major, v

    def item(self):
        major, v = self.head()
        if major == 0:
            return v
        if major == 1:
            return -1 - v
        if major in (2, 3):
            raw = self.data[self.pos:self.pos + v]
            if len(raw) != v:
                raise ValueError("truncated string")
            self.pos += v
            return raw if major == 2 else raw.decode()
        if major == 4:
            return [self.item() for _ in range(v)]
        if major == 5:
            out = {}
            for _ in range(v):
                k = self.item()
                if k in out:
                    raise ValueError(f"duplicate map key {k!r}")
                out[k] = self.item()
            return out
        if major == 6:
            return ("tag", v, self.item())
        raise ValueError(f"unsupported CBOR major type {major}")


def bstr(b):
    """CBOR encoding of a byte string."""
    n = len(b)
    if n < 24:
        h = bytes([0x40 | n])
    elif n < 256:
        h = bytes([0x58, n])
    elif n < 65536:
        h = bytes([0x59]) + n.to_bytes(2, "big")
    else:
        h = bytes([0x5a]) + n.to_bytes(4, "big")
    return h + b


def fail(msg):
    print(f"gov_cose.py: {msg}")
    sys.exit(1)


def main():
    if len(sys.argv) < 4:
        fail(__doc__.splitlines()[2])
    path, cert_path, want_type = sys.argv[1:4]
    want_pid = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else None
    payload_file = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] != "-" else None
    data = open(path, "rb").read()
    r = Cbor(data)
    top = r.item()
    if r.pos != len(data):
        fail(f"{len(data) - r.pos} trailing bytes")
    if not (isinstance(top, tuple) and top[1] == 18):
        fail("not a tagged COSE_Sign1 (tag 18)")
    msg = top[2]
    if not (isinstance(msg, list) and len(msg) == 4):
        fail("COSE_Sign1 is not an array of 4")
    protected, unprotected, payload, sig = msg
    if unprotected != {}:
        fail(f"unprotected header not empty: {unprotected!r}")
    if not isinstance(payload, bytes):
        fail("payload detached or not a byte string")
    hdr = Cbor(protected).item()

    cert = x509.load_pem_x509_certificate(open(cert_path, "rb").read())
    key = cert.public_key()
    der = cert.public_bytes(serialization.Encoding.DER)
    member_id = hashlib.sha256(der).hexdigest()
    curve = key.curve.name
    alg, n, h = {"secp256r1": (-7, 32, hashes.SHA256()),
                 "secp384r1": (-35, 48, hashes.SHA384())}[curve]

    want = {1: alg, 4: member_id.encode(), "consort.gov.msg.type": want_type}
    if want_pid is not None:
        want["consort.gov.msg.proposal_id"] = want_pid
    created = hdr.get("consort.gov.msg.created_at")
    # CREATED_WITHIN="T0 T1": the signing command ran between these seconds
    # (test_cli_gov.sh's expect records them); without it, within 60 s of now,
    # which a loaded machine can exceed between the signing and this check.
    within = os.environ.get("CREATED_WITHIN")
    if within:
        t0, t1 = (int(x) for x in within.split())
        if not isinstance(created, int) or not t0 <= created <= t1:
            fail(f"created_at {created!r} is not when the request was signed ({t0}..{t1})")
    elif not isinstance(created, int) or abs(created - time.time()) > 60:
        fail(f"created_at {created!r} is not now")
    rest = {k: v for k, v in hdr.items() if k != "consort.gov.msg.created_at"}
    if rest != want:
        fail(f"protected header {rest!r}, expected {want!r}")
    if payload_file is not None and payload != open(payload_file, "rb").read():
        fail(f"payload {payload!r} is not the bytes of {payload_file}")

    if len(sig) != 2 * n:
        fail(f"signature of {len(sig)} bytes, expected {2 * n}")
    tbs = b"\x84" + b"\x6aSignature1" + bstr(protected) + bstr(b"") + bstr(payload)
    der_sig = encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big"))
    try:
        key.verify(der_sig, tbs, ec.ECDSA(h))
    except Exception as e:  # InvalidSignature has no message
        fail(f"the signature does not verify under {cert_path}: {type(e).__name__}")
    print("ok")


if __name__ == "__main__":
    main()
