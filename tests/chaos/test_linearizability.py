"""Unit tests of the linearizability checker (tests/chaos/linearizability.py):
it must reject the planted violations (a stale read, a lost write, a read of a
value never written, a cas that saw a stale value) and accept valid concurrent
histories, including ones with unknown-outcome operations; it splits a key's
history at quiescent points and carries every possible register value across
(Segments), and it agrees with a brute force on random small histories."""

import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linearizability as lin  # noqa: E402
from linearizability import Op  # noqa: E402


def ok(history, init=None):
    return all(r.ok for r in lin.check(history, init))


def brute_force(history, init=None):
    """Linearizable? by trying the orders of the ops that respect real time (an op
    that completed before another was invoked comes first; an unknown-outcome op
    may be left out, and constrains nothing), applying each to a register. No
    pruning, no cuts: an independent reference for small histories. The memo on
    (ops placed, register value) only avoids trying the same rest of an order
    twice: what can follow a prefix depends on nothing else."""
    ops = list(history)
    n = len(ops)
    before = [0] * n  # before[i]: the completed ops that must precede op i
    for i, b in enumerate(ops):
        for j, a in enumerate(ops):
            if a.complete is not None and a.complete < b.invoke:
                before[i] |= 1 << j
    needed = sum(1 << i for i, op in enumerate(ops) if op.complete is not None)
    failed = set()

    def go(placed, state):
        if placed & needed == needed:
            return True
        if (placed, state) in failed:
            return False
        for i, op in enumerate(ops):
            if placed >> i & 1 or before[i] & ~placed:
                continue
            if op.f == "read":
                good, nxt = op.value == state, state
            elif op.f == "write":
                good, nxt = True, op.value
            else:
                good, nxt = op.value[0] == state, op.value[1]
            if good and go(placed | 1 << i, nxt):
                return True
        failed.add((placed, state))
        return False

    return go(0, init)


def brute_force_finals(history, init=None):
    """The values the register may hold after a valid order of `history` (as
    brute_force tries them) that starts from `init`."""
    ops = list(history)
    n = len(ops)
    before = [0] * n
    for i, b in enumerate(ops):
        for j, a in enumerate(ops):
            if a.complete is not None and a.complete < b.invoke:
                before[i] |= 1 << j
    needed = sum(1 << i for i, op in enumerate(ops) if op.complete is not None)
    seen, finals = set(), set()

    def go(placed, state):
        if (placed, state) in seen:
            return
        seen.add((placed, state))
        if placed & needed == needed:
            finals.add(state)
        for i, op in enumerate(ops):
            if placed >> i & 1 or before[i] & ~placed:
                continue
            if op.f == "read":
                good, nxt = op.value == state, state
            elif op.f == "write":
                good, nxt = True, op.value
            else:
                good, nxt = op.value[0] == state, op.value[1]
            if good:
                go(placed | 1 << i, nxt)

    go(0, init)
    return finals


class Violations(unittest.TestCase):
    def test_stale_read(self):
        # w1 completes, then w2 completes, then a read (after both) returns 1
        h = [Op("write", "k", 1, 0.0, 1.0), Op("write", "k", 2, 2.0, 3.0),
             Op("read", "k", 1, 4.0, 5.0)]
        res = lin.check(h)
        self.assertFalse(res[0].ok)
        self.assertFalse(res[0].gave_up)
        self.assertIn("read('k', 1)", res[0].detail)

    def test_lost_write(self):
        # an acknowledged write, then a read long after it that sees the old value
        h = [Op("write", "k", "a", 0.0, 1.0), Op("write", "k", "b", 2.0, 3.0),
             Op("read", "k", "b", 3.5, 4.0), Op("read", "k", "a", 5.0, 6.0)]
        self.assertFalse(ok(h))

    def test_lost_write_to_absent(self):
        h = [Op("write", "k", "a", 0.0, 1.0), Op("read", "k", None, 2.0, 3.0)]
        self.assertFalse(ok(h))

    def test_read_of_value_never_written(self):
        h = [Op("write", "k", "a", 0.0, 1.0), Op("read", "k", "zz", 2.0, 3.0)]
        self.assertFalse(ok(h))

    def test_cas_on_stale_value(self):
        # w(b) completed before the cas began, yet the cas claims it saw a
        h = [Op("write", "k", "a", 0.0, 1.0), Op("write", "k", "b", 2.0, 3.0),
             Op("cas", "k", ("a", "c"), 4.0, 5.0)]
        self.assertFalse(ok(h))

    def test_two_cas_from_the_same_value(self):
        # both succeed from a: only one of them can have
        h = [Op("write", "k", "a", 0.0, 1.0), Op("cas", "k", ("a", "b"), 2.0, 5.0),
             Op("cas", "k", ("a", "c"), 2.5, 5.5)]
        self.assertFalse(ok(h))

    def test_non_monotonic_reads_of_concurrent_write(self):
        # w(b) is concurrent with both reads; the first read sees b, the later one
        # (strictly after the first) sees a again: not linearizable
        h = [Op("write", "k", "a", 0.0, 1.0), Op("write", "k", "b", 2.0, 10.0),
             Op("read", "k", "b", 3.0, 4.0), Op("read", "k", "a", 5.0, 6.0)]
        self.assertFalse(ok(h))

    def test_unknown_write_cannot_save_a_stale_read(self):
        # an unknown-outcome write of a does not excuse reading b then a then b
        h = [Op("write", "k", "a", 0.0, 1.0), Op("write", "k", "b", 2.0, 3.0),
             Op("read", "k", "a", 4.0, 5.0), Op("write", "k", "c", 6.0, None),
             Op("read", "k", "b", 7.0, 8.0)]
        self.assertFalse(ok(h))

    def test_violation_found_in_one_key_of_many(self):
        h = []
        for k in range(5):
            h += [Op("write", k, f"{k}a", 0.0, 1.0), Op("read", k, f"{k}a", 2.0, 3.0)]
        h.append(Op("read", 3, None, 4.0, 5.0))
        res = {r.key: r.ok for r in lin.check(h)}
        self.assertEqual(res, {0: True, 1: True, 2: True, 3: False, 4: True})


class Pruning(unittest.TestCase):
    def test_observed_unknown_write_is_bounded_by_its_first_observer(self):
        h = [Op("write", "k", "a", 0.0, 1.0), Op("write", "k", "x", 2.0, None),
             Op("read", "k", "x", 3.0, 4.0), Op("read", "k", "x", 9.0, 10.0)]
        kept, dropped = lin.prune(h)
        self.assertEqual(dropped, 0)
        self.assertEqual([op.complete for op in kept if op.value == "x" and op.f == "write"],
                         [4.0])
        self.assertTrue(ok(h))

    def test_value_seen_before_its_write_began(self):
        # a read returns x before the (unknown-outcome) write of x was even sent
        h = [Op("write", "k", "a", 0.0, 1.0), Op("read", "k", "x", 2.0, 3.0),
             Op("write", "k", "x", 4.0, None)]
        self.assertFalse(ok(h))

    def test_bounding_leaves_a_stale_read_detectable(self):
        # x (unknown outcome) seen at 4, then b acknowledged, then x read again
        h = [Op("write", "k", "a", 0.0, 1.0), Op("write", "k", "x", 2.0, None),
             Op("read", "k", "x", 3.0, 4.0), Op("write", "k", "b", 5.0, 6.0),
             Op("read", "k", "x", 7.0, 8.0)]
        self.assertFalse(ok(h))

    def test_value_written_twice_is_not_bounded(self):
        # two writes of the same value: the observation may be the other one's
        h = [Op("write", "k", "x", 0.0, 1.0), Op("read", "k", "x", 2.0, 3.0),
             Op("write", "k", "x", 2.5, None), Op("write", "k", "b", 4.0, 5.0),
             Op("read", "k", "x", 6.0, 7.0)]
        kept, _ = lin.prune(h)
        self.assertIsNone([op for op in kept if op.complete is None][0].complete)
        self.assertTrue(ok(h))

    def test_unknown_write_that_only_an_unknown_cas_expected_is_kept(self):
        # d is observed by no completed op, but an unknown cas expects it, and
        # that cas's c was read: w(d) then cas(d, c) is the only explanation
        h = [Op("write", "k", "a", 0.0, 1.0), Op("write", "k", "d", 2.0, None),
             Op("cas", "k", ("d", "c"), 3.0, None), Op("read", "k", "c", 5.0, 6.0)]
        self.assertEqual(lin.prune(h)[1], 0)
        self.assertTrue(ok(h))

    def test_unknown_chain_nobody_sees_is_dropped_whole(self):
        # w(d) and cas(d, c) both unknown, c never read: neither can matter,
        # and nothing unbounded is left to block the cuts after them
        h = [Op("write", "k", "a", 0.0, 1.0), Op("write", "k", "d", 2.0, None),
             Op("cas", "k", ("d", "c"), 3.0, None), Op("read", "k", "a", 5.0, 6.0),
             Op("write", "k", "e", 10.0, 11.0), Op("read", "k", "e", 12.0, 13.0)]
        self.assertEqual(lin.prune(h)[1], 2)
        res = lin.check(h)
        self.assertTrue(res[0].ok)
        self.assertGreaterEqual(res[0].segments, 3)

    def test_unknown_chain_seen_is_bounded_and_cuts_follow(self):
        # c is read at 6: cas(d, c) took effect by then, so did w(d) before it;
        # both are bounded there, and the history cuts after them (an unknown
        # op left unbounded would allow no cut after it: 30 minutes of history
        # in one segment, the chaos run of 19:17 showed)
        h = [Op("write", "k", "a", 0.0, 1.0), Op("write", "k", "d", 2.0, None),
             Op("cas", "k", ("d", "c"), 3.0, None), Op("read", "k", "c", 5.0, 6.0),
             Op("write", "k", "e", 10.0, 11.0), Op("read", "k", "e", 12.0, 13.0)]
        kept, dropped = lin.prune(h)
        self.assertEqual(dropped, 0)
        self.assertTrue(all(op.complete is not None for op in kept))
        res = lin.check(h)
        self.assertTrue(res[0].ok)
        self.assertGreaterEqual(res[0].segments, 4)  # unbounded, w(d) left 2
        # and a stale read after them is still caught
        bad = h + [Op("read", "k", "d", 14.0, 15.0)]
        self.assertFalse(lin.check(bad)[0].ok)

    def test_initial_value_counts_as_a_writer(self):
        # the register starts at x; an unknown write of x, seen at 2, may be the
        # initial value seen, the write taking effect after y (seen at 6)
        h = [Op("write", "k", "x", 0.0, None), Op("read", "k", "x", 1.0, 2.0),
             Op("write", "k", "y", 3.0, 4.0), Op("read", "k", "x", 5.0, 6.0)]
        self.assertTrue(ok(h, init="x"))
        self.assertFalse(ok(h, init=None))


class ResolvedWrites(unittest.TestCase):
    """checks.py: a write whose answer was lost but whose transaction was found
    Committed after the run completed, at the latest, when a later seqno was
    acknowledged (the ledger commits a prefix): not at the end of the run,
    which would put one op in flight across the whole history and leave it
    uncut (the 30-minute run of 19:17: key k2, 97,619 ops in one segment)."""

    def rec(self, f, value, invoke, complete, status="ok", txid=None, **kw):
        return dict(f=f, key="k", value=value, invoke=invoke, complete=complete, status=status,
                    process=0, node=0, txid=txid, **kw)

    def test_bounded_by_a_later_acknowledged_seqno(self):
        import checks
        recs = [self.rec("write", "a", 0.0, 1.0, txid="1.5"),
                self.rec("write", "b", 2.0, 2.5, status="info", txid="1.6",
                         resolved="Committed", resolved_at=100.0),
                self.rec("write", "c", 2.2, 3.0, txid="1.8"),
                self.rec("read", "c", 4.0, 4.5),
                self.rec("write", "d", 10.0, 11.0, txid="2.9"),
                self.rec("read", "d", 12.0, 13.0)]
        by = checks._committed_by(recs)
        self.assertEqual(by("1.6", 2.0), 3.0)   # 1.8 was acknowledged at 3.0
        self.assertEqual(by("2.9", 10.0), lin.INF)  # nothing later
        self.assertEqual(by("junk", 0.0), lin.INF)
        counts, problems, results = checks.check_records(recs)
        self.assertEqual(problems, [])
        self.assertGreaterEqual(results[0].segments, 3)


class Classification(unittest.TestCase):
    """How the workload reads an answer (workload.py): a write is left out of the
    history only when consortd says nothing was executed. The messages it relies
    on must be the ones consortd sends (src/node), or a changed message would
    silently turn an executed write into a refused one."""

    class R:
        def __init__(self, status, body, txid=None):
            self.status, self.body = status, body
            self.txid = txid

    def err(self, status, msg, txid=None):
        import json
        return self.R(status, json.dumps({"error": {"code": "X", "message": msg}}).encode(), txid)

    def test_classes(self):
        import workload
        c = workload.classify_write
        self.assertEqual(c(None), "info")
        self.assertEqual(c(self.R(200, b"{}", "2.5")), "ok")
        self.assertEqual(c(self.err(409, "register k does not hold the expected value")), "fail")
        self.assertEqual(c(self.err(503, "the write was not executed (x): y")), "fail")
        self.assertEqual(c(self.err(503, "no leader is known; retry shortly")), "fail")
        self.assertEqual(c(self.err(503, "the leader at A did not answer (the request may or "
                                         "may not have been executed)")), "info")
        self.assertEqual(c(self.err(503, "leadership lost", "3.9")), "info")
        self.assertEqual(c(self.err(500, "internal")), "info")
        self.assertEqual(c(self.err(503, "something new")), "info")

    def test_messages_are_consortds(self):
        import workload
        src = os.environ.get("CONSORT_SOURCE_DIR",
                             os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        text = ""
        for name in os.listdir(os.path.join(src, "src", "node")):
            if name.startswith("rpc") and name.endswith(".c"):
                with open(os.path.join(src, "src", "node", name)) as f:
                    text += f.read()
        for msg in workload.NOT_EXECUTED:
            self.assertIn(msg, text, f"consortd no longer says {msg!r}")


class Valid(unittest.TestCase):
    def test_sequential(self):
        h = [Op("read", "k", None, 0.0, 0.5), Op("write", "k", 1, 1.0, 2.0),
             Op("read", "k", 1, 3.0, 4.0), Op("cas", "k", (1, 2), 5.0, 6.0),
             Op("read", "k", 2, 7.0, 8.0)]
        self.assertTrue(ok(h))

    def test_concurrent_reads_see_either_side(self):
        # w(b) overlaps both reads: one may see a, then the next b
        h = [Op("write", "k", "a", 0.0, 1.0), Op("write", "k", "b", 2.0, 10.0),
             Op("read", "k", "a", 3.0, 4.0), Op("read", "k", "b", 5.0, 6.0),
             Op("read", "k", "b", 11.0, 12.0)]
        self.assertTrue(ok(h))

    def test_concurrent_writes_any_order(self):
        h = [Op("write", "k", "a", 0.0, 5.0), Op("write", "k", "b", 1.0, 4.0),
             Op("read", "k", "a", 6.0, 7.0)]
        self.assertTrue(ok(h))
        h[-1] = Op("read", "k", "b", 6.0, 7.0)
        self.assertTrue(ok(h))

    def test_unknown_write_may_take_effect_late(self):
        # a write with no answer, invoked at 1, shows up at 20
        h = [Op("write", "k", "a", 0.0, 0.5), Op("write", "k", "x", 1.0, None),
             Op("read", "k", "a", 5.0, 6.0), Op("read", "k", "x", 20.0, 21.0)]
        self.assertTrue(ok(h))

    def test_unknown_write_may_never_take_effect(self):
        h = [Op("write", "k", "a", 0.0, 0.5), Op("write", "k", "x", 1.0, None),
             Op("read", "k", "a", 5.0, 6.0), Op("read", "k", "a", 20.0, 21.0)]
        res = lin.check(h)
        self.assertTrue(res[0].ok)
        self.assertEqual(res[0].pruned, 1)  # x was never observed

    def test_unknown_cas_chain(self):
        h = [Op("write", "k", 0, 0.0, 1.0), Op("cas", "k", (0, 1), 2.0, None),
             Op("cas", "k", (1, 2), 3.0, 4.0), Op("read", "k", 2, 5.0, 6.0)]
        self.assertTrue(ok(h))

    def test_random_valid_histories(self):
        # generated from a real register with random overlaps: always linearizable
        rnd = random.Random(7)
        for trial in range(200):
            state, t, h = None, 0.0, []
            pending = []
            for n in range(rnd.randint(5, 40)):
                t += rnd.random()
                f = rnd.choice(["read", "write", "cas"])
                lin_at = t + rnd.random()  # the op takes effect here
                start = lin_at - rnd.random() * 2
                end = lin_at + rnd.random() * 2
                if f == "read":
                    h.append(Op("read", "k", state, start, end))
                elif f == "write":
                    v = f"v{trial}-{n}"
                    state = v
                    h.append(Op("write", "k", v, start,
                                None if rnd.random() < 0.1 else end))
                else:
                    v = f"c{trial}-{n}"
                    h.append(Op("cas", "k", (state, v), start, end))
                    state = v
                t = lin_at
            res = lin.check(h)
            self.assertTrue(res[0].ok, f"trial {trial}: {res[0].detail}")

    def test_budget_reports_gave_up(self):
        # the read of a value never written overlaps 14 concurrent writes: the
        # search tries the 2^14 sets of them before it may say no
        h = [Op("write", "k", i, 0.0, 100.0) for i in range(14)] + [Op("read", "k", -1, 50.0, 102.0)]
        res = lin.check(h, max_steps=1000)
        self.assertTrue(res[0].gave_up)
        self.assertFalse(res[0].ok)
        # after a cut, the same read is decided within the budget: the first
        # segment ends with any of the 14 values, found without trying every set
        h[-1] = Op("read", "k", -1, 101.0, 102.0)
        res = lin.check(h, max_steps=1000)
        self.assertFalse(res[0].gave_up, res[0].detail)
        self.assertFalse(res[0].ok)
        self.assertEqual(res[0].segments, 2)

    def test_history_json_round_trip(self):
        op = Op("cas", "k", ("a", "b"), 1.0, None, process=3, node=1)
        back = Op.from_json(op.to_json())
        self.assertEqual((back.f, back.key, back.value, back.complete, back.process),
                         ("cas", "k", ("a", "b"), None, 3))


class Segments(unittest.TestCase):
    """check_key cuts a key's history where no op is in flight and carries the
    set of register values that some linearization of the part before the cut
    may end with."""

    def test_two_concurrent_writes_carry_both_values(self):
        # segment 1: w(a) and w(b) overlap, nobody reads; either may have won
        writes = [Op("write", "k", "a", 0.0, 2.0), Op("write", "k", "b", 1.0, 3.0)]
        for seen in ("a", "b"):
            res = lin.check(writes + [Op("read", "k", seen, 4.0, 5.0)])
            self.assertTrue(res[0].ok, res[0].detail)
            self.assertEqual(res[0].segments, 2)

    def test_violation_across_the_cut(self):
        # a later read sees a, a read strictly after it sees b, no write in
        # between: whichever write won, one of the reads is wrong
        h = [Op("write", "k", "a", 0.0, 2.0), Op("write", "k", "b", 1.0, 3.0),
             Op("read", "k", "a", 4.0, 5.0), Op("read", "k", "b", 6.0, 7.0)]
        res = lin.check(h)
        self.assertFalse(res[0].ok)
        self.assertFalse(res[0].gave_up)
        self.assertEqual(res[0].segments, 3)
        self.assertIn("read('k', 'b')", res[0].detail)
        self.assertIn("segment 3 of 3", res[0].detail)
        self.assertIn("'a'", res[0].detail.splitlines()[0])  # the one value possible there
        # the reads the other way round are just as wrong
        h[2], h[3] = Op("read", "k", "b", 4.0, 5.0), Op("read", "k", "a", 6.0, 7.0)
        self.assertFalse(ok(h))

    def test_cas_after_the_cut_depends_on_which_write_won(self):
        writes = [Op("write", "k", "a", 0.0, 2.0), Op("write", "k", "b", 1.0, 3.0)]
        for old in ("a", "b"):
            h = writes + [Op("cas", "k", (old, "c"), 4.0, 5.0), Op("read", "k", "c", 6.0, 7.0)]
            res = lin.check(h)
            self.assertTrue(res[0].ok, res[0].detail)
            self.assertEqual(res[0].segments, 3)
        # a read showed that b won: a cas from a after it cannot have succeeded
        h = writes + [Op("read", "k", "b", 4.0, 5.0), Op("cas", "k", ("a", "c"), 6.0, 7.0)]
        res = lin.check(h)
        self.assertFalse(res[0].ok)
        self.assertIn("cas('k', ('a', 'c'))", res[0].detail)
        # two cas from the two values, one after the other: only one can succeed
        h = writes + [Op("cas", "k", ("a", "c"), 4.0, 5.0), Op("cas", "k", ("b", "d"), 6.0, 7.0)]
        self.assertFalse(ok(h))

    def test_touching_ops_are_not_cut(self):
        # an op invoked exactly when another completed is concurrent with it
        h = [Op("write", "k", "a", 0.0, 1.0), Op("write", "k", "b", 1.0, 2.0),
             Op("read", "k", "a", 2.0, 3.0)]
        res = lin.check(h)
        self.assertTrue(res[0].ok, res[0].detail)
        self.assertEqual(res[0].segments, 1)

    def test_unknown_outcome_prevents_later_cuts(self):
        # x written twice, once with an unknown outcome: the pruning cannot
        # bound it, it may take effect at any time after 2: one segment from there
        h = [Op("write", "k", "a", 0.0, 1.0), Op("write", "k", "x", 2.0, None),
             Op("write", "k", "x", 3.0, 4.0), Op("read", "k", "x", 5.0, 6.0),
             Op("write", "k", "c", 7.0, 8.0), Op("read", "k", "c", 9.0, 10.0),
             Op("read", "k", "x", 11.0, 12.0)]
        res = lin.check(h)
        self.assertTrue(res[0].ok, res[0].detail)  # the unknown write took effect late
        self.assertEqual(res[0].segments, 2)

    def test_long_history_decided_by_its_segments(self):
        """About 100,000 ops in rounds separated by quiet gaps: in a round, eight
        reads of the value before it overlap the round's write (they must all
        precede it: 256 orders of reads that commute); some rounds end with a
        cas, some are two overlapping writes that a later read tells apart. A
        stale read planted deep inside must be found. The search without cuts
        (the same history behind an unknown-outcome cas that can never take
        effect, which allows no cut) has to exhaust every round before the
        stale read and gives up within a budget that the segmented search
        does not come near."""
        rnd = random.Random(11)
        h, prev, r, t = [], None, 0, 0.0
        planted = None
        while len(h) < 100_000:
            if r % 7 == 3:
                # two overlapping writes and nobody reads them: both values carry over
                x, y = f"x{r}", f"y{r}"
                h += [Op("write", "k", x, t, t + 2.0), Op("write", "k", y, t + 0.5, t + 2.5)]
                prev = rnd.choice((x, y))  # the next round's reads say which won
                t += 4.0
            else:
                v = f"v{r}"
                h += [Op("read", "k", prev, t + 0.1 * i, t + 4.0) for i in range(8)]
                h.append(Op("write", "k", v, t + 1.0, t + 3.0))
                if r == 9000:
                    planted = Op("read", "k", prev, t + 5.0, t + 6.0)  # after the write
                    h.append(planted)
                t += 7.0
                prev = v
                if r % 5 == 0:
                    prev = f"c{r}"
                    h.append(Op("cas", "k", (v, prev), t, t + 1.0))
                    t += 2.0
            r += 1
        budget = 2_000_000
        valid = [op for op in h if op is not planted]
        t0 = time.monotonic()
        res = lin.check_key(valid, key="k", max_steps=budget)
        self.assertTrue(res.ok, res.detail)
        self.assertGreater(res.segments, r)  # a round is one segment, two with a cas
        self.assertLess(res.steps, budget // 5)
        res = lin.check(h, max_steps=budget)[0]  # with the exact confirmation
        self.assertFalse(res.ok)
        self.assertFalse(res.gave_up, res.detail)
        self.assertLess(res.steps, budget // 5)
        self.assertIn(repr(planted), res.detail)
        spent, steps = time.monotonic() - t0, res.steps
        # without cuts: an unknown-outcome cas from a value never written, invoked
        # first; v0 is written twice (a copy of round 0's write beside it) so
        # that the pruning keeps the cas unbounded
        never = [Op("cas", "k", ("never", "v0"), -1.0, None), Op("write", "k", "v0", 1.5, 3.0)]
        res = lin.check_key(never + h, key="k", max_steps=budget)
        self.assertEqual(res.segments, 1)
        self.assertTrue(res.gave_up, res)
        self.assertFalse(res.ok)
        print(f"\n  {len(h)} ops: segmented {spent:.1f} s, {steps} steps; "
              f"without cuts gave up after {budget} steps", file=sys.stderr)


class CrossCheck(unittest.TestCase):
    def random_history(self, rnd, gaps=(0, 0, 1, 2, 5)):
        pool = ["a", "b", "c", "d"]
        ops, base = [], 0
        for _ in range(rnd.randint(1, 10)):
            base += rnd.choice(gaps)  # 5: often a quiet gap
            invoke = base + rnd.randint(0, 2)
            complete = invoke + rnd.randint(0, 3)
            f = rnd.choice(("read", "read", "write", "write", "cas"))
            if f == "read":
                # mostly a value some op wrote, so that many histories are valid
                written = [op.value if op.f == "write" else op.value[1]
                           for op in ops if op.f != "read"]
                v = rnd.choice(written) if written and rnd.random() < 0.7 else rnd.choice(
                    pool + [None])
            elif f == "write":
                v = rnd.choice(pool)
            else:
                v = (rnd.choice(pool + [None]), rnd.choice(pool))
            unknown = f != "read" and rnd.random() < 0.3
            ops.append(Op(f, "k", v, float(invoke), None if unknown else float(complete)))
        return ops, rnd.choice((None, None, "a"))

    def test_agrees_with_brute_force(self):
        # small random histories (up to 10 ops from a pool of 4 values, ties,
        # quiet gaps, unknown outcomes, initial value None or a): the checker
        # (pruning, cuts, hashed memo and its exact confirmation) and the exact
        # search alone give the brute force's verdict
        rnd = random.Random(2024)
        verdicts, cut = {True: 0, False: 0}, 0
        for trial in range(3000):
            h, init = self.random_history(rnd)
            want = brute_force(h, init)
            res = lin.check(h, init)[0] if h else None
            got = res.ok if h else True
            msg = f"trial {trial}, init {init!r}: brute force {want}, checker {res}\n" + \
                "\n".join(repr(op) for op in h)
            self.assertEqual(got, want, msg)
            if h:
                self.assertFalse(res.gave_up, msg)
                exact = lin.check_key(h, init, "k", exact=True)
                self.assertEqual(exact.ok, want, msg)
                cut += res.segments > 1
            verdicts[want] += 1
        self.assertGreater(min(verdicts.values()), 600, verdicts)
        self.assertGreater(cut, 1000)

    def test_final_values_agree_with_brute_force(self):
        # the search of one segment (no cuts: ops packed together) from several
        # start values finds every value a valid order can end with, no other,
        # with its early stop and its skipping of states that can only end with
        # values already found, hashed memo or exact
        rnd = random.Random(99)
        several = 0
        for trial in range(1500):
            h, _ = self.random_history(rnd, gaps=(0, 0, 1))
            starts = rnd.sample(["a", "b", "c", "d", None], rnd.randint(1, 5))
            want = set()
            for v in starts:
                want |= brute_force_finals(h, v)
            for exact in (False, True):
                finals, _, _, failure = lin._search(
                    sorted(h, key=lambda op: op.invoke), {v: v for v in starts}, False,
                    10 ** 9, 10 ** 9, exact)
                self.assertIsNone(failure)
                self.assertEqual(set(finals), want, f"trial {trial}, from {starts}:\n" +
                                 "\n".join(repr(op) for op in h))
            several += len(want) > 1
        self.assertGreater(several, 300)


if __name__ == "__main__":
    unittest.main()
