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
    (client, node, status, x-consort-txid, Retry-After, body, seconds it took)."""

    def __init__(self, sb, nodes, count, timeout=60):
        self.sb, self.nodes, self.timeout = sb, nodes, timeout
        self.answers = []
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
                if isinstance(r, h.Response):
                    self.answers.append((c, node, r.status, r.txid, r.headers.get("retry-after"),
                                         r.body.decode(errors="replace"), took))
                else:
                    self.answers.append((c, node, None, None, None, repr(r), took))
            if not isinstance(r, h.Response) or r.status != 200:
                time.sleep(0.05)
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

    def wait_acked(self, more, timeout, what):
        base = len(self.acked())
        h.wait_until(lambda: len(self.acked()) >= base + more, timeout, f"{more} writes {what}")


def error_message(body):
    try:
        return json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return body


def test_error_bodies_name_only_their_own_transaction(env):
    """Clients writing to the leader when it is frozen and loses its leadership are
    answered 503 with their own x-consort-txid; the message names that transaction
    and no other (issue 11, failure 6: 503 bodies named other clients' transactions).
    """
    with env.sandbox(3) as sb:
        writers = None
        try:
            unknown = []
            for rnd in range(3):
                leader = sb.wait_leader()
                others = [i for i in range(3) if i != leader]
                writers = Writers(sb, [leader], 8).start()
                writers.wait_acked(50, 60, "before the freeze")
                sb.sigstop(leader)
                try:
                    sb.wait_leader(among=others)
                finally:
                    sb.sigcont(leader)
                time.sleep(2)  # the old leader learns it lost: its pending writes fail
                writers.stop()
                answers, writers = writers.answers, None
                unknown += [a for a in answers if a[2] == 503 and a[3]]
                for c, node, status, txid, _, body, _ in answers:
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
            for c, _, _, txid, retry, body, _ in unknown[:3]:
                h.log(f"client {c}, {txid}: {error_message(body)}")
                check(retry, f"503 without Retry-After: {body}")
                check(txid in error_message(body), f"the 503 for {txid} does not name it: {body}")
        finally:
            if writers is not None:
                writers.stop()


if __name__ == "__main__":
    sys.exit(h.main([test_error_bodies_name_only_their_own_transaction]))
