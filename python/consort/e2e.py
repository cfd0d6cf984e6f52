"""End-to-end handling statements (docs/e2e.md): verifying them offline
against the pinned service certificate, the exchange and a client policy;
also signing them (for tests and tools that need statements of their own)."""

import hashlib
import re

from . import cbor, cose, merkle, x509util
from .errors import ConsortError, ensure

CTY = "application/vnd.consort.handling-statement+cbor"
HDR_BATCH, HDR_PROOF = -70001, -70002
BATCH_RFC9162_SHA256 = 1
BATCH_MAX = 256
MAX = 512 << 10
NONCE_MIN, NONCE_MAX = 8, 32
MAX_CODE_IDS, MAX_CALLS, MAX_DEPTH = 64, 16, 4
POLICY_MAX_ISSUERS, POLICY_MAX_CLAIMS, CLAIM_MAX = 8, 32, 511
CALL_NONCE_LEN = 16


def request_digest(method, target, body=b""):
    """SHA-256(method || 0x00 || target || 0x00 || body)."""
    return hashlib.sha256(method.encode() + b"\0" + target.encode() + b"\0" + bytes(body)).digest()


def response_digest(status, body=b""):
    """SHA-256(decimal status || 0x00 || body)."""
    return hashlib.sha256(str(int(status)).encode() + b"\0" + bytes(body)).digest()


def call_nonce(nonce, index):
    """The nonce call `index` of a statement with `nonce` asks its callee for."""
    return hashlib.sha256(b"consort e2e call\0" + nonce + bytes([index & 0xFF])).digest()[:16]


def parse_nonce(hex_text):
    ok = (isinstance(hex_text, str) and len(hex_text) % 2 == 0
          and NONCE_MIN <= len(hex_text) // 2 <= NONCE_MAX
          and re.fullmatch(r"[0-9a-fA-F]*", hex_text) is not None)
    ensure(ok, "INVALID_ARGUMENT",
           f"x-consort-attest: expected {2 * NONCE_MIN} to {2 * NONCE_MAX} hex digits")
    return bytes.fromhex(hex_text)


# ---------------------------------------------------------------- policy

class Policy:
    """A client's policy: code_ids (32-byte ids; empty: any), issuers
    (certificates), claims (strings: NAME or NAME=VALUE)."""

    def __init__(self, code_ids=(), issuers=(), claims=()):
        self.code_ids = list(code_ids)
        self.issuers = list(issuers)
        self.claims = list(claims)

    @classmethod
    def parse(cls, doc):
        """From the JSON of docs/e2e.md "Verifying" (text or dict), issuers as
        PEM text; None or "" for no policy."""
        if doc is None or doc == "" or doc == b"":
            return cls()
        if isinstance(doc, (str, bytes)):
            from .receipt import strict_json
            doc = strict_json(doc)
        ensure(isinstance(doc, dict), "MALFORMED", "policy: not a JSON object")
        for k, v in doc.items():
            ensure(k in ("code_ids", "issuers", "claims"), "MALFORMED",
                   f"policy: unknown member \"{k}\" (code_ids, issuers, claims)")
            ensure(isinstance(v, list), "MALFORMED", f"policy: \"{k}\" is not an array")
        ids, iss, claims = (doc.get(k, []) for k in ("code_ids", "issuers", "claims"))
        ensure(len(ids) <= MAX_CODE_IDS and len(iss) <= POLICY_MAX_ISSUERS
               and len(claims) <= POLICY_MAX_CLAIMS, "TOO_LARGE",
               f"policy: at most {MAX_CODE_IDS} code_ids, {POLICY_MAX_ISSUERS} issuers and "
               f"{POLICY_MAX_CLAIMS} claims")
        ensure(not claims or iss, "MALFORMED",
               "policy: \"claims\" without \"issuers\": name the issuers whose certificates "
               "must make them")
        p = cls()
        for i, h in enumerate(ids):
            ensure(isinstance(h, str) and re.fullmatch(r"[0-9a-fA-F]{64}", h) is not None,
                   "MALFORMED", f"policy: code_ids[{i}] is not 64 hex digits")
            p.code_ids.append(bytes.fromhex(h))
        for i, pem in enumerate(iss):
            ensure(isinstance(pem, str), "MALFORMED", f"policy: issuers[{i}] is not a string")
            certs = x509util.pem_certificates(pem)
            ensure(len(certs) >= 1, "MALFORMED", f"policy: issuers[{i}] is not a PEM certificate")
            p.issuers.append(certs[0])
        for i, c in enumerate(claims):
            ensure(isinstance(c, str) and len(c.encode()) <= CLAIM_MAX and "\0" not in c,
                   "MALFORMED", f"policy: claims[{i}] is not a string of at most {CLAIM_MAX} bytes")
            p.claims.append(c)
        return p

    def digest(self):
        """cs_e2e_policy_digest: what a summary statement names (docs/e2e.md)."""
        h = hashlib.sha256(b"consort e2e policy v1\0")
        parts = [sorted(self.code_ids),
                 sorted(x509util.fingerprint(c) for c in self.issuers),
                 [c.encode() + b"\0" for c in sorted(self.claims, key=lambda c: c.encode())]]
        for i, items in enumerate(parts):
            if i:
                h.update(b"\0")
            h.update(len(items).to_bytes(4, "big"))
            for it in items:
                h.update(it)
        return h.digest()


# ---------------------------------------------------------------- the statement

class Statement:
    """A verified statement's payload: nonce, request, response (digests),
    node, codes [(code_id, certificate or None)], written (txid or None),
    calls (dicts), summary (bool), policy (digest, summary only)."""


def _key(m, i, want):
    return cbor.member(m, i, want, "handling statement payload")


def _digest(v, what):
    return cbor.digest32(v, what)


def _bytes_or_none(v, what):
    ensure(v is None or isinstance(v, bytes), "MALFORMED", f"{what} is neither bstr nor null")
    return v if v else None


def _cstr(v, limit, what):
    ensure(isinstance(v, str) and len(v.encode()) < limit and "\0" not in v, "MALFORMED",
           f"{what} is not a text string of less than {limit} bytes")
    return v


def _read_payload(data):
    m = cbor.loads(data)
    ensure(isinstance(m, cbor.Map) and len(m) in (8, 9), "MALFORMED",
           "handling statement payload: not a map of 8 (nested) or 9 (summary) members")
    s = Statement()
    s.summary = len(m) == 9
    version = _key(m, 0, "version")
    ensure(type(version) is int and version >= 0, "MALFORMED", "version is not a uint")
    ensure(version == 1, "UNSUPPORTED", f"handling statement version {version}")
    s.nonce = _key(m, 1, "nonce")
    ensure(isinstance(s.nonce, bytes) and NONCE_MIN <= len(s.nonce) <= NONCE_MAX, "MALFORMED",
           "nonce is not a bstr of 8 to 32 bytes")
    s.request = _digest(_key(m, 2, "request"), "request")
    s.response = _digest(_key(m, 3, "response"), "response")
    s.node = _cstr(_key(m, 4, "node"), 65, "node")
    codes = _key(m, 5, "code_ids")
    ensure(isinstance(codes, list), "MALFORMED", "code_ids is not an array")
    ensure(len(codes) <= MAX_CODE_IDS, "TOO_LARGE", f"{len(codes)} code ids")
    s.codes = []
    for c in codes:
        ensure(isinstance(c, cbor.Map) and len(c) == 2, "MALFORMED",
               "code id entry is not a map of 2 members")
        s.codes.append((_digest(_key(c, 0, "code_id"), "code_id"),
                        _bytes_or_none(_key(c, 1, "certificate"), "certificate")))
    w = _key(m, 6, "written")
    s.written = None if w is None else _cstr(w, 48, "written")
    calls = _key(m, 7, "calls")
    ensure(isinstance(calls, list), "MALFORMED", "calls is not an array")
    ensure(len(calls) <= MAX_CALLS, "TOO_LARGE", f"{len(calls)} calls")
    s.calls = []
    for i, c in enumerate(calls):
        ensure(isinstance(c, cbor.Map), "MALFORMED", f"call {i} is not a map")
        if s.summary:
            ensure(len(c) == 2, "MALFORMED", f"call {i}: summary call entry of {len(c)} members")
            d = _key(c, 0, "statement")
            met = _key(c, 1, "met_policy")
            ensure(isinstance(met, bool), "MALFORMED", f"call {i}: met_policy is not a bool")
            s.calls.append({"statement": None if d is None else _digest(d, "statement"),
                            "met_policy": met})
        else:
            ensure(len(c) == 5, "MALFORMED", f"call {i}: entry of {len(c)} members, expected 5")
            svc = _cstr(_key(c, 0, "service"), 64, f"call {i}: service")
            cert = _key(c, 1, "service_cert")
            ensure(isinstance(cert, bytes) and cert, "MALFORMED",
                   f"call to {svc}: empty service_cert")
            resp = _key(c, 3, "response")
            s.calls.append({"service": svc, "service_cert": cert,
                            "request": _digest(_key(c, 2, "request"), "request"),
                            "response": None if resp is None else _digest(resp, "response"),
                            "statement": _bytes_or_none(_key(c, 4, "statement"), "statement")})
    if s.summary:
        s.policy = _digest(_key(m, 8, "policy"), "policy")
    return s


def _verify_batch_signature(msg, key):
    scheme = msg.protected_hdr.get(HDR_BATCH)
    ensure(type(scheme) is int, "MALFORMED",
           f"no batch scheme (protected label {HDR_BATCH}) as an integer")
    crit = msg.protected_hdr.get(cose.HDR_CRIT)
    ensure(isinstance(crit, list) and len(crit) >= 1
           and all(type(c) in (int, str) for c in crit), "MALFORMED",
           f"crit does not name the batch label {HDR_BATCH}")
    ensure(any(type(c) is int and c == HDR_BATCH for c in crit), "MALFORMED",
           f"crit does not name the batch label {HDR_BATCH}")
    for c in crit:
        ensure(type(c) is int and c == HDR_BATCH, "UNSUPPORTED",
               f"crit names label {c!r}, which this verifier does not understand")
    ensure(scheme == BATCH_RFC9162_SHA256, "UNSUPPORTED",
           f"batch scheme {scheme}, expected 1 (RFC 9162 SHA-256)")
    ensure(msg.payload is not None, "MALFORMED", "detached payload")
    u = msg.unprotected
    ensure(len(u) == 1, "MALFORMED",
           f"unprotected header of {len(u)} entries, expected only the batch proof")
    ensure(type(u[0][0]) is int and u[0][0] == HDR_PROOF, "MALFORMED",
           f"batch proof (label {HDR_PROOF}) missing")
    p = u[0][1]
    ensure(isinstance(p, list) and len(p) == 3, "MALFORMED", "batch proof is not an array of 3")
    size, index, path = p
    ensure(type(size) is int and type(index) is int and size >= 0 and index >= 0, "MALFORMED",
           "batch size or index is not a uint")
    ensure(1 <= size <= BATCH_MAX and index < size, "MALFORMED",
           f"batch proof: index {index} in a batch of {size} (batches hold 1 to {BATCH_MAX})")
    merkle.check_path(path, "batch proof path")
    root = merkle.root_from_inclusion(merkle.leaf_hash(msg.payload), index, size, path)
    alg = cose.alg_of(msg.protected_hdr)
    cose.verify_signature(alg, key, msg.protected, root, msg.signature)


def verify_statement_signature(data, service_cert):
    """The statement's COSE bytes, verified as signed by service_cert's key
    (a batch of one or more); returns its Statement."""
    ensure(len(data) <= MAX, "TOO_LARGE", f"handling statement of {len(data)} bytes")
    msg = cose.decode_sign1(data)
    cty = msg.protected_hdr.get(cose.HDR_CTY)
    ensure(isinstance(cty, str), "MALFORMED",
           "handling statement: content type missing or not text")
    ensure(cty == CTY, "MALFORMED", f"handling statement: content type is not {CTY}")
    kid = msg.protected_hdr.get(cose.HDR_KID)
    ensure(isinstance(kid, bytes), "MALFORMED", "handling statement: kid missing or not a bstr")
    ensure(kid == x509util.fingerprint(service_cert), "POLICY",
           "handling statement: signed by another service than the one pinned")
    key = service_cert.public_key()
    from cryptography.hazmat.primitives.asymmetric import ec
    ensure(isinstance(key, ec.EllipticCurvePublicKey), "BAD_CERTIFICATE",
           "the service key is not an EC key")
    try:
        _verify_batch_signature(msg, key)
    except ConsortError as e:
        raise ConsortError(e.kind, f"handling statement: signature: {e.message}") from None
    try:
        return _read_payload(msg.payload)
    except ConsortError as e:
        raise ConsortError(e.kind, f"handling statement payload: {e.message}") from None


def statement_bytes(statement):
    """The COSE bytes of a statement given as the header's base64 (str or
    bytes) or as the COSE_Sign1 itself (bytes starting with tag 18)."""
    if statement is None:
        statement = b""
    if isinstance(statement, str):
        statement = statement.encode()
    if statement[:1] == b"\xd2":
        return bytes(statement)  # whole: a signature may end in a byte that is white space
    statement = bytes(statement).rstrip(b"\r\n ")
    ensure(statement, "MALFORMED", "no handling statement (the answer carried none)")
    from .receipt import strict_b64
    try:
        text = statement.decode("ascii")
    except UnicodeDecodeError:
        raise ConsortError("MALFORMED", "handling statement (base64): not base64") from None
    return strict_b64(text, "handling statement (base64)")


def _codes_meet(s, policy):
    ensure(s.codes, "POLICY", "the statement names no code id")
    for code_id, cert in s.codes:
        hexid = code_id.hex()
        ensure(not policy.code_ids or code_id in policy.code_ids, "POLICY",
               f"code id {hexid[:16]}... is not one the policy allows")
        if policy.issuers:
            from . import codecert
            codecert.check_certified(code_id, cert, policy)


def _check_calls(s, policy, depth, hops):
    for i, c in enumerate(s.calls):
        try:
            _check_call(s, i, c, policy, depth, hops)
        except ConsortError as e:
            raise ConsortError(e.kind, f"call {i} (to {c['service']}, depth {depth}): "
                                       f"{e.message}") from None


def _check_call(s, i, c, policy, depth, hops):
    ensure(c["statement"] is not None, "POLICY",
           "no handling statement from the service it called: what handled the data there "
           "is not attested")
    ensure(depth <= MAX_DEPTH, "POLICY", f"statements nest deeper than {MAX_DEPTH} services")
    try:
        from cryptography import x509
        cert = x509.load_der_x509_certificate(c["service_cert"])
    except ValueError as e:
        raise ConsortError("MALFORMED", f"its service certificate: {e}") from None
    callee = verify_statement_signature(c["statement"], cert)
    ensure(callee.nonce == call_nonce(s.nonce, i), "POLICY",
           "its statement answers another request (its nonce is not this call's): replayed or "
           "substituted")
    ensure(callee.request == c["request"], "POLICY",
           "its statement is about another request than the call (request digest)")
    ensure(c["response"] is not None and callee.response == c["response"], "POLICY",
           "its statement is about another response than the caller received (response digest)")
    _codes_meet(callee, policy)
    hops.append({"depth": depth, "service": c["service"],
                 "service_cert_sha256": hashlib.sha256(c["service_cert"]).hexdigest(),
                 "node": callee.node, "written": callee.written or "",
                 "code_ids": _codes_report(callee)})
    _check_calls(callee, policy, depth + 1, hops)


def _codes_report(s):
    return [{"code_id": cid.hex(), "certified": cert is not None} for cid, cert in s.codes]


def verify_statement(statement, service_cert, nonce, method, target, status,
                     request_body=b"", response_body=b"", policy=None):
    """Checks a handling statement against the pinned service certificate
    (PEM/DER/Certificate), the request sent (nonce hex as sent in
    x-consort-attest, method, target exactly as sent, body) and the answer
    received (status, body), and a Policy (or its JSON; None: any code id).
    Returns a report dict like `consort e2e verify` prints; raises
    ConsortError naming the first check that failed."""
    if not isinstance(service_cert, x509util.x509.Certificate):
        service_cert = x509util.load_certificate(service_cert)
    want_nonce = parse_nonce(nonce)
    if not isinstance(policy, Policy):
        policy = Policy.parse(policy)
    if isinstance(request_body, str):
        request_body = request_body.encode()
    if isinstance(response_body, str):
        response_body = response_body.encode()
    s = verify_statement_signature(statement_bytes(statement), service_cert)
    ensure(s.nonce == want_nonce, "POLICY",
           "the statement answers another request (its nonce is not this request's)")
    ensure(s.request == request_digest(method, target, request_body), "POLICY",
           "the statement is about another request than the one sent (request digest)")
    ensure(s.response == response_digest(status, response_body), "POLICY",
           "the statement is about another response than the one received (response digest)")
    _codes_meet(s, policy)
    hops = []
    if s.summary:
        ensure(s.policy == policy.digest(), "POLICY",
               "the summary asserts another policy than this one (policy digest): the service "
               "checked its back-ends against something else")
        for i, c in enumerate(s.calls):
            ensure(c["statement"] is not None, "POLICY",
                   f"call {i}: no handling statement from the service it called")
            ensure(c["met_policy"], "POLICY",
                   f"call {i}: the service it called does not meet the policy (the summary "
                   f"says so)")
    else:
        _check_calls(s, policy, 1, hops)
    return {"node": s.node, "written": s.written or "", "code_ids": _codes_report(s),
            "calls": len(s.calls), "mode": "summary" if s.summary else "nested", "hops": hops}


# ---------------------------------------------------------------- signing

def encode_payload(nonce, request, response, node, codes, written=None, calls=(), policy=None):
    """A statement payload (docs/e2e.md "Format"): codes [(code_id, cert or
    None)], calls: dicts as in Statement.calls; policy: a digest for a summary."""
    import cbor2
    # cbor2 keeps dict insertion order when not canonical: the order is the format's
    m = {"version": 1, "nonce": nonce, "request": request, "response": response, "node": node,
         "code_ids": [{"code_id": cid, "certificate": cert} for cid, cert in codes],
         "written": written, "calls": list(calls)}
    if policy is not None:
        m["policy"] = policy
    return cbor2.dumps(m)


def sign_batch(payloads, service_key, service_cert):
    """Statements for payloads, signed together under one signature over
    their Merkle root (a batch of len(payloads), 1 to 256)."""
    import cbor2
    ensure(1 <= len(payloads) <= BATCH_MAX, "INVALID_ARGUMENT", "a batch of 1 to 256")
    leaves = [merkle.leaf_hash(p) for p in payloads]
    root = merkle.tree_root(leaves)
    prot = {cose.HDR_CRIT: [HDR_BATCH], cose.HDR_CTY: CTY,
            cose.HDR_KID: x509util.fingerprint(service_cert), HDR_BATCH: BATCH_RFC9162_SHA256}
    signed = cbor.loads(cose.sign(service_key, prot, root, detached=True)).value
    out = []
    for i, p in enumerate(payloads):
        proof = [len(payloads), i, merkle.inclusion_path(leaves, i)]
        out.append(cbor2.dumps(cbor2.CBORTag(cose.TAG_SIGN1,
                                             [signed[0], {HDR_PROOF: proof}, p, signed[3]])))
    return out
