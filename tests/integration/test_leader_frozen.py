#!/usr/bin/env python3
"""A leader frozen (SIGSTOP) while clients write through every node: what the
clients are told, and how soon (issue 11, failures 4 and 6).

- Writes forwarded by a follower to the frozen leader are answered within a few
  seconds (503 with Retry-After: the outcome is unknown), and writes go on
  through the new leader; requests that never reached the frozen leader go to
  the new one.
- Every error body names this request's transaction only: never another
  client's transaction or raft entry."""

import http.client
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

TXID = re.compile(r"\b(\d+)\.(\d+)\b")
ENTRY = re.compile(r"\bentr(?:y|ies) \d+")


class Writers:
    """`count` clients, client c writing records c*10^6+1, c*10^6+2, ... through node
    nodes[c % len(nodes)], one request at a time. Every answer is kept:
    (client, node, status, x-consort-txid, Retry-After, body, seconds it took, record id)."""

    def __init__(self, sb, nodes, count, timeout=60, pace=0.0):
        self.sb, self.nodes, self.timeout, self.pace = sb, nodes, timeout, pace
        self.answers = []
        self.answered_at = [0.0] * count  # when client c last had an answer (monotonic)
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(c,), daemon=True)
                        for c in range(count)]

    def _run(self, c):
        node = self.nodes[c % len(self.nodes)]
        client = self.sb.client(node)
        client.timeout = self.timeout
        k = c * 1_000_000
        while not self.stop_flag.is_set():
            k += 1
            t0 = time.monotonic()
            try:
                r = client.post_json("/app/log/private", {"id": k, "msg": f"client {c}"})
            except (OSError, http.client.HTTPException) as e:
                r = e
            took = time.monotonic() - t0
            with self.lock:
                self.answered_at[c] = time.monotonic()
                if isinstance(r, h.Response):
                    self.answers.append((c, node, r.status, r.txid, r.headers.get("retry-after"),
                                         r.body.decode(errors="replace"), took, k))
                else:
                    self.answers.append((c, node, None, None, None, repr(r), took, k))
            if not isinstance(r, h.Response) or r.status != 200:
                time.sleep(0.05)
            elif self.pace:
                time.sleep(self.pace)
        client.close()

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(self.timeout + 10)

    def acked(self):
        with self.lock:
            return [a for a in self.answers if a[2] == 200]

    def wait_all_answered_since(self, t, timeout, what):
        """Until every client had an answer after time.monotonic() `t`: each one's
        request in flight at `t` is answered."""
        def done():
            with self.lock:
                return all(a > t for a in self.answered_at)
        h.wait_until(done, timeout, what)

    def wait_acked(self, more, timeout, what):
        base = len(self.acked())
        h.wait_until(lambda: len(self.acked()) >= base + more, timeout, f"{more} writes {what}")


def error_message(body):
    try:
        return json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return body


FREEZE_S = 20
SLOWEST_S = 8  # CS_RPC_FORWARD_TIMEOUT_MS (5 s) and some slack; a new leader in about 2 s


def test_forwarded_writes_answered_when_leader_frozen(env):
    """The leader freezes (SIGSTOP) for 20 s while clients write through the two
    followers: every forwarded write is answered within a few seconds (the ones the
    frozen leader may hold: 503 with Retry-After, outcome unknown), and writes go on
    through the new leader long before the old one wakes up (issue 11, failure 4:
    forwarded writes hung for the whole 30 s freeze)."""
    with env.sandbox(3) as sb:
        leader = sb.wait_leader()
        followers = [i for i in range(3) if i != leader]
        writers = Writers(sb, followers, 6, pace=0.05).start()
        probes = None
        try:
            writers.wait_acked(50, 60, "before the freeze")
            sb.sigstop(leader)
            t0 = time.monotonic()
            # clients that write right after the freeze: their followers still take the
            # frozen node for the leader, so these are forwarded to it and sent
            probes = Writers(sb, followers, 4).start()
            try:
                new = sb.wait_leader(among=followers)
                elected = time.monotonic() - t0
                writers.wait_acked(20, SLOWEST_S + 5, "through the new leader")
                resumed = time.monotonic() - t0
                time.sleep(max(0.0, FREEZE_S - (time.monotonic() - t0)))
            finally:
                sb.sigcont(leader)
            writers.wait_acked(20, 30, "after the old leader woke up")
        finally:
            writers.stop()
            if probes is not None:
                probes.stop()
        h.log(f"node {new} leads {elected:.1f} s after node {leader} froze; writes through the "
              f"followers acknowledged again after {resumed:.1f} s")
        answers = writers.answers + probes.answers
        slow = [a for a in answers if a[6] > SLOWEST_S]
        check(not slow, f"{len(slow)} forwarded requests took more than {SLOWEST_S} s with the "
                        f"leader frozen for {FREEZE_S} s, the slowest "
                        f"{max((a[6] for a in slow), default=0):.1f} s: {slow[:3]}")
        check(resumed < SLOWEST_S + 2, f"writes through the followers resumed only after "
                                       f"{resumed:.1f} s (a new leader after {elected:.1f} s)")
        failed = [a for a in answers if a[2] != 200]
        for c, node, status, txid, retry, body, *_ in failed:
            check(status == 503 and retry, f"client {c} via node {node}: a forwarded write "
                                           f"answered {status} (Retry-After {retry}): {body}")
        h.log(f"{len(answers)} answers, {len(failed)} of them 503 with Retry-After (e.g. "
              f"{error_message(failed[0][5]) if failed else '-'}); the slowest took "
              f"{max(a[6] for a in answers):.1f} s")
        sb.wait_quiescent()
        acked = [(a[7], a[3]) for a in writers.acked() + probes.acked()]
        h.check_records(sb, acked, range(3), msg=lambda k: f"client {k // 1_000_000}")


def test_forward_deadline_without_a_new_leader(env):
    """The leader and one follower freeze: the last node cannot elect anyone, so it
    never learns of a new leader. A write it forwarded to the frozen leader is still
    answered once its deadline passes (CS_RPC_FORWARD_TIMEOUT_MS, 5 s): 503 with
    Retry-After, outcome unknown (issue 11, failure 4)."""
    with env.sandbox(3) as sb:
        leader = sb.wait_leader()
        frozen_follower, last = [i for i in range(3) if i != leader]
        c = sb.client(last)
        c.timeout = 30
        r = c.post_json("/app/log/private", {"id": 1, "msg": "before"})
        check(r.status == 200, f"a write through node {last}: {r!r}")
        sb.sigstop(frozen_follower)
        sb.sigstop(leader)
        try:
            t0 = time.monotonic()
            try:
                r = c.post_json("/app/log/private", {"id": 2, "msg": "frozen"})
            except (OSError, http.client.HTTPException) as e:
                raise h.TestFailure(f"no answer from node {last} after "
                                    f"{time.monotonic() - t0:.1f} s: {e!r}")
            took = time.monotonic() - t0
        finally:
            sb.sigcont(leader)
            sb.sigcont(frozen_follower)
        h.log(f"a write through node {last} with the leader frozen: {r!r} after {took:.1f} s")
        check(took < SLOWEST_S, f"the forwarded write was answered after {took:.1f} s")
        check(r.status == 503 and r.headers.get("retry-after"),
              f"the forwarded write to a frozen leader: {r!r}, expected 503 with Retry-After")
        check("did not answer" in error_message(r.body.decode()),
              f"the 503 does not say the leader did not answer: {r!r}")
        took, _ = write_until_accepted(c, 3, 30)
        h.log(f"writes through node {last} accepted again {took:.1f} s after the thaw")
        c.close()


def write_until_accepted(c, k, timeout):
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        try:
            r = c.post_json("/app/log/private", {"id": k, "msg": f"{k}"})
            if r.status == 200:
                return time.monotonic() - t0, r.txid
            last = r
        except (OSError, http.client.HTTPException) as e:
            last = e
        time.sleep(0.1)
    raise h.TestFailure(f"no write accepted for {timeout} s (last answer {last!r})")


def test_error_bodies_name_only_their_own_transaction(env):
    """Clients writing to the leader when it is frozen and loses its leadership are
    answered 503 with their own x-consort-txid; the message names that transaction
    and no other (issue 11, failure 6: 503 bodies named other clients' transactions).
    """
    with env.sandbox(3) as sb:
        writers = None
        try:
            unknown = []
            for rnd in range(6):
                leader = sb.wait_leader()
                others = [i for i in range(3) if i != leader]
                writers = Writers(sb, [leader], 8).start()
                writers.wait_acked(50, 60, "before the freeze")
                sb.sigstop(leader)
                try:
                    sb.wait_leader(among=others)
                finally:
                    sb.sigcont(leader)
                # the old leader learns it lost: its pending writes fail (this was a
                # 2 s sleep); every request in flight when it resumed is answered
                writers.wait_all_answered_since(time.monotonic(), 60,
                                                "an answer to every writer after the resume")
                writers.stop()
                answers, writers = writers.answers, None
                unknown += [a for a in answers if a[2] == 503 and a[3]]
                for c, node, status, txid, _, body, *_ in answers:
                    if status == 200:
                        continue
                    msg = error_message(body)
                    named = {f"{t}.{s}" for t, s in TXID.findall(msg)}
                    check(named <= ({txid} if txid else set()),
                          f"client {c}: HTTP {status} (x-consort-txid {txid}) names another "
                          f"transaction {sorted(named - {txid})}: {msg}")
                    check(not ENTRY.search(msg),
                          f"client {c}: HTTP {status} (x-consort-txid {txid}) names a raft entry "
                          f"that is not its own: {msg}")
                h.log(f"round {rnd}: {len(answers)} answers, {len(unknown)} with an unknown "
                      f"outcome so far, each naming only its own transaction")
                if len(unknown) >= 2:
                    break
            check(len(unknown) >= 2, "the frozen leader never failed two pending writes at once: "
                                     "the test did not see what it checks")
            for c, _, _, txid, retry, body, *_ in unknown[:3]:
                h.log(f"client {c}, {txid}: {error_message(body)}")
                check(retry, f"503 without Retry-After: {body}")
                check(txid in error_message(body), f"the 503 for {txid} does not name it: {body}")
        finally:
            if writers is not None:
                writers.stop()


if __name__ == "__main__":
    sys.exit(h.main([test_forwarded_writes_answered_when_leader_frozen,
                     test_forward_deadline_without_a_new_leader,
                     test_error_bodies_name_only_their_own_transaction]))
