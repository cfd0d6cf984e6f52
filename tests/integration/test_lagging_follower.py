#!/usr/bin/env python3
"""A follower that falls far behind catches up (issue 11, failure 2).

A follower is frozen (SIGSTOP) while the service commits well over 64 MiB; once
it is resumed, libraft sends it its leader's whole log tail in one AppendEntries.
Before, the raft bridge closed the connection when raft fell 64 MiB behind the
stream ("raft is N bytes behind (limit 67108864): closing the connection"), the
leader sent it all again, and the follower looped like that forever at 80-90%
CPU. Now the bridge pauses the stream (back-pressure): the follower commits as
far as the leader within a deadline, over the connection it has, with no such
line and a bounded peak memory.

CONSORT_LAG_MIB (default 96) sets how much is committed while it is frozen."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

LAG_MIB = int(os.environ.get("CONSORT_LAG_MIB", "96"))
VALUE = 63 << 10  # one record of 63 KiB (the logging app takes at most 64 KiB)
CATCH_UP_S = 120


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def metric(sb, i, name):
    c = sb.client(i)
    try:
        r = c.get("/node/metrics")
        check(r.status == 200, f"GET /node/metrics on node {i}: {r!r}")
        for line in r.body.decode().splitlines():
            if line.startswith(name + "{"):
                return int(line.rsplit(" ", 1)[1])
    finally:
        c.close()
    raise h.TestFailure(f"node {i} has no metric {name}")


def test_frozen_follower_catches_up(env):
    with env.sandbox(3) as sb:
        leader = sb.wait_leader()
        lagger = (leader + 1) % 3
        c = sb.client(leader)
        c.timeout = 60
        r = c.post_json("/app/log/private", {"id": 1, "msg": "before"})
        check(r.status == 200, f"a first write: {r!r}")
        sb.wait_caught_up(range(3))
        rss_before = peak_rss_mib(sb.pid(lagger))

        sb.sigstop(lagger)
        t0 = time.monotonic()
        try:
            n = (LAG_MIB << 20) // VALUE + 1
            for k in range(n):
                msg = f"{k:08d}" + "x" * (VALUE - 8)
                r = c.post_json("/app/log/private", {"id": 1000 + k, "msg": msg})
                check(r.status == 200, f"write {k} of {n} with node {lagger} frozen: {r!r}")
            h.log(f"{n} records of {VALUE >> 10} KiB ({n * VALUE >> 20} MiB) committed with "
                  f"node {lagger} frozen, in {time.monotonic() - t0:.1f} s")
        finally:
            sb.sigcont(lagger)
        target = sb.commit_seqno(leader)
        t1 = time.monotonic()
        h.wait_until(lambda: sb.commit_seqno(lagger) >= target, CATCH_UP_S,
                     f"node {lagger} to commit up to seqno {target}")
        took = time.monotonic() - t1
        # its store has the records too: read the last one from it
        lc = sb.client(lagger)
        r = lc.get(f"/app/log/private?id={1000 + n - 1}")
        check(r.status == 200 and r.json()["msg"].startswith(f"{n - 1:08d}"),
              f"the last record read from node {lagger}: {r!r}")
        lc.close()
        c.close()
        # the catch-up went through back-pressure: the leader's stream was paused while
        # the follower's raft read the backlog
        pauses = metric(sb, lagger, "consort_raft_inbound_pauses_total")
        refused = metric(sb, lagger, "consort_raft_messages_refused_total")
        h.log(f"node {lagger} paused its leader's stream {pauses} times")
        check(pauses > 0, f"node {lagger} never paused a raft stream while catching up")
        check(refused == 0, f"node {lagger} refused {refused} raft messages")
        rss = peak_rss_mib(sb.pid(lagger))
        h.log(f"node {lagger} caught up {took:.1f} s after SIGCONT; its peak RSS "
              f"{rss_before} MiB before, {rss} MiB after")
        with open(sb.log_path(lagger), errors="replace") as f:
            lines = f.read().splitlines()
        behind = [ln for ln in lines if "bytes behind" in ln]
        check(not behind, f"{len(behind)} backlog lines in node {lagger}'s log, e.g. {behind[:2]}")
        closing = [ln for ln in lines if "closing the connection" in ln]
        check(len(closing) <= 2, f"node {lagger} closed {len(closing)} raft connections: "
                                 f"{closing[:3]}")
        # raft holds the message it reads (libraft) and the entries it appends: a few
        # times the lag, not the unbounded growth of a reconnect loop
        check(rss < rss_before + 6 * LAG_MIB + 256,
              f"node {lagger}'s peak RSS grew from {rss_before} MiB to {rss} MiB")
        sb.wait_quiescent()


if __name__ == "__main__":
    sys.exit(h.main([test_frozen_follower_catches_up]))
