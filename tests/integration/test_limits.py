#!/usr/bin/env python3
"""Every limit a client can reach over HTTPS, at and beyond its value, against a
real node (issue 11, deliverable 8; the table is docs/operating.md "Every
limit"). At the cap the request is served (or reaches the next check, which
answers for its own reason); one byte or one item beyond, the answer is the
documented 4xx naming the cap, the node keeps serving, and its memory does not
grow with what was refused.

Caps covered elsewhere: connections per client address and in all, and the
deadlines (test_flood.py, test_slowloris.py); node-to-node messages and
snapshots (consensus unit tests, test_large_join.py); the constitution's Lua
budgets (tests/unit/gov/test_constitution_sandbox.c); the ledger chunk size
(test_ledger.py)."""

import json
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

BODY_MAX = 1 << 20  # CS_HTTP_DEFAULT_MAX_BODY_BYTES
HEADER_BYTES_MAX = 16 << 10  # CS_HTTP_DEFAULT_MAX_HEADER_BYTES
HEADERS_MAX = 100  # CS_HTTP_DEFAULT_MAX_HEADERS
GOV_REQUEST_MAX = 512 << 10  # CS_GOV_REQUEST_MAX
APP_MSG_MAX = 64 << 10  # the logging sample's MAX_MSG_LEN
RSS_GROWTH_MAX = 32 << 20  # what refusing 30 oversized uploads may cost, at most


def exchange(sb, data, cert=True):
    """Sends `data` on a fresh TLS connection and reads until the node closes it.
    Returns (status, parsed JSON body or None, raw bytes)."""
    host, port = sb.address(0).rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(sb.service_cert)
    if cert:
        ctx.load_cert_chain(sb.user_cert, sb.user_key)
    s = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=20))
    out = b""
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the node answered and closed before taking the whole upload
        while True:
            try:
                chunk = s.recv(65536)
            except (ssl.SSLError, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    check(out.startswith(b"HTTP/1.1 "), f"no HTTP answer: {out[:200]!r}")
    status = int(out[9:12])
    head, _, body = out.partition(b"\r\n\r\n")
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    return status, doc, out


def error_of(doc):
    check(isinstance(doc, dict) and "error" in doc, f"not an error body: {doc!r}")
    return doc["error"]["code"], doc["error"]["message"]


def post(path, body, ctype="application/json", extra=b""):
    return (f"POST {path} HTTP/1.1\r\nHost: node\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n").encode() + extra + b"\r\n" + body


def get(path, fields):
    """GET with `fields` (a list of (name, value)); returns the request and the
    header bytes the server counts: the target, and each field's name and value
    plus 4 (": " and CRLF)."""
    fields = [("Host", "node"), ("Connection", "close")] + fields
    req = f"GET {path} HTTP/1.1\r\n".encode()
    counted = len(path)
    for name, value in fields:
        req += f"{name}: {value}\r\n".encode()
        counted += len(name) + len(value) + 4
    return req + b"\r\n", counted


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise h.TestFailure(f"no VmRSS for pid {pid}")


def still_serves(sb, k):
    c = sb.client(0)
    r = c.post_json("/app/log/public", {"id": k, "msg": f"after limits {k}"})
    check(r.status == 200, f"honest write after the limits: {r!r}")
    r = c.get(f"/app/log/public?id={k}")
    check(r.status == 200 and r.json().get("msg") == f"after limits {k}",
          f"honest read after the limits: {r!r}")
    c.close()


def test_body_cap(env):
    with env.sandbox(nodes=1) as sb:
        # at the cap: taken whole and handed on (the app refuses 1 MiB of spaces as JSON)
        status, doc, _ = exchange(sb, post("/app/log/public", b" " * BODY_MAX))
        check(status == 400 and error_of(doc)[0] == "InvalidInput",
              f"a body of exactly {BODY_MAX} bytes: {status} {doc}")
        # one byte over, declared: 413 before the body is read
        status, doc, _ = exchange(sb, post("/app/log/public", b" " * (BODY_MAX + 1)))
        check(status == 413 and error_of(doc) == (
            "RequestTooLarge", f"HTTP request: body of {BODY_MAX + 1} bytes exceeds {BODY_MAX}"),
            f"a body of {BODY_MAX + 1} bytes: {status} {doc}")
        # over the cap in chunks: 413 once the chunks pass it
        chunked = (b"POST /app/log/public HTTP/1.1\r\nHost: node\r\nContent-Type: application/json"
                   b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        chunked += b"".join(b"10000\r\n" + b" " * 0x10000 + b"\r\n" for _ in range(17)) + b"0\r\n\r\n"
        status, doc, _ = exchange(sb, chunked)
        check(status == 413 and error_of(doc) == (
            "RequestTooLarge", f"HTTP request: body exceeds {BODY_MAX} bytes"),
            f"a chunked body of 17 x 64 KiB: {status} {doc}")
        # refusing uploads costs no memory that stays
        before = rss(sb.pid(0))
        for _ in range(30):
            status, _, _ = exchange(sb, post("/app/log/public", b" " * (2 * BODY_MAX)))
            check(status == 413, f"a 2 MiB upload: {status}")
        grown = rss(sb.pid(0)) - before
        h.log(f"resident memory after 30 refused 2 MiB uploads: {grown / 1024:+.0f} KiB")
        check(grown < RSS_GROWTH_MAX, f"resident memory grew {grown} bytes refusing uploads")
        still_serves(sb, 1)


def test_header_caps(env):
    with env.sandbox(nodes=1) as sb:
        base_req, base = get("/node/commit", [("X-Pad", "")])
        req, counted = get("/node/commit", [("X-Pad", "a" * (HEADER_BYTES_MAX - base))])
        check(counted == HEADER_BYTES_MAX, f"test arithmetic: {counted}")
        status, doc, _ = exchange(sb, req)
        check(status == 200, f"headers of exactly {HEADER_BYTES_MAX} counted bytes: {status} {doc}")
        req, counted = get("/node/commit", [("X-Pad", "a" * (HEADER_BYTES_MAX - base + 1))])
        status, doc, _ = exchange(sb, req)
        check(status == 431 and error_of(doc) == (
            "RequestHeaderTooLarge",
            f"HTTP request: request header fields exceed {HEADER_BYTES_MAX} bytes"),
            f"headers of {counted} counted bytes: {status} {doc}")
        # the field count: Host and Connection plus the X- fields
        req, _ = get("/node/commit", [(f"X-F{i}", "v") for i in range(HEADERS_MAX - 2)])
        status, doc, _ = exchange(sb, req)
        check(status == 200, f"{HEADERS_MAX} header fields: {status} {doc}")
        req, _ = get("/node/commit", [(f"X-F{i}", "v") for i in range(HEADERS_MAX - 1)])
        status, doc, _ = exchange(sb, req)
        check(status == 431 and error_of(doc) == (
            "RequestHeaderTooLarge", f"HTTP request: more than {HEADERS_MAX} header fields"),
            f"{HEADERS_MAX + 1} header fields: {status} {doc}")
        still_serves(sb, 2)


def test_application_and_governance_caps(env):
    with env.sandbox(nodes=1) as sb:
        msg = "m" * APP_MSG_MAX
        status, doc, _ = exchange(sb, post("/app/log/public", json.dumps(
            {"id": 7, "msg": msg}).encode()))
        check(status == 200, f"a message of exactly {APP_MSG_MAX} bytes: {status} {doc}")
        r = sb.client(0).get("/app/log/public?id=7")
        check(r.status == 200 and r.json().get("msg") == msg, "the 64 KiB message was not kept")
        status, doc, _ = exchange(sb, post("/app/log/public", json.dumps(
            {"id": 8, "msg": msg + "m"}).encode()))
        code, message = error_of(doc)
        check(status == 400 and str(APP_MSG_MAX) in message,
              f"a message of {APP_MSG_MAX + 1} bytes: {status} {doc}")
        # governance: the signed-request cap is checked before anything is decoded
        status, doc, _ = exchange(sb, post("/gov/proposals", b"\0" * GOV_REQUEST_MAX,
                                           "application/cose"), cert=False)
        code, message = error_of(doc)
        check(status == 400 and code == "MalformedRequest" and "limit" not in message,
              f"a governance request of exactly {GOV_REQUEST_MAX} bytes: {status} {doc}")
        status, doc, _ = exchange(sb, post("/gov/proposals", b"\0" * (GOV_REQUEST_MAX + 1),
                                           "application/cose"), cert=False)
        code, message = error_of(doc)
        check(status == 413 and code == "RequestTooLarge"
              and f"{GOV_REQUEST_MAX + 1} bytes, limit {GOV_REQUEST_MAX}" in message,
              f"a governance request of {GOV_REQUEST_MAX + 1} bytes: {status} {doc}")
        still_serves(sb, 3)


def test_pipelined_requests(env):
    """500 requests in one write: the server takes at most 64 at a time (it stops
    reading until answers drain) and answers every one, in order."""
    with env.sandbox(nodes=1) as sb:
        n = 500
        one = b"GET /node/state HTTP/1.1\r\nHost: node\r\n\r\n"
        last = b"GET /node/state HTTP/1.1\r\nHost: node\r\nConnection: close\r\n\r\n"
        _, _, out = exchange(sb, one * (n - 1) + last)
        answers = out.count(b"HTTP/1.1 200 OK\r\n")
        check(answers == n and out.count(b"HTTP/1.1 ") == n,
              f"{n} pipelined requests: {answers} answers of 200, "
              f"{out.count(b'HTTP/1.1 ')} in all")
        still_serves(sb, 4)


def test_unread_responses(env):
    """A client that pipelines reads of a 64 KiB record and never reads the
    answers: the node stops taking its requests once a few answers wait to be
    sent (it does not queue up to the 256 MiB a stream may hold), so memory
    stays bounded, and other clients are served meanwhile."""
    with env.sandbox(nodes=1) as sb:
        c = sb.client(0)
        r = c.post_json("/app/log/public", {"id": 9, "msg": "r" * APP_MSG_MAX})
        check(r.status == 200, f"the 64 KiB record: {r!r}")
        c.close()
        host, port = sb.address(0).rsplit(":", 1)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.load_verify_locations(sb.service_cert)
        ctx.load_cert_chain(sb.user_cert, sb.user_key)
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect((host, int(port)))
        s = ctx.wrap_socket(raw)
        s.settimeout(0.2)
        one = b"GET /app/log/public?id=9 HTTP/1.1\r\nHost: node\r\n\r\n"
        before = rss(sb.pid(0))
        sent, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 10:
            try:
                s.sendall(one * 64)
                sent += 64
            except (socket.timeout, ssl.SSLWantWriteError):
                pass  # the node stopped reading us: what the test wants
        grown = rss(sb.pid(0)) - before
        h.log(f"{sent} requests sent unread in 10 s; resident memory {grown / 1024:+.0f} KiB")
        check(grown < RSS_GROWTH_MAX,
              f"resident memory grew {grown >> 20} MiB for one client that reads no answers")
        still_serves(sb, 5)
        s.close()


if __name__ == "__main__":
    h.main([test_body_cap, test_header_caps, test_application_and_governance_caps,
            test_pipelined_requests, test_unread_responses])
