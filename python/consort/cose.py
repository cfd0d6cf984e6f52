"""COSE_Sign1 (RFC 9052) with ECDSA P-256/P-384: decode, Sig_structure, sign, verify."""

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                            encode_dss_signature)

from . import cbor
from .errors import ConsortError, ensure

TAG_SIGN1 = 18
ALG_ES256, ALG_ES384 = -7, -35
HDR_ALG, HDR_CRIT, HDR_CTY, HDR_KID = 1, 2, 3, 4
MAX_MESSAGE = 1 << 20

_ALGS = {ALG_ES256: ("secp256r1", hashes.SHA256(), 32, "ES256"),
         ALG_ES384: ("secp384r1", hashes.SHA384(), 48, "ES384")}


class Sign1:
    """A decoded COSE_Sign1: protected (the bstr as received), its header
    map, the unprotected map, payload (bytes, or None when detached) and
    signature."""

    def __init__(self, tagged, protected, protected_hdr, unprotected, payload, signature):
        self.tagged = tagged
        self.protected = protected
        self.protected_hdr = protected_hdr
        self.unprotected = unprotected
        self.payload = payload
        self.signature = signature


def _header_map(m, where):
    ensure(isinstance(m, cbor.Map), "MALFORMED", f"{where} header is not a map")
    for k, _ in m:
        ensure(isinstance(k, (int, str)), "MALFORMED", f"{where} header label {k!r}")
    return m


def decode_sign1(data):
    """Decodes a COSE_Sign1 (tagged or not)."""
    ensure(len(data) <= MAX_MESSAGE, "TOO_LARGE", f"COSE_Sign1 of {len(data)} bytes")
    v = cbor.loads(data)
    tagged = isinstance(v, cbor.Tag)
    if tagged:
        ensure(v.tag == TAG_SIGN1, "UNSUPPORTED", f"COSE: tag {v.tag}, expected 18")
        v = v.value
    ensure(isinstance(v, list) and len(v) == 4, "MALFORMED",
           "COSE_Sign1 is not an array of 4 items")
    prot, unprot, payload, sig = v
    ensure(isinstance(prot, bytes), "MALFORMED", "COSE protected header is not a bstr")
    phdr = _header_map(cbor.loads(prot), "protected") if prot else cbor.Map()
    _header_map(unprot, "unprotected")
    ensure(payload is None or isinstance(payload, bytes), "MALFORMED",
           "COSE payload is neither bstr nor nil")
    ensure(isinstance(sig, bytes), "MALFORMED", "COSE signature is not a bstr")
    for k, _ in unprot:
        ensure(k not in [k2 for k2, _ in phdr if type(k2) is type(k)], "MALFORMED",
               f"COSE header label {k!r} both protected and unprotected")
    return Sign1(tagged, prot, phdr, unprot, payload, sig)


def sig_structure(protected, payload, external_aad=b""):
    """RFC 9052 §4.4: ["Signature1", protected, external_aad, payload]."""
    return cbor.dumps(["Signature1", bytes(protected), bytes(external_aad), bytes(payload)])


def key_curve_alg(public_key):
    """(alg, curve name) for an EC public or private key on P-256 or P-384."""
    ensure(isinstance(public_key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)),
           "UNSUPPORTED", "not an EC key")
    name = public_key.curve.name
    for alg, (curve, _, _, _) in _ALGS.items():
        if curve == name:
            return alg, name
    raise ConsortError("UNSUPPORTED", f"EC curve {name}: only P-256 and P-384")


def alg_of(protected_hdr):
    alg = protected_hdr.get(HDR_ALG)
    ensure(isinstance(alg, int) and not isinstance(alg, bool), "MALFORMED",
           "COSE alg (1) missing from the protected header or not an integer")
    ensure(alg in _ALGS, "UNSUPPORTED", f"COSE alg {alg}: only -7 (ES256) and -35 (ES384)")
    return alg


def verify_signature(alg, public_key, protected, payload, signature, external_aad=b""):
    """The ECDSA signature r || s of the Sig_structure under public_key;
    BAD_SIGNATURE if not."""
    curve, hash_alg, field, name = _ALGS[alg]
    ensure(public_key.curve.name == curve, "BAD_SIGNATURE",
           f"alg {name} with a key on {public_key.curve.name}")
    ensure(len(signature) == 2 * field, "BAD_SIGNATURE",
           f"signature of {len(signature)} bytes, expected {2 * field} for {name}")
    r = int.from_bytes(signature[:field], "big")
    s = int.from_bytes(signature[field:], "big")
    try:
        public_key.verify(encode_dss_signature(r, s),
                          sig_structure(protected, payload, external_aad), ec.ECDSA(hash_alg))
    except InvalidSignature:
        raise ConsortError("BAD_SIGNATURE", "the COSE signature does not verify") from None


def sign(private_key, protected_map, payload, unprotected=None, detached=False, tagged=True):
    """A COSE_Sign1 over payload with protected_map (a dict; alg is set from
    the key). Returns its bytes."""
    import cbor2
    alg, _ = key_curve_alg(private_key)
    hdr = {HDR_ALG: alg}
    hdr.update(protected_map)
    protected = cbor.dumps(hdr)
    _, hash_alg, field, _ = _ALGS[alg]
    der = private_key.sign(sig_structure(protected, payload), ec.ECDSA(hash_alg))
    r, s = decode_dss_signature(der)
    sig = r.to_bytes(field, "big") + s.to_bytes(field, "big")
    body = [protected, unprotected or {}, None if detached else bytes(payload), sig]
    return cbor.dumps(cbor2.CBORTag(TAG_SIGN1, body) if tagged else body)


def sha256(data):
    return hashlib.sha256(data).digest()
