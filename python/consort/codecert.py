"""Code certificates (docs/code-certificates.md "Format"): an issuer's signed
statement that a code id passed its supply-chain checks, with claims. The
e2e policy's "issuers" and "claims" are checked with them."""

from . import cbor, cose, x509util
from .errors import ConsortError, ensure

CTY = "application/vnd.consort.code-certificate+cbor"
HDR_X5CHAIN = 33
MAX = 1 << 20


def _key(m, i, want):
    return cbor.member(m, i, want, "code certificate payload")


def _digest(v, what):
    return cbor.digest32(v, what)


def _text(v, what):
    ensure(isinstance(v, str) and "\0" not in v, "MALFORMED", f"{what} is not text")
    return v


def _key_ids(v, what):
    ensure(isinstance(v, list), "MALFORMED", f"{what} is not an array")
    return [_text(k, f"{what} key id") for k in v]


def verify(data, issuer):
    """The code certificate's payload as a dict (code_id, artifact, claims,
    issued_at ...) if issuer (a Certificate) signed it and it names issuer
    as its x5chain; ConsortError otherwise."""
    ensure(len(data) <= MAX, "TOO_LARGE", f"code certificate of {len(data)} bytes")
    msg = cose.decode_sign1(data)
    cty = msg.protected_hdr.get(cose.HDR_CTY)
    ensure(isinstance(cty, str) and cty == CTY, "MALFORMED",
           f"code certificate: content type is not {CTY}")
    ensure(msg.payload is not None, "MALFORMED", "code certificate: detached payload")
    x5 = msg.protected_hdr.get(HDR_X5CHAIN)
    ensure(isinstance(x5, bytes), "MALFORMED", "code certificate: no issuer certificate (x5chain)")
    ensure(x5 == x509util.der(issuer), "POLICY",
           "code certificate: issued by another certificate than the issuer given")
    ensure(msg.protected_hdr.get(cose.HDR_CRIT) is None, "UNSUPPORTED",
           "code certificate: crit names labels this verifier does not understand")
    cose.verify_signature(cose.alg_of(msg.protected_hdr), issuer.public_key(), msg.protected,
                          msg.payload, msg.signature)
    m = cbor.loads(msg.payload)
    ensure(isinstance(m, cbor.Map) and len(m) == 8, "MALFORMED",
           "code certificate payload: not a map of 8 members")
    v = _key(m, 0, "version")
    ensure(type(v) is int and v == 1, "UNSUPPORTED", f"code certificate version {v!r}")
    out = {"code_id": _digest(_key(m, 1, "code_id"), "code_id")}
    art = _key(m, 2, "artifact")
    ensure(isinstance(art, cbor.Map) and len(art) == 2, "MALFORMED", "artifact: not a map of 2")
    out["artifact"] = {"path": _text(_key(art, 0, "path"), "artifact path"),
                       "sha256": _digest(_key(art, 1, "sha256"), "artifact sha256")}
    out["layout_sha256"] = _digest(_key(m, 3, "layout_sha256"), "layout_sha256")
    links = _key(m, 4, "links")
    ensure(isinstance(links, list), "MALFORMED", "links is not an array")
    for link in links:
        ensure(isinstance(link, cbor.Map) and len(link) == 2, "MALFORMED", "a link: not a map of 2")
        _text(_key(link, 0, "file"), "link file")
        _digest(_key(link, 1, "sha256"), "link sha256")
    steps = _key(m, 5, "steps")
    ensure(isinstance(steps, list), "MALFORMED", "steps is not an array")
    for s in steps:
        ensure(isinstance(s, cbor.Map) and len(s) == 3, "MALFORMED", "a step: not a map of 3")
        _text(_key(s, 0, "name"), "step name")
        _key_ids(_key(s, 1, "functionaries"), "functionaries")
        rv = _key(s, 2, "return_value")
        ensure(rv is None or type(rv) is int, "MALFORMED", "return_value is not an int or null")
    claims = _key(m, 6, "claims")
    ensure(isinstance(claims, cbor.Map), "MALFORMED", "claims is not a map")
    out["claims"] = {}
    for name, value in claims:
        _text(name, "claim name")
        if name == "tested":
            ensure(value is True, "MALFORMED", "claim \"tested\" is not true")
            value = "true"
        elif name == "reviewed_by":
            value = _key_ids(value, "reviewed_by")
        else:
            value = _text(value, f"claim {name}")
        out["claims"][name] = value
    at = _key(m, 7, "issued_at")
    ensure(type(at) is int and 0 <= at < 1 << 63, "MALFORMED", "issued_at is not a uint")
    out["issued_at"] = at
    return out


def meets(claims, required):
    """required: "NAME" (the claim is made) or "NAME=VALUE" (with that value;
    for reviewed_by: that key id among the reviewers)."""
    name, eq, value = required.partition("=")
    ensure(name, "INVALID_ARGUMENT", f"required claim {required!r}: expected NAME or NAME=VALUE")
    ensure(name in claims, "POLICY", f"the certificate makes no claim \"{name}\"")
    if not eq:
        return
    have = claims[name]
    if name == "reviewed_by":
        ensure(value in have, "POLICY", f"key {value} is not among the reviewers")
    else:
        ensure(have == value, "POLICY", f"claim \"{name}\" is \"{have}\", not \"{value}\"")


def check_certified(code_id, cert, policy):
    """A code id of a statement meets policy.issuers and policy.claims."""
    hexid = code_id.hex()[:16]
    ensure(cert is not None, "POLICY",
           f"code id {hexid}... has no code certificate, and the policy requires one")
    found = None
    for issuer in policy.issuers:
        try:
            found = verify(cert, issuer)
            break
        except ConsortError:
            continue
    ensure(found is not None, "POLICY",
           f"code id {hexid}...: its code certificate is not by an issuer the policy names")
    ensure(found["code_id"] == code_id, "POLICY",
           f"code id {hexid}...: its certificate is for another code id")
    for c in policy.claims:
        try:
            meets(found["claims"], c)
        except ConsortError as e:
            raise ConsortError(e.kind, f"code id {hexid}...: {e.message}") from None
