"""Unit tests of the linearizability checker (tests/chaos/linearizability.py):
it must reject the planted violations (a stale read, a lost write, a read of a
value never written, a cas that saw a stale value) and accept valid concurrent
histories, including ones with unknown-outcome operations."""

import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linearizability as lin  # noqa: E402
from linearizability import Op  # noqa: E402


def ok(history, init=None):
    return all(r.ok for r in lin.check(history, init))


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
        h = [Op("write", "k", i, 0.0, 100.0) for i in range(14)] + [Op("read", "k", -1, 101.0, 102.0)]
        res = lin.check(h, max_steps=1000)
        self.assertTrue(res[0].gave_up)
        self.assertFalse(res[0].ok)

    def test_history_json_round_trip(self):
        op = Op("cas", "k", ("a", "b"), 1.0, None, process=3, node=1)
        back = Op.from_json(op.to_json())
        self.assertEqual((back.f, back.key, back.value, back.complete, back.process),
                         ("cas", "k", ("a", "b"), None, 3))


if __name__ == "__main__":
    unittest.main()
