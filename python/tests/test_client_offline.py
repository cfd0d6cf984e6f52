"""The client's HTTPS and waiting rules against a stand-in node on loopback
(no consort processes): the node authenticated by its chain to the pinned
service certificate and refused otherwise, the client certificate presented,
bodies capped, and wait_for_commit / receipt following 202, 503 and 404 as
docs/consistency.md and docs/http-api.md say.

    python3 python/tests/test_client_offline.py --consort build/tools/consort
"""

import hashlib
import http.server
import json
import os
import ssl
import tempfile
import threading
import time
import unittest

import agreement
import fakeservice
from cryptography.hazmat.primitives import serialization
from consort import Client, ConsortError, HttpError, client as client_mod

ARGS, UNITTEST_ARGV = agreement.parse_args() if __name__ == "__main__" else (None, None)


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class FakeNode:
    """An HTTPS server with a node certificate of `service`; answers from a
    script: path prefix -> list of (status, headers, body), the last repeated."""

    def __init__(self, tmp, service, client_ca_pem):
        key, pem = service.node()
        paths = {}
        for name, data in (("node.pem", pem.encode()), ("node.key", _pem_key(key)),
                           ("ca.pem", client_ca_pem.encode())):
            paths[name] = os.path.join(tmp, name)
            with open(paths[name], "wb") as f:
                f.write(data)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(paths["node.pem"], paths["node.key"])
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(paths["ca.pem"])
        self.script, self.seen = {}, []
        node = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                peer = self.connection.getpeercert(binary_form=True)
                node.seen.append((self.path, hashlib.sha256(peer).hexdigest() if peer else None))
                for prefix, answers in node.script.items():
                    if self.path.startswith(prefix):
                        status, headers, body = answers.pop(0) if len(answers) > 1 else answers[0]
                        break
                else:
                    status, headers, body = 404, {}, b"{}"
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.address = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def tx(status, txid="2.5"):
    return json.dumps({"transaction_id": txid, "status": status}).encode()


class ClientRules(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="consort-py-client-")
        self.service = fakeservice.Service()
        self.user = fakeservice.Service(ca=False, name="user0")  # self-signed, as a user's is
        self.files = {}
        for name, data in (("service.pem", self.service.pem.encode()),
                           ("user.pem", self.user.pem.encode()),
                           ("user.key", _pem_key(self.user.key))):
            self.files[name] = os.path.join(self.tmp.name, name)
            with open(self.files[name], "wb") as f:
                f.write(data)
        self.node = FakeNode(self.tmp.name, self.service, self.user.pem)

    def tearDown(self):
        self.node.close()
        self.tmp.cleanup()

    def client(self, service_pem=None, cert=True):
        return Client(self.node.address, service_pem or self.files["service.pem"],
                      self.files["user.pem"] if cert else None,
                      self.files["user.key"] if cert else None, timeout=10)

    def test_pinning_and_client_certificate(self):
        self.node.script["/node/state"] = [(200, {}, b'{"state": "PartOfNetwork"}')]
        self.assertEqual(self.client().get_json("/node/state")["state"], "PartOfNetwork")
        self.assertEqual(self.node.seen[-1][1], hashlib.sha256(self.user.der).hexdigest())
        self.client(cert=False).get_json("/node/state")
        self.assertIsNone(self.node.seen[-1][1])
        other = os.path.join(self.tmp.name, "other.pem")
        with open(other, "w") as f:
            f.write(fakeservice.Service().pem)
        with self.assertRaises(ConsortError) as cm:
            self.client(other).get_json("/node/state")
        self.assertEqual(cm.exception.kind, "BAD_CERTIFICATE")
        with self.assertRaises(ConsortError) as cm:
            Client(self.node.address, self.files["service.pem"], self.files["user.pem"], None)
        self.assertEqual(cm.exception.kind, "INVALID_ARGUMENT")

    def test_answers_are_capped(self):
        self.node.script["/big"] = [(200, {}, b"x" * (client_mod.BODY_MAX + 1))]
        with self.assertRaises(ConsortError) as cm:
            self.client().request("GET", "/big")
        self.assertEqual(cm.exception.kind, "TOO_LARGE")

    def test_wait_for_commit_follows_202_and_503_to_200(self):
        self.node.script["/node/tx"] = [
            (503, {"Retry-After": "1"}, b'{"error": {"code": "ServiceUnavailable"}}'),
            (202, {"Retry-After": "1"}, tx("Unknown")), (202, {"Retry-After": "0"}, tx("Pending")),
            (200, {}, tx("Committed"))]
        t0 = time.monotonic()
        self.assertEqual(self.client(cert=False).wait_for_commit("2.5", timeout=20), "Committed")
        self.assertEqual(len([p for p, _ in self.node.seen if p.startswith("/node/tx")]), 4)
        self.assertGreaterEqual(time.monotonic() - t0, 2.0)  # Retry-After honoured

    def test_wait_for_commit_stops_at_invalid_and_on_time(self):
        self.node.script["/node/tx"] = [(404, {}, tx("Invalid"))]
        with self.assertRaises(ConsortError) as cm:
            self.client().wait_for_commit("2.5")
        self.assertEqual(cm.exception.kind, "POLICY")
        self.node.script["/node/tx"] = [(202, {"Retry-After": "1"}, tx("Pending"))]
        t0 = time.monotonic()
        with self.assertRaises(ConsortError) as cm:
            self.client().wait_for_commit("2.5", timeout=2.5)
        self.assertEqual(cm.exception.kind, "TIMEOUT")
        self.assertLess(time.monotonic() - t0, 5)
        self.node.script["/node/tx"] = [(400, {}, b'{"error": {"code": "InvalidInput"}}')]
        with self.assertRaises(HttpError):
            self.client().wait_for_commit("2.5")
        with self.assertRaises(ConsortError) as cm:
            self.client().wait_for_commit("2.05")
        self.assertEqual(cm.exception.kind, "MALFORMED")

    def test_receipt_waits_for_a_signature_and_stops_at_404_and_410(self):
        self.node.script["/app/receipt"] = [(202, {"Retry-After": "0"}, b"{}"),
                                            (503, {"Retry-After": "0"}, b"{}"),
                                            (200, {}, b'{"txid": "2.5"}')]
        self.assertEqual(json.loads(self.client().receipt("2.5"))["txid"], "2.5")
        for status in (404, 410):
            self.node.script["/app/receipt"] = [(status, {}, b'{"error": {"code": "X"}}')]
            with self.assertRaises(HttpError) as cm:
                self.client().receipt("2.5")
            self.assertEqual(cm.exception.response.status, status)


if __name__ == "__main__":
    agreement.run_tests(UNITTEST_ARGV)
