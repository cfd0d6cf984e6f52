"""HTTPS to a consort service: TLS 1.3 pinned to the service certificate,
a user's or member's client certificate, one request per connection."""

import http.client
import json
import os
import secrets
import ssl
import time

from . import e2e, gov, receipt, x509util
from .errors import ConsortError, ensure

BODY_MAX = 8 << 20
WAIT_STEP_MAX = 1.0


class Response:
    """status (int), headers (lower-case names), body (bytes)."""

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return receipt.strict_json(self.body)

    @property
    def txid(self):
        return self.headers.get("x-consort-txid")

    def error_code(self):
        try:
            return self.json()["error"]["code"]
        except (ConsortError, KeyError, TypeError):
            return None

    def __repr__(self):
        return f"Response({self.status}, {self.body[:200]!r})"


class HttpError(ConsortError):
    """The service answered with a status the call does not accept."""

    def __init__(self, method, path, response):
        self.response = response
        code = response.error_code()
        super().__init__("HTTP", f"{method} {path}: HTTP {response.status}"
                                 + (f" {code}" if code else "")
                                 + f": {response.body[:300].decode(errors='replace')}")


class Client:
    """A client of one node (address "host:port").

    service_cert: the pinned service certificate (PEM path, PEM text or
    bytes); cert/key: the client certificate and key (PEM paths or text),
    a registered user's or member's, or None for the endpoints anyone may
    call. The server is authenticated by its certificate's chain to the
    service certificate, not by a host name (node certificates name the
    node, not an address)."""

    def __init__(self, address, service_cert, cert=None, key=None, timeout=30.0):
        host, _, port = address.rpartition(":")
        ensure(host and port.isdigit(), "INVALID_ARGUMENT", f"address {address!r}: not host:port")
        self.host, self.port = host.strip("[]"), int(port)
        self.address = address
        self.timeout = timeout
        self.service_pem = _pem_text(service_cert)
        self.service_cert = x509util.load_certificate(self.service_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.check_hostname = False  # the chain to the pinned certificate authenticates
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=self.service_pem)
        ctx.set_alpn_protocols(["http/1.1"])
        self.cert_path = self.key_path = None
        if (cert is None) != (key is None):
            raise ConsortError("INVALID_ARGUMENT", "a client certificate needs its key, and back")
        if cert is not None:
            ensure(os.path.exists(cert) and os.path.exists(key), "INVALID_ARGUMENT",
                   "cert and key are paths of PEM files")
            ctx.load_cert_chain(cert, key)
            self.cert_path, self.key_path = cert, key
        self.ctx = ctx

    @classmethod
    def from_workspace(cls, workspace, identity="user0", node=0, timeout=30.0):
        """A client of node `node` of a `consort sandbox` workspace, as
        identity (user0, member0, ...; None: no client certificate)."""
        with open(os.path.join(workspace, "nodes.json")) as f:
            address = json.load(f)[node]["rpc_address"]
        cert = key = None
        if identity is not None:
            cert = os.path.join(workspace, f"{identity}_cert.pem")
            key = os.path.join(workspace, f"{identity}_privk.pem")
        return cls(address, os.path.join(workspace, "service_cert.pem"), cert, key, timeout)

    # ------------------------------------------------------------ requests

    def request(self, method, path, body=None, headers=None, content_type=None):
        """One request; returns a Response whatever its status. ConsortError
        IO if there was no answer (the request may or may not have run)."""
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json"
        elif isinstance(body, str):
            body = body.encode()
        if content_type:
            hdrs["Content-Type"] = content_type
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                           timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read(BODY_MAX + 1)
            ensure(len(data) <= BODY_MAX, "TOO_LARGE",
                   f"{method} {path}: an answer of more than {BODY_MAX} bytes")
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        except ssl.SSLCertVerificationError as e:
            raise ConsortError("BAD_CERTIFICATE", f"{method} https://{self.address}{path}: the "
                               f"node's certificate does not chain to the service "
                               f"certificate: {e}") from None
        except (OSError, http.client.HTTPException) as e:
            raise ConsortError("IO", f"{method} https://{self.address}{path}: {e}") from None
        finally:
            conn.close()

    def call(self, method, path, body=None, headers=None, content_type=None, ok=(200,)):
        """request(), and HttpError unless the status is in ok."""
        r = self.request(method, path, body, headers, content_type)
        if r.status not in ok:
            raise HttpError(method, path, r)
        return r

    def get_json(self, path, headers=None):
        return self.call("GET", path, headers=headers).json()

    def post_json(self, path, doc, headers=None):
        """POSTs doc as JSON; returns the Response (2xx only)."""
        return self.call("POST", path, doc, headers, ok=range(200, 300))

    # ------------------------------------------------------------ transactions

    def tx_status(self, txid):
        """GET /node/tx: "Committed", "Pending", "Unknown" or "Invalid"."""
        receipt.parse_txid(txid)
        r = self.call("GET", f"/node/tx?transaction_id={txid}", ok=(200, 202, 404))
        return r.json()["status"]

    def wait_for_commit(self, txid, timeout=30.0):
        """Waits until txid is Committed (returns) or can never commit
        (ConsortError POLICY, status Invalid); TIMEOUT after timeout seconds.
        Follows the service's answers: 202 (and 503, a node that cannot answer
        for now) mean wait (Retry-After) and ask again, 200 and 404 are final
        (docs/consistency.md)."""
        receipt.parse_txid(txid)
        deadline = time.monotonic() + timeout
        while True:
            r = self.call("GET", f"/node/tx?transaction_id={txid}", ok=(200, 202, 404, 503))
            status = r.json()["status"] if r.status != 503 else "unanswered (503)"
            if r.status == 200:
                return status
            ensure(r.status != 404, "POLICY", f"transaction {txid} will never commit ({status})")
            _pause(r, deadline, f"transaction {txid} still {status} after {timeout} s")

    def commit(self):
        """GET /node/commit: the last transaction id this node committed."""
        return self.get_json("/node/commit")["transaction_id"]

    def receipt(self, txid, timeout=30.0):
        """GET /app/receipt for txid, waiting while the service answers 202
        (not committed, or no signature covers it yet) or 503; returns the JSON text.
        404 or 410: HttpError. Needs a user or member certificate."""
        receipt.parse_txid(txid)
        deadline = time.monotonic() + timeout
        while True:
            r = self.call("GET", f"/app/receipt?transaction_id={txid}", ok=(200, 202, 503))
            if r.status == 200:
                return r.body.decode()
            _pause(r, deadline, f"no receipt for {txid} after {timeout} s")

    def verified_receipt(self, txid, timeout=30.0, claims_digest=None):
        """receipt(), verified offline against the pinned service certificate."""
        text = self.receipt(txid, timeout)
        return receipt.verify_receipt(text, self.service_cert, claims_digest=claims_digest,
                                      txid=txid)

    # ------------------------------------------------------------ handling statements

    def attested_request(self, method, path, body=None, headers=None, content_type=None,
                         nonce=None):
        """A request that asks for a handling statement (x-consort-attest with
        a fresh random nonce); returns (Response, nonce hex, statement or None)."""
        nonce = nonce or secrets.token_hex(16)
        hdrs = dict(headers or {})
        hdrs["x-consort-attest"] = nonce
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json"
        r = self.request(method, path, body, hdrs, content_type)
        return r, nonce, r.headers.get("x-consort-handling-statement")

    def verified_request(self, method, path, body=None, headers=None, content_type=None,
                         policy=None):
        """attested_request(), with its statement verified against what was sent
        and received and the policy; returns (Response, report)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json"
        elif isinstance(body, str):
            body = body.encode()
        r, nonce, stmt = self.attested_request(method, path, body, headers, content_type)
        ensure(stmt is not None, "POLICY", f"{method} {path}: the answer carries no handling "
                                           f"statement")
        report = e2e.verify_statement(stmt, self.service_cert, nonce, method, path, r.status,
                                      body or b"", r.body, policy)
        return r, report


class Member:
    """A member's governance requests, signed with its key and sent through
    a Client (any client certificate, or none: the signature authenticates)."""

    def __init__(self, client, cert, key):
        self.client = client
        self.cert = x509util.load_certificate(_read(cert))
        self.key = gov.load_private_key(_read(key))
        self.id = gov.member_id(self.cert)

    @classmethod
    def from_workspace(cls, workspace, name="member0", node=0):
        c = Client.from_workspace(workspace, None, node)
        return cls(c, os.path.join(workspace, f"{name}_cert.pem"),
                   os.path.join(workspace, f"{name}_privk.pem"))

    def submit(self, signed, msg_type, proposal_id=None):
        """POSTs a signed request; returns the answer's JSON (HttpError on refusal)."""
        return self.client.call("POST", gov.endpoint(msg_type, proposal_id), signed,
                                content_type="application/cose").json()

    def propose(self, proposal):
        """proposal: {"actions": [...]} (or a list of actions); returns
        {"proposal_id", "state", "transaction_id"}."""
        if isinstance(proposal, list):
            proposal = {"actions": proposal}
        return self.submit(gov.sign_request(self.key, self.cert, "proposal", proposal),
                           "proposal")

    def vote(self, proposal_id, accept):
        payload = b'{"vote":true}' if accept else b'{"vote":false}'
        return self.submit(gov.sign_request(self.key, self.cert, "ballot", payload, proposal_id),
                           "ballot", proposal_id)

    def withdraw(self, proposal_id):
        return self.submit(gov.sign_request(self.key, self.cert, "withdrawal", b"", proposal_id),
                           "withdrawal", proposal_id)

    def proposal(self, proposal_id):
        return self.client.get_json(f"/gov/proposals/{proposal_id}")


def _pause(r, deadline, why):
    try:
        step = min(float(r.headers.get("retry-after", "1")), WAIT_STEP_MAX)
    except ValueError:
        step = WAIT_STEP_MAX
    ensure(time.monotonic() + step <= deadline, "TIMEOUT", why)
    time.sleep(max(step, 0.05))


def _read(x):
    if isinstance(x, (bytes, bytearray)) or (isinstance(x, str) and "-----BEGIN" in x):
        return x
    with open(x, "rb") as f:
        return f.read()


def _pem_text(x):
    data = _read(x)
    return data.decode() if isinstance(data, (bytes, bytearray)) else data
