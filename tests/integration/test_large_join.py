#!/usr/bin/env python3
"""A node joins a service whose state is far larger than 64 MiB (issue 11,
failure 2).

The joiner receives the state as one Raft InstallSnapshot. Before, the raft
bridge closed the connection once raft fell 64 MiB behind the stream, so the
joiner looped (an 88 MB snapshot never arrived), the leader's promotion of it
to voter was aborted by libraft (a catch-up round longer than 5 s) and never
tried again: once the state passed that size a dead node could not be
replaced. Now the stream is paused instead (back-pressure), and the leader
retries the promotion (src/node/promote.h).

CONSORT_JOIN_MIB sets the state's size (default 128); a run with
CONSORT_JOIN_MIB=340 (a snapshot over 300 MiB) is recorded in
docs/reliability.md."""

import http.client
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

STATE_MIB = int(os.environ.get("CONSORT_JOIN_MIB", "128"))
# The checks read the leader's info lines (promotion); ctest runs at warn.
os.environ["CONSORT_LOG"] = "info"
VALUE = 63 << 10  # the logging app takes records of at most 64 KiB
WRITERS = 4
JOIN_S = 60 + STATE_MIB  # a joiner admitted; the snapshot follows
VOTER_S = 120 + STATE_MIB // 2


def fill(sb, mib):
    """Writes `mib` MiB of records with WRITERS clients through the leader (a write
    answered 503, e.g. across an election on this busy 2-core machine, is sent again,
    to the leader then); returns the highest record id."""
    n = (mib << 20) // VALUE + 1
    errors = []

    def writer(w):
        c = None
        for k in range(w, n, WRITERS):
            msg = f"{k:08d}" + "y" * (VALUE - 8)
            deadline = time.monotonic() + 300  # elections: snapshots of this size are slow
            while True:
                if c is None:
                    c = sb.client(sb.wait_leader(timeout=120))
                    c.timeout = 30
                try:
                    r = c.post_json("/app/log/private", {"id": 1000 + k, "msg": msg})
                except (OSError, http.client.HTTPException) as e:
                    r = e
                if isinstance(r, h.Response) and r.status == 200:
                    break
                c.close()
                c = None
                if time.monotonic() > deadline or (isinstance(r, h.Response)
                                                   and r.status != 503):
                    errors.append(f"record {k}: {r!r}")
                    return
                time.sleep(0.2)
        if c is not None:
            c.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, f"filling the state: {errors[:3]}")
    return 1000 + n - 1


def test_node_joins_a_large_state_and_is_promoted(env):
    # one snapshot, at about 90% of the records: the joiner's raft log starts past
    # index 1, so it is sent that snapshot (most of the state) rather than the log
    records = (STATE_MIB << 20) // VALUE + 1
    interval = max(200, records * 9 // 10)
    # entries are records plus signature entries: signatures every second (not the
    # default 10 ms) keep those few, so the snapshot interval counts records; and
    # raft may hold the whole fill's log in memory (snapshot_log_kib, twice the
    # state), else the nodes would snapshot every 64 MiB of log and the joiner's
    # snapshot would hold only the first half of the state
    with env.sandbox(3, extra_args=("--node-option", f"snapshot_interval={interval}",
                                    "--node-option", f"snapshot_log_kib={(2 * STATE_MIB) << 10}",
                                    "--node-option", "sig_interval_ms=1000")) as sb:
        leader = sb.wait_leader()
        t0 = time.monotonic()
        last = fill(sb, STATE_MIB)
        h.log(f"{STATE_MIB} MiB of records written in {time.monotonic() - t0:.1f} s")
        sb.wait_caught_up(range(3))

        t1 = time.monotonic()
        code, out = sb.add_node(timeout=JOIN_S)
        check(code == 0, f"add-node with {STATE_MIB} MiB of state: exit {code}: {out}")
        joiner = sb.count - 1
        joined = time.monotonic() - t1

        def role():
            c = sb.client(joiner)
            try:
                return c.get_json("/node/state").get("raft_role")
            finally:
                c.close()

        h.wait_until(lambda: role() == "voter", VOTER_S, f"node {joiner} to be a voter")
        promoted = time.monotonic() - t1
        h.log(f"node {joiner} joined after {joined:.1f} s, a voter after {promoted:.1f} s")

        # it holds the state: the snapshot it installed, and the last record
        snaps = os.path.join(sb.data_dir(joiner), "snapshots")
        sizes = [os.path.getsize(os.path.join(snaps, f)) for f in os.listdir(snaps)]
        # the snapshot holds the state up to its checkpoint (the rest came as entries):
        # more than the 64 MiB a joiner could receive before
        check(sizes and max(sizes) > (STATE_MIB << 20) * 7 // 10 and max(sizes) > 64 << 20,
              f"node {joiner} installed snapshots of {sizes} bytes ({STATE_MIB} MiB written)")
        h.log(f"node {joiner} installed a snapshot of {max(sizes) >> 20} MiB")
        sb.wait_caught_up([joiner], timeout=120)
        c = sb.client(joiner)
        r = c.get(f"/app/log/private?id={last}")
        check(r.status == 200 and r.json()["msg"].startswith(f"{last - 1000:08d}"),
              f"the last record read from node {joiner}: {r!r}")
        c.close()

        with open(sb.log_path(joiner), errors="replace") as f:
            lines = f.read().splitlines()
        behind = [ln for ln in lines if "bytes behind" in ln]
        check(not behind, f"{len(behind)} backlog lines in the joiner's log: {behind[:2]}")
        # the leader that promoted it may have handed over since: read every node's log
        text = ""
        for i in range(sb.count):
            if i != joiner:
                with open(sb.log_path(i), errors="replace") as f:
                    text += f.read()
        check("promoted to voter" in text, "no node logged the promotion")
        retries = text.count("to voter: ")
        h.log(f"the leader retried the promotion {retries} times")
        sb.wait_quiescent()


if __name__ == "__main__":
    sys.exit(h.main([test_node_joins_a_large_state_and_is_promoted]))
