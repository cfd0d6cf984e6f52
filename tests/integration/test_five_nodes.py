#!/usr/bin/env python3
"""A 5-node service under write load loses a minority at once: the leader and a
follower, both with kill -9. The other three elect a leader and keep committing;
the two restart and catch up; no acknowledged write is lost; the five ledgers
agree byte for byte and each passes `consort ledger verify`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402


def test_kill9_minority_of_five(env):
    sb = env.sandbox(5)
    try:
        h.crash_and_recover(env, sb, [h.leader_and_follower])
    finally:
        sb.stop()
    entries = h.check_ledgers_agree(sb, range(5))
    h.log(f"the 5 ledgers agree: {entries} entries each")
    for i in range(5):
        code, out = h.ledger_verify(env, sb.ledger_dir(i), sb.service_cert)
        check(code == 0, f"node {i}: consort ledger verify exited {code}:\n{out}")


if __name__ == "__main__":
    sys.exit(h.main([test_kill9_minority_of_five]))
