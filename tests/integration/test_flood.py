#!/usr/bin/env python3
"""Connection floods (issue 11, failure 1). A client without any certificate opening
about 20,000 TLS connections made a node exit ("Too many open files"); with a 1,024
open-file limit about 1,100 connections stopped its Raft. A node now raises its
open-file limit at start, keeps a reserve of descriptors for its ledger, Raft and node
channels, and caps client connections per client address and in total
(docs/operating.md "Connection limits"): at its cap it closes new connections at
accept, counts them in /node/metrics, logs a summary at most every 10 s, and keeps
replicating and serving the clients it holds.

Each test floods with unauthenticated connections from 127.0.0.x source addresses
(never 127.0.0.1, the honest clients' address), held open by worker processes and
reopened whenever the node closes them, while writes go through another node: they
must commit, and the flooded node must apply them and answer an honest client.

CONSORT_FLOOD_CONNECTIONS sets the size of the big flood (default 20000, the figure
of the issue)."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402
from flood import Flood, tls_connect  # noqa: E402

BIG_FLOOD = int(os.environ.get("CONSORT_FLOOD_CONNECTIONS", "20000"))
FLOOD_SECONDS = 10  # how long a flood is held while the checks run
LOG_INTERVAL_S = 10  # the node summarises refusals at most this often


def sources(first, count):
    return [f"127.0.0.{first + i}" for i in range(count)]


def metrics(client):
    """/node/metrics as {"name{labels}": value}."""
    r = client.get("/node/metrics")
    check(r.status == 200, f"/node/metrics: {r!r}")
    out = {}
    for line in r.body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[re.sub(r'node="[0-9a-f]+",?', "", name).replace("{}", "")] = float(value)
    return out


def refused(m, reason):
    return m.get(f'consort_rpc_connections_refused_total{{reason="{reason}"}}', 0)


def honest_new_connection(sb, i):
    """Whether a new honest client (user certificate, from 127.0.0.1) is served."""
    c = sb.client(i)
    c.timeout = 5
    try:
        return c.get("/node/state").status == 200
    except OSError:
        return False
    finally:
        c.close()


def replicates(sb, writer, victims, honest, rounds=5):
    """Writes through `writer` commit, and every node of `victims` applies them: read
    back through the honest client already connected to it (honest[v]). Returns the
    longest time (s) from a write's answer to a victim serving it."""
    worst = 0.0
    for n in range(rounds):
        k = int(time.time() * 1000) % 1_000_000_000 + n
        r = writer.post_json("/app/log/private", {"id": k, "msg": f"flood-{k}"})
        check(r.status == 200 and r.txid, f"write {k} through node {writer.address}: {r!r}")
        t0 = time.monotonic()
        for v in victims:
            def applied():
                resp = honest[v].get(f"/app/log/private?id={k}")
                return resp.status == 200 and resp.json().get("msg") == f"flood-{k}"
            h.wait_until(applied, 10, f"node {v} (flooded) to apply write {k} ({r.txid})", 0.05)
        worst = max(worst, time.monotonic() - t0)
        time.sleep(FLOOD_SECONDS / rounds / 2)
    return worst


def flood_and_check(sb, victims, start_floods, writer_index):
    """Connects an honest client to each of `victims`, then starts the floods
    (start_floods() returns them) and holds them for FLOOD_SECONDS while writes go
    through node `writer_index`; checks the victims stay up, replicate and serve the
    honest clients. Returns the victims' metrics."""
    honest = {v: sb.client(v) for v in victims}
    for v in victims:
        honest[v].get_json("/node/state")  # connected before the flood
    writer = sb.client(writer_index)
    writer.get_json("/node/state")
    floods = start_floods()
    try:
        for f in floods:
            t = f.wait_opened(timeout=60)
            h.log(f"flood of {f.total} connections opened: {t}")
        t0 = time.monotonic()
        worst, writes = 0.0, 0
        while time.monotonic() - t0 < FLOOD_SECONDS:
            worst = max(worst, replicates(sb, writer, victims, honest))
            writes += 5
            for v in victims:
                check(sb.alive(v), f"node {v} died under the flood:\n{h.tail(sb.log_path(v))}")
                st = honest[v].get_json("/node/state")
                check(st.get("state") == "PartOfNetwork", f"node {v} under the flood: {st}")
        h.log(f"{writes} writes through node {writer_index} committed and applied by the "
              f"flooded nodes {victims}, each within {worst:.2f} s of its answer")
        for f in floods:
            h.log(f"flood totals while held: {f.totals()}")
        out = {v: metrics(honest[v]) for v in victims}
        for v in victims:
            rss, hwm = memory_kib(sb.pid(v))
            m = out[v]
            h.log(f"node {v} under the flood: {m['consort_rpc_connections_open']:.0f} client "
                  f"connections open (cap {m['consort_rpc_connections_max']:.0f}), refused "
                  f"{refused(m, 'per_address'):.0f} per address + {refused(m, 'total'):.0f} in "
                  f"all, {m['consort_rpc_accept_errors_total']:.0f} accept errors; memory "
                  f"{rss // 1024} MiB (peak {hwm // 1024} MiB)")
    finally:
        for f in floods:
            h.log(f"flood stopped: {f.stop()}")
        for c in list(honest.values()) + [writer]:
            c.close()
    for v in victims:
        h.wait_until(lambda: honest_new_connection(sb, v), 30,
                     f"node {v} to serve a new client after the flood")
    return out


def memory_kib(pid):
    """(VmRSS, VmHWM) of a process in KiB: its memory now and at its peak."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


def refusal_log_lines(sb, i):
    return h.log_lines(sb.log_path(i), "refus", "connection")


def test_flood_at_1024_open_files(env):
    """The issue's second case: nodes whose open-file limit is 1,024 (hard limit too, so
    it cannot be raised), two followers of three flooded with 2,000 connections each.
    Tiny ledger chunks make the nodes open files all the time (a new chunk at every
    signature), which is what failed at the limit."""
    with env.sandbox(nodes=3, nofile=1024,
                     extra_args=("--node-option", "ledger_chunk_bytes=1024")) as sb:
        leader = sb.wait_leader()
        victims = [i for i in range(3) if i != leader]
        m = flood_and_check(sb, victims,
                            lambda: [Flood(sb.address(v), sources(2, 4), 500) for v in victims],
                            leader)
        for v in victims:
            total = refused(m[v], "total")
            h.log(f"node {v}: refused {total:.0f} at the total cap; "
                  f"open {m[v].get('consort_rpc_connections_open')}")
            check(total > 0, f"node {v}: no connection refused at the total cap: {m[v]}")
            check(m[v].get("consort_rpc_connections_max") <= 1024 - 256,
                  f"node {v}: the cap leaves no reserve under 1024 open files: {m[v]}")


def test_flood_caps_per_address_and_total(env):
    """Small caps (40 per address, 300 in all) against one follower: five flooding
    addresses get 40 connections each and new honest clients are still served; ten more
    fill the total cap: new clients are refused, the clients already connected are
    served, the node replicates; a summary line every 10 s at most, never one per
    refused connection."""
    opts = ("--node-option", "max_client_connections=300",
            "--node-option", "max_client_connections_per_address=40")
    with env.sandbox(nodes=3, extra_args=opts) as sb:
        leader = sb.wait_leader()
        v = next(i for i in range(3) if i != leader)
        honest = sb.client(v)
        honest.get_json("/node/state")
        t0 = time.monotonic()
        # 1. five addresses, 100 connections each: 40 each are held, the rest refused.
        # (What the flooding clients see cannot tell: connections waiting in the
        # kernel's accept queue look open to them. The node's metrics can.)
        with Flood(sb.address(v), sources(2, 5), 100) as f1:
            f1.wait_opened(timeout=30)
            # both the refusals and the accepted 40 per address: under load
            # the refusals of some addresses can come before all of another's
            # accepts (seen once in CI: 150 open when the refusals were in)
            h.wait_until(lambda: (lambda m: refused(m, "per_address") >= 5 * 60 and
                                  m["consort_rpc_connections_open"] > 5 * 40)(metrics(honest)),
                         15, "refusals at the per-address cap and 40 held per address")
            m = metrics(honest)
            check(m.get("consort_rpc_connections_max_per_address") == 40
                  and m.get("consort_rpc_connections_max") == 300, f"caps: {m}")
            # the five addresses hold 40 each, plus the honest client
            check(5 * 40 < m["consort_rpc_connections_open"] <= 5 * 40 + 3, f"open: {m}")
            check(refused(m, "total") == 0, f"refused at the total cap too early: {m}")
            check(honest_new_connection(sb, v),
                  "a new honest client was refused while only the per-address cap was reached")
            h.log(f"per-address cap: {m['consort_rpc_connections_open']:.0f} open, "
                  f"{refused(m, 'per_address'):.0f} refused")
            # 2. ten more addresses: the total cap (300) is reached
            with Flood(sb.address(v), sources(7, 10), 40) as f2:
                f2.wait_opened(timeout=30)
                h.wait_until(lambda: refused(metrics(honest), "total") > 0, 8,
                             "refusals at the total cap")
                m = metrics(honest)
                check(m["consort_rpc_connections_open"] == 300, f"open at the total cap: {m}")
                check(not honest_new_connection(sb, v),
                      "a new client was served although the total cap was reached")
                replicates(sb, sb.client(leader), [v], {v: honest})
                check(honest.get_json("/node/state").get("state") == "PartOfNetwork",
                      "the established honest client is not served at the total cap")
                m = metrics(honest)
                h.log(f"total cap: {m['consort_rpc_connections_open']:.0f} open, refused "
                      f"{refused(m, 'per_address'):.0f} per address, {refused(m, 'total'):.0f} "
                      f"in all")
        elapsed = time.monotonic() - t0
        h.wait_until(lambda: honest_new_connection(sb, v), 30,
                     "a new honest client to be served after the flood")
        lines = refusal_log_lines(sb, v)
        total_refused = refused(metrics(honest), "total") + refused(metrics(honest), "per_address")
        h.log(f"{total_refused:.0f} refusals logged in {len(lines)} lines over {elapsed:.1f} s:\n"
              + "\n".join(lines))
        check(0 < len(lines) <= elapsed / LOG_INTERVAL_S + 3,
              f"{len(lines)} log lines about refusals in {elapsed:.1f} s (at most one per "
              f"{LOG_INTERVAL_S} s after the first)")
        honest.close()


def test_flood_20000_connections(env):
    """The issue's first case and the done-when figure: 20,000 unauthenticated
    connections against one node, held for 10 s while writes go through the leader.
    Default caps; the nodes' hard open-file limit is 16,384, below the flood, as on
    the host of the report (their soft limit starts at 1,024 and consortd raises it).
    Tiny ledger chunks, as above, make the node need new descriptors all along."""
    per_source = 1000
    count = max(1, BIG_FLOOD // per_source)
    with env.sandbox(nodes=3, nofile=16384,
                     extra_args=("--node-option", "ledger_chunk_bytes=1024")) as sb:
        leader = sb.wait_leader()
        v = next(i for i in range(3) if i != leader)
        t0 = time.monotonic()
        m = flood_and_check(sb, [v], lambda: [Flood(sb.address(v), sources(2, count), per_source)],
                            leader)[v]
        h.log(f"20k flood: node {v} metrics {m}; {time.monotonic() - t0:.1f} s")
        check(refused(m, "total") > 0, f"no refusal at the total cap: {m}")
        lines = refusal_log_lines(sb, v)
        check(len(lines) <= (time.monotonic() - t0) / LOG_INTERVAL_S + 3,
              f"{len(lines)} refusal log lines")


def test_handshake_slot_is_freed(env):
    """A connection that never starts TLS holds a slot only for the TLS handshake
    timeout: with the total cap full of silent connections, a new client is served
    once they are cut (10 s), though the flood keeps them open from its side."""
    opts = ("--node-option", "max_client_connections=100",
            "--node-option", "max_client_connections_per_address=100")
    with env.sandbox(nodes=1, extra_args=opts) as sb:
        with Flood(sb.address(0), sources(2, 1), 100, sustain=False) as f:
            f.wait_opened(timeout=20)
            check(not honest_new_connection(sb, 0), "served above the cap")
            t0 = time.monotonic()
            h.wait_until(lambda: honest_new_connection(sb, 0), 20,
                         "the silent connections to be cut by the handshake timeout")
            h.log(f"a new client was served {time.monotonic() - t0:.1f} s later; {f.totals()}")
            s = tls_connect(sb.address(0), sb.service_cert)
            s.close()


if __name__ == "__main__":
    sys.exit(h.main([test_flood_at_1024_open_files, test_flood_caps_per_address_and_total,
                     test_flood_20000_connections, test_handshake_slot_is_freed]))
