#!/usr/bin/env python3
"""A node whose Raft is unavailable says so in /node/state and stops serving
reads it cannot vouch for (issue 11: a node whose Raft had silently stopped
kept reporting PartOfNetwork and serving stale reads).

The leader and one follower are frozen (SIGSTOP): the last node can elect no
one and hears from no leader. Within the election timeout and
NODE_LEADERLESS_READ_MS (2 s) its /node/state says raft_available false and
its reads (application and governance documents) are answered 503 with
Retry-After, naming why; once the others are back it serves reads again."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

UNAVAILABLE_S = 10  # election timeout (1 s) + 2 s, and slack for a loaded machine


def test_cut_off_node_refuses_reads(env):
    with env.sandbox(3) as sb:
        leader = sb.wait_leader()
        frozen_follower, last = [i for i in range(3) if i != leader]
        c = sb.client(leader)
        r = c.post_json("/app/log/private", {"id": 7, "msg": "seven"})
        check(r.status == 200, f"a write: {r!r}")
        c.close()
        sb.wait_caught_up(range(3))
        c = sb.client(last)
        st = c.get_json("/node/state")
        check(st.get("raft_available") is True, f"node {last} before the freeze: {st}")
        r = c.get("/app/log/private?id=7")
        check(r.status == 200, f"a read from node {last} before the freeze: {r!r}")

        sb.sigstop(leader)
        sb.sigstop(frozen_follower)
        try:
            t0 = time.monotonic()
            h.wait_until(lambda: c.get_json("/node/state").get("raft_available") is False,
                         UNAVAILABLE_S, f"node {last} to say its raft is unavailable")
            said = time.monotonic() - t0
            st = c.get_json("/node/state")
            check(st.get("state") == "PartOfNetwork" and not st.get("is_leader"),
                  f"node {last} cut off: {st}")
            r = c.get("/app/log/private?id=7")
            check(r.status == 503 and r.headers.get("retry-after"),
                  f"a read from the cut-off node {last}: {r!r}, expected 503 with Retry-After")
            msg = r.json()["error"]["message"]
            check("no Raft leader" in msg and "stale" in msg, f"the 503 says: {msg}")
            r = c.get("/gov/service")
            check(r.status == 503, f"a governance read from the cut-off node: {r!r}")
            h.log(f"node {last} said raft_available false {said:.1f} s after the freeze; "
                  f"reads: 503 '{msg}'")
        finally:
            sb.sigcont(leader)
            sb.sigcont(frozen_follower)
        h.wait_until(lambda: c.get("/app/log/private?id=7").status == 200, 30,
                     f"node {last} to serve reads again")
        check(c.get_json("/node/state").get("raft_available") is True,
              f"node {last} after the thaw: {c.get_json('/node/state')}")
        c.close()


def test_follower_whose_raft_stops_exits(env):
    """A follower whose raft cannot persist the next term (a full disk) stops the
    process, saying why, instead of living on as a node raft left: libraft 0.15
    silently drops every message after such a failure (the chaos run of seed
    1451262221: a follower restarted on a disk still full stayed behind for
    minutes, with nothing logged). Its raft metadata files become links to
    /dev/full (libraft reads them at start only); the leader is killed, so the
    next election's term reaches the follower. Once the files are back, the
    follower and the old leader restart and the service goes on."""
    with env.sandbox(3) as sb:
        leader = sb.wait_leader()
        f = (leader + 1) % 3
        c = sb.client(leader)
        r = c.post_json("/app/log/private", {"id": 8, "msg": "before"})
        check(r.status == 200, f"a write: {r!r}")
        c.close()
        sb.wait_caught_up(range(3))
        raft_dir = os.path.join(sb.data_dir(f), "raft")
        saved = {}
        for name in ("metadata1", "metadata2"):
            path = os.path.join(raft_dir, name)
            if os.path.exists(path):
                with open(path, "rb") as fh:
                    saved[name] = fh.read()
                os.unlink(path)
            os.symlink("/dev/full", path)
        sb.kill9(leader)
        h.wait_until(lambda: not sb.alive(f), 30, f"node {f} to exit")
        with open(sb.log_path(f), errors="replace") as fh:
            text = fh.read()
        check("stopped itself" in text and "persisting term" in text
              and "no space left on device" in text,
              f"node {f}'s log says why it stopped:\n{h.tail(sb.log_path(f), 10)}")
        for name in ("metadata1", "metadata2"):
            path = os.path.join(raft_dir, name)
            os.unlink(path)
            if name in saved:
                with open(path, "wb") as fh:
                    fh.write(saved[name])
        sb.restart(f)
        sb.restart(leader)
        for i in (f, leader):
            h.wait_until(lambda: sb.is_open(i), 60, f"node {i} to be back")
        new_leader = sb.wait_leader(timeout=30)
        c = sb.client(new_leader)
        r = c.post_json("/app/log/private", {"id": 9, "msg": "after"})
        check(r.status == 200, f"a write after the restarts: {r!r}")
        c.close()
        sb.wait_caught_up(range(3))


if __name__ == "__main__":
    sys.exit(h.main([test_cut_off_node_refuses_reads, test_follower_whose_raft_stops_exits]))
