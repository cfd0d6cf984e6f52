"""Signed governance requests (docs/governance.md "Signed requests"): a
member's proposals, ballots and withdrawals as COSE_Sign1 objects."""

import hashlib
import json
import re
import time

from cryptography.hazmat.primitives import serialization

from . import cose, x509util
from .errors import ensure

HDR_TYPE = "consort.gov.msg.type"
HDR_CREATED_AT = "consort.gov.msg.created_at"
HDR_PROPOSAL_ID = "consort.gov.msg.proposal_id"
TYPES = ("proposal", "ballot", "withdrawal", "recovery_share")
REQUEST_MAX = 512 << 10


def member_id(cert):
    """A member's (or user's) id: lower-case hex SHA-256 of its certificate's DER."""
    return x509util.fingerprint(cert).hex()


def proposal_id(seqno, signature):
    """The id the leader gives a proposal recorded at seqno (docs/governance.md
    "Proposal ids")."""
    return hashlib.sha256(seqno.to_bytes(8, "big") + signature).hexdigest()


def load_private_key(data):
    if isinstance(data, str):
        data = data.encode()
    return serialization.load_pem_private_key(data, password=None)


def sign_request(key, cert, msg_type, payload=b"", proposal_id=None, created_at=None):
    """The signed request (bytes, to POST as application/cose): msg_type one
    of TYPES, payload bytes (or a dict/list, sent as compact JSON),
    proposal_id for a ballot or withdrawal, created_at Unix seconds
    (default now). key must be the private key of member certificate cert."""
    ensure(msg_type in TYPES, "INVALID_ARGUMENT", f"message type {msg_type!r} unknown")
    needs = msg_type in ("ballot", "withdrawal")
    ensure(needs == (proposal_id is not None), "INVALID_ARGUMENT",
           f"a {msg_type} {'needs' if needs else 'must not carry'} a proposal id")
    ensure(proposal_id is None or re.fullmatch(r"[0-9a-f]{64}", proposal_id) is not None,
           "INVALID_ARGUMENT", "proposal id is not 64 lower-case hex digits")
    ensure(x509util.key_id(key.public_key()) == x509util.key_id(cert.public_key()),
           "INVALID_ARGUMENT", f"the key is not the key of member certificate {member_id(cert)}")
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload, separators=(",", ":")).encode()
    created_at = int(time.time()) if created_at is None else int(created_at)
    ensure(0 <= created_at < 1 << 63, "INVALID_ARGUMENT", f"created_at {created_at} out of range")
    hdr = {cose.HDR_KID: member_id(cert).encode(), HDR_TYPE: msg_type, HDR_CREATED_AT: created_at}
    if proposal_id is not None:
        hdr[HDR_PROPOSAL_ID] = proposal_id
    out = cose.sign(key, hdr, bytes(payload))
    ensure(len(out) <= REQUEST_MAX, "TOO_LARGE", f"a signed request of {len(out)} bytes")
    return out


def endpoint(msg_type, proposal_id=None):
    """The path a signed request of this type is POSTed to."""
    if msg_type == "proposal":
        return "/gov/proposals"
    if msg_type == "ballot":
        return f"/gov/proposals/{proposal_id}/ballots"
    if msg_type == "withdrawal":
        return f"/gov/proposals/{proposal_id}/withdraw"
    return "/gov/recovery/share"
