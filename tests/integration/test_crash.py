#!/usr/bin/env python3
"""kill -9 under write load, 3 nodes: first the leader, then a follower. Writes
continue on the survivors; the killed node restarts from its sealed state and
ledger and catches up; no acknowledged (committed) write is lost anywhere; the
three ledgers agree byte for byte and each passes `consort ledger verify`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402


def test_kill9_three_nodes(env):
    sb = env.sandbox(3)
    try:
        h.crash_and_recover(env, sb, [h.leader_only, h.a_follower])
    finally:
        sb.stop()
    entries = h.check_ledgers_agree(sb, range(3))
    h.log(f"the 3 ledgers agree: {entries} entries each")
    for i in range(3):
        code, out = h.ledger_verify(env, sb.ledger_dir(i), sb.service_cert)
        check(code == 0, f"node {i}: consort ledger verify exited {code}:\n{out}")


if __name__ == "__main__":
    sys.exit(h.main([test_kill9_three_nodes]))
