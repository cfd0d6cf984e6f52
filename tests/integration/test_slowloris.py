#!/usr/bin/env python3
"""Slowloris (issue 11, failure 5): a client sending one byte a second kept a
connection open for hours, since every byte restarted the idle timer. The HTTP
server now has deadlines that bytes never restart (docs/operating.md "Connection
limits"): the header section of a request within http_header_timeout_ms of its
first byte, the whole request within http_request_timeout_ms, the next request's
first byte within http_idle_timeout_ms of the last answer; and a TLS handshake
within 10 s. A client late for a request deadline gets 408 and the connection
closes; honest clients on keep-alive connections are not disturbed.

The node runs with short deadlines (2 s headers, 4 s request, 3 s idle) so each
case shows the cut at the deadline and not before."""

import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402
from flood import tls_connect, trickle  # noqa: E402
from test_flood import metrics  # noqa: E402

HEADER_MS, REQUEST_MS, IDLE_MS = 2000, 4000, 3000
HANDSHAKE_S = 10  # CS_TLS_HANDSHAKE_TIMEOUT_MS
SLACK_S = 1.0  # timer and scheduling slack on a loaded 2-core machine
OPTS = ("--node-option", f"http_header_timeout_ms={HEADER_MS}",
        "--node-option", f"http_request_timeout_ms={REQUEST_MS}",
        "--node-option", f"http_idle_timeout_ms={IDLE_MS}")


def within(t, deadline_s, what):
    check(t is not None, f"{what}: still open after the deadline of {deadline_s} s")
    check(deadline_s - 0.2 <= t <= deadline_s + SLACK_S,
          f"{what}: closed after {t:.2f} s, the deadline is {deadline_s} s")


def slow_headers(sb, results):
    """Headers one byte every 0.25 s: 408 at the header deadline."""
    s = tls_connect(sb.address(0), sb.service_cert)
    t, sent, got = trickle(s, b"GET /node/state HTTP/1.1\r\nHost: node\r\nX-Slow: " + b"a" * 200,
                           0.25, HEADER_MS / 1000 + 10)
    s.close()
    results["headers"] = (t, sent, got)


def slow_body(sb, results):
    """Headers at once, then the body one byte every 0.25 s: 408 at the request deadline."""
    s = tls_connect(sb.address(0), sb.service_cert)
    s.sendall(b"POST /app/log/public HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100\r\n\r\n")
    t, sent, got = trickle(s, b"{" + b" " * 99, 0.25, REQUEST_MS / 1000 + 10)
    s.close()
    results["request"] = (t, sent, got)


def idle_after_answer(sb, results):
    """One request answered, then silence: closed at the idle deadline (no 408)."""
    s = tls_connect(sb.address(0), sb.service_cert)
    s.sendall(b"GET /node/commit HTTP/1.1\r\nHost: node\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got or not got.rstrip().endswith(b"}"):
        got += s.recv(65536)
    t0 = time.monotonic()
    s.settimeout(IDLE_MS / 1000 + 10)
    rest = s.recv(65536)
    results["idle"] = (time.monotonic() - t0, got, rest)
    s.close()


def silent_tcp(sb, results):
    """TCP only, never a ClientHello: cut by the TLS handshake timeout."""
    host, port = sb.address(0).rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=HANDSHAKE_S + 10)
    t0 = time.monotonic()
    data = s.recv(1)
    results["handshake"] = (time.monotonic() - t0, data)
    s.close()


def honest_keepalive(sb, results):
    """An honest client on one keep-alive connection, a request every second for 8 s:
    it is never cut (each answer starts a fresh idle wait)."""
    c = sb.client(0)
    ok = 0
    for _ in range(8):
        r = c.get("/node/commit")
        check(r.status == 200, f"honest request: {r!r}")
        ok += 1
        time.sleep(1.0)
    results["honest"] = (ok, c.conn is not None)
    c.close()


def test_slowloris(env):
    with env.sandbox(nodes=1, extra_args=OPTS) as sb:
        results, errors = {}, []

        def run(fn):
            try:
                fn(sb, results)
            except Exception as e:  # reported on the test's thread
                errors.append(e)

        threads = [threading.Thread(target=run, args=(fn,))
                   for fn in (slow_headers, slow_body, idle_after_answer, silent_tcp,
                              honest_keepalive)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        if errors:
            raise errors[0]
        h.log(f"results: { {k: v[:2] for k, v in results.items()} }")

        t, sent, got = results["headers"]
        within(t, HEADER_MS / 1000, "slow header section")
        check(got.startswith(b"HTTP/1.1 408 ") and b"RequestTimeout" in got,
              f"slow headers: expected a 408, got {got[:200]!r}")
        check(sent < 200, f"slow headers: {sent} bytes sent, the headers were never complete")

        t, sent, got = results["request"]
        within(t, REQUEST_MS / 1000, "slow body")
        check(got.startswith(b"HTTP/1.1 408 ") and b"RequestTimeout" in got,
              f"slow body: expected a 408, got {got[:200]!r}")

        t, answer, rest = results["idle"]
        within(t, IDLE_MS / 1000, "idle keep-alive connection")
        check(answer.startswith(b"HTTP/1.1 200 ") and rest == b"",
              f"idle: answer {answer[:80]!r}, then {rest[:80]!r} instead of the close")

        t, data = results["handshake"]
        within(t, HANDSHAKE_S, "silent TCP connection (TLS handshake)")
        check(data == b"", f"silent TCP: got {data!r}")

        ok, still_open = results["honest"]
        check(ok == 8 and still_open, "the honest keep-alive client was cut")

        m = metrics(sb.client(0))
        for deadline in ("header", "request", "idle"):
            n = m.get(f'consort_rpc_connection_timeouts_total{{deadline="{deadline}"}}', 0)
            check(n >= 1, f"no {deadline} timeout counted in /node/metrics: {m}")
        check(not h.log_lines(sb.log_path(0), " 408: "),
              "a 408 was logged at info level (a slowloris flood would flood the log)")


def still_open(s):
    """True if the node has neither answered nor closed `s` (a non-blocking SSLSocket)."""
    try:
        s.recv(4096)  # the 408, or the end of the stream
    except ssl.SSLWantReadError:
        return True
    except OSError:
        pass
    return False


def test_slowloris_flood(env):
    """200 slowloris connections from one address, a byte a second each: all are cut at
    the header deadline, freeing their slots, and an honest client is served all along."""
    with env.sandbox(nodes=1, extra_args=OPTS) as sb:
        slow = b"GET /node/state HTTP/1.1\r\nHost: node\r\nX-Slow: " + b"a" * 100
        socks = [tls_connect(sb.address(0), sb.service_cert, source="127.0.0.2")
                 for _ in range(200)]
        t0 = time.monotonic()
        for s in socks:
            s.sendall(slow[:1])
            s.setblocking(False)
        sent = 1
        honest = sb.client(0)
        tick = 0
        while socks and time.monotonic() - t0 < HEADER_MS / 1000 + 10:
            if tick % 5 == 0:  # every second: the honest client is served, each slow one sends a byte
                check(honest.get("/node/commit").status == 200, "honest client not served")
            alive = []
            for s in socks:
                if still_open(s):
                    if tick % 5 == 0:
                        try:
                            s.send(slow[sent:sent + 1])
                        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                            pass
                        except OSError:
                            s.close()
                            continue
                    alive.append(s)
                    continue
                s.close()
            socks = alive
            if tick % 5 == 0:
                sent += 1
            tick += 1
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        check(not socks, f"{len(socks)} slowloris connections still open after {elapsed:.1f} s")
        check(elapsed <= HEADER_MS / 1000 + 0.4 + SLACK_S,
              f"slowloris connections held {elapsed:.1f} s (header deadline {HEADER_MS} ms)")
        m = metrics(honest)
        h.log(f"200 slowloris connections cut within {elapsed:.1f} s; timeouts: "
              f"{ {k: v for k, v in m.items() if 'timeouts' in k} }")
        check(m.get('consort_rpc_connection_timeouts_total{deadline="header"}', 0) >= 200,
              f"header timeouts: {m}")
        honest.close()


if __name__ == "__main__":
    sys.exit(h.main([test_slowloris, test_slowloris_flood]))
