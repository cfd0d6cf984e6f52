"""Certificates: PEM parsing, fingerprints, key ids, issued-by checks."""

import base64
import datetime
import hashlib
import re

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .errors import ConsortError, ensure

_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


def pem_certificates(text):
    """Every CERTIFICATE block of PEM text, parsed (a list)."""
    if isinstance(text, str):
        text = text.encode()
    out = []
    for m in _PEM.finditer(text):
        if m.group(1) != b"CERTIFICATE":
            continue
        try:
            der = base64.b64decode(re.sub(rb"\s+", b"", m.group(2)), validate=True)
            out.append(x509.load_der_x509_certificate(der))
        except (ValueError, TypeError) as e:
            raise ConsortError("MALFORMED", f"a PEM certificate does not parse: {e}") from None
    return out


def load_certificate(data):
    """One certificate from PEM text or DER bytes (bytes or str)."""
    if isinstance(data, str):
        data = data.encode()
    if data[:1] == b"\x30":
        try:
            return x509.load_der_x509_certificate(data)
        except ValueError as e:
            raise ConsortError("MALFORMED", f"a DER certificate does not parse: {e}") from None
    certs = pem_certificates(data)
    ensure(len(certs) >= 1, "MALFORMED", "no PEM certificate")
    return certs[0]


def load_certificate_file(path):
    with open(path, "rb") as f:
        return load_certificate(f.read())


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def fingerprint(cert):
    """SHA-256 of the certificate's DER."""
    return hashlib.sha256(der(cert)).digest()


def key_id(public_key):
    """SHA-256 of the key's DER SubjectPublicKeyInfo."""
    return hashlib.sha256(public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()


def _valid_at(cert, now, what):
    t = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).replace(tzinfo=None)
    ensure(cert.not_valid_before <= t, "EXPIRED", f"{what} is not valid yet")
    ensure(t <= cert.not_valid_after, "EXPIRED", f"{what} has expired")


def check_issued_by(cert, issuer, now, what="certificate"):
    """cert is signed by issuer's key, names it as issuer, and both are
    valid at now (Unix seconds); BAD_CERTIFICATE or EXPIRED if not."""
    ensure(cert.issuer == issuer.subject, "BAD_CERTIFICATE",
           f"{what} is not issued by the service certificate (issuer name)")
    _check_ca(issuer)
    key = issuer.public_key()
    ensure(isinstance(key, ec.EllipticCurvePublicKey), "BAD_CERTIFICATE",
           "the issuer's key is not an EC key")
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes,
                   ec.ECDSA(cert.signature_hash_algorithm))
    except (InvalidSignature, ValueError, TypeError):
        raise ConsortError("BAD_CERTIFICATE",
                           f"{what} does not chain to the service certificate") from None
    _valid_at(issuer, now, "the service certificate")
    _valid_at(cert, now, what)


def _check_ca(cert):
    """The issuer is a CA certificate: basic constraints CA:TRUE and, if it
    restricts its key's usage, certificate signing among them."""
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    ensure(bc is not None and bc.ca, "BAD_CERTIFICATE",
           "the service certificate is not a CA certificate (basic constraints CA:TRUE)")
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    ensure(ku is None or ku.key_cert_sign, "BAD_CERTIFICATE",
           "the service certificate's key usage does not include certificate signing")
