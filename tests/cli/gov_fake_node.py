#!/usr/bin/env python3
"""A stand-in for a node's governance API (docs/governance.md "The governance
API") for tests/cli/test_cli_gov.sh: HTTPS on 127.0.0.1 with the given
certificate, canned answers, and a log of every request it got.

usage: gov_fake_node.py CERT_PEM KEY_PEM PORT_FILE LOG_FILE

Writes its port to PORT_FILE once listening; appends one JSON line per request
to LOG_FILE: {"method", "path", "content_type", "body" (hex)}. Answers:

  POST /gov/proposals                200 {"proposal_id": "11..11", "state": "Open", ...}
  POST /gov/proposals/ff..ff/ballots 404 ProposalNotFound
  POST /gov/proposals/ID/ballots     200 {"proposal_id": ID, "state": "Accepted", ...}
  POST /gov/proposals/ID/withdraw    409 ProposalNotOpen
  GET  /gov/proposals, /gov/proposals/ID, /gov/members, /gov/service   200 JSON
  GET  /gov/constitution             200 text/x-lua
  GET  /gov/proposals/ee..ee         500 text/plain "internal trouble"
  anything else                      500 text/plain "internal trouble"
"""

import json
import os
import re
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ID = re.compile(r"^/gov/proposals/([0-9a-f]{64})(/ballots|/withdraw)?$")
NOT_FOUND_ID = "f" * 64
CONSTITUTION = "-- a fake constitution\nfunction validate(p) return true end\n"


def error(status, code, message):
    return status, "application/json", json.dumps({"error": {"code": code, "message": message}})


def answer(method, path):
    """(status, content type, body text) for a request."""
    m = ID.match(path)
    if method == "POST" and path == "/gov/proposals":
        return 200, "application/json", json.dumps(
            {"proposal_id": "1" * 64, "state": "Open", "transaction_id": "2.7"})
    if method == "POST" and m and m.group(2) == "/ballots":
        if m.group(1) == NOT_FOUND_ID:
            return error(404, "ProposalNotFound", f"no proposal {m.group(1)}")
        return 200, "application/json", json.dumps(
            {"proposal_id": m.group(1), "state": "Accepted", "transaction_id": "2.8"})
    if method == "POST" and m and m.group(2) == "/withdraw":
        return error(409, "ProposalNotOpen", f"proposal {m.group(1)} is Accepted, not Open")
    if method == "GET" and path == "/gov/proposals":
        return 200, "application/json", json.dumps(
            {"proposals": [{"proposal_id": "1" * 64, "proposer_id": "2" * 64,
                            "state": "Open", "ballot_count": 0}]})
    if method == "GET" and m and not m.group(2) and m.group(1) != "e" * 64:
        return 200, "application/json", json.dumps(
            {"proposal_id": m.group(1), "proposer_id": "2" * 64, "state": "Open", "seqno": 7,
             "proposal": {"actions": []}, "ballots": []})
    if method == "GET" and path == "/gov/members":
        return 200, "application/json", json.dumps({"members": [{"id": "2" * 64, "cert": "x"}]})
    if method == "GET" and path == "/gov/service":
        return 200, "application/json", json.dumps({"service_status": "Open", "nodes": []})
    if method == "GET" and path == "/gov/constitution":
        return 200, "text/x-lua", CONSTITUTION
    return 500, "text/plain", "internal trouble\n"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_one(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with open(self.server.log_file, "a") as f:
            f.write(json.dumps({"method": method, "path": self.path,
                                "content_type": self.headers.get("Content-Type"),
                                "body": body.hex()}) + "\n")
        status, ctype, text = answer(method, self.path)
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.handle_one("GET")

    def do_POST(self):
        self.handle_one("POST")

    def log_message(self, *args):
        pass


def main():
    cert, key, port_file, log_file = sys.argv[1:5]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.log_file = log_file
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
