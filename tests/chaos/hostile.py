#!/usr/bin/env python3
"""Hostile clients for the chaos harness, run inside a node's network
namespace (`nsenter ... python3 hostile.py MODE ADDRESS SECONDS ...`), straight
at the node, for a bounded time; prints one JSON line of what it saw.

  flood ADDRESS SECONDS SOURCES PER_SOURCE   unauthenticated TLS connections
      from 127.0.<k>.1 addresses, re-opened when the node closes them
      (tests/integration/flood.py)
  slowloris ADDRESS SECONDS COUNT SERVICE_CERT   COUNT TLS connections, each
      sending an HTTP request one byte a second
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from flood import Flood, tls_connect, trickle  # noqa: E402


def flood(address, seconds, sources, per_source):
    srcs = [f"127.0.{k + 10}.1" for k in range(sources)]
    f = Flood(address, srcs, per_source, hello=True, sustain=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.5)
    return f.stop()


def slowloris(address, seconds, count, service_cert):
    out = {"opened": 0, "closed_by_node": 0, "failed": 0}
    lock = threading.Lock()
    request = b"GET /node/state HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 4000

    def one():
        try:
            s = tls_connect(address, service_cert, timeout=5)
        except OSError:
            with lock:
                out["failed"] += 1
            return
        with lock:
            out["opened"] += 1
        closed_after, _, _ = trickle(s, request, 1.0, seconds)
        with lock:
            if closed_after is not None:
                out["closed_by_node"] += 1
        s.close()

    threads = [threading.Thread(target=one, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 15)
    return out


if __name__ == "__main__":
    mode, address, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if mode == "flood":
        res = flood(address, seconds, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "slowloris":
        res = slowloris(address, seconds, int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(f"hostile.py: unknown mode {mode!r}")
    print(json.dumps({"mode": mode, **res}), flush=True)
