#!/usr/bin/env python3
"""What a client may rely on (DESIGN.md "Consistency", docs/consistency.md), tried
against real consortd processes of a 3-node `consort sandbox`:

1. read-your-writes on a follower: a write sent to a follower (forwarded to the
   leader) is answered only once that follower applied it, so the same client's
   next read there sees it: 1000 of 1000 tries;
2. GET /app/receipt right after a forwarded write never answers 404 (200, or 202
   with Retry-After while it is not signed yet), on that follower or on the other;
3. x-consort-min-txid: a read on node B carrying the txid of a write made on node A
   sees that write; a txid that is far in the future gets 503 with Retry-After after
   a bounded wait; a malformed one gets 400;
4. no dirty read on an isolated leader: with both followers frozen (SIGSTOP) the
   leader cannot commit; a write sent to it must never be visible to a read there,
   a linearizable read there must not be served, and once a new majority exists the
   write is either Committed (and readable) or Invalid (and nowhere);
5. /node/tx (and /app/receipt): 202 with Retry-After for a txid that may still
   commit, 404 only for one that never can, 400 for a malformed one.

Each check collects its own failures; every check runs, and the test fails with the
list of all that failed."""

import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

PRIVATE = "/app/log/private"


class Checks:
    """Runs named checks one after the other; a failing one is recorded and the next
    one still runs; done() fails with every recorded failure."""

    def __init__(self):
        self.failed = []

    def run(self, name, fn, *args):
        h.log(f"--- check: {name}")
        t0 = time.monotonic()
        try:
            fn(*args)
        except h.TestFailure as e:
            h.log(f"--- check FAILED: {name} ({time.monotonic() - t0:.1f} s): {e}")
            self.failed.append(f"{name}: {e}")
            return False
        h.log(f"--- check ok: {name} ({time.monotonic() - t0:.1f} s)")
        return True

    def done(self):
        if self.failed:
            raise h.TestFailure(f"{len(self.failed)} check(s) failed:\n  - "
                                + "\n  - ".join(self.failed))


def txid_parts(txid):
    term, seqno = txid.split(".")
    return int(term), int(seqno)


def node_state(sb, i):
    c = sb.client(i)
    try:
        return c.get_json("/node/state")
    finally:
        c.close()


def leader_and_followers(sb):
    leader = sb.wait_leader()
    return leader, [i for i in range(sb.count) if i != leader]


def applied(sb, i):
    """(term, seqno) of the last transaction node i applied (GET /node/commit)."""
    c = sb.client(i)
    try:
        return txid_parts(c.get_json("/node/commit")["transaction_id"])
    finally:
        c.close()


def write_ok(client, rid, msg, what):
    r = client.post_json(PRIVATE, {"id": rid, "msg": msg})
    check(r.status == 200 and r.txid,
          f"{what}: POST {PRIVATE} id {rid} on {client.address}: {r!r} "
          f"(x-consort-txid {r.txid!r})")
    return r.txid


def pct(values, p):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


def timing(name, values):
    return (f"{name} p50 {statistics.median(values) * 1000:.1f} ms, "
            f"p99 {pct(values, 0.99) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms")


def summarize(failures, limit=5):
    shown = "; ".join(failures[:limit])
    more = f" (and {len(failures) - limit} more)" if len(failures) > limit else ""
    return shown + more


# ---------------------------------------------------------------- 1. read-your-writes

RYW_TRIES = 1000
RYW_CLIENTS = 4  # each its own connection, writing then reading, side by side
RYW_BUDGET_S = 60


def check_read_your_writes(sb, follower):
    """RYW_CLIENTS clients of a follower each write and at once read back, RYW_TRIES
    tries in all; every read must see its own client's write."""
    lock = threading.Lock()
    failures, post_times, get_times = [], [], []
    done = [0]
    t0 = time.monotonic()

    def client_loop(n):
        c = sb.client(follower)
        try:
            for k in range(n, RYW_TRIES, RYW_CLIENTS):
                if time.monotonic() - t0 > RYW_BUDGET_S:
                    return
                rid, msg = 100_000 + k, f"ryw-{k}"
                t1 = time.monotonic()
                try:
                    r = c.post_json(PRIVATE, {"id": rid, "msg": msg})
                    t2 = time.monotonic()
                    g = c.get(f"{PRIVATE}?id={rid}") if r.status == 200 and r.txid else None
                except (OSError, h.http.client.HTTPException) as e:
                    with lock:
                        failures.append(f"try {k}: no answer: {e!r}")
                        done[0] += 1
                    continue
                t3 = time.monotonic()
                with lock:
                    done[0] += 1
                    post_times.append(t2 - t1)
                    if g is None:
                        failures.append(f"try {k}: the write was not acknowledged: {r!r}")
                        continue
                    get_times.append(t3 - t2)
                    if g.status != 200 or g.json().get("msg") != msg:
                        failures.append(f"try {k}: wrote id {rid} as {r.txid} (answered after "
                                        f"{(t2 - t1) * 1000:.0f} ms), then read {g!r}")
        finally:
            c.close()

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(RYW_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RYW_BUDGET_S + 60)
    elapsed = time.monotonic() - t0
    h.log(f"read-your-writes on follower {follower}: {done[0] - len(failures)} of {done[0]} "
          f"tries ({RYW_CLIENTS} clients) saw their write, in {elapsed:.1f} s "
          f"({timing('write', post_times or [0])}; {timing('read', get_times or [0])}); "
          f"node {follower} applied {applied(sb, follower)}")
    check(done[0] == RYW_TRIES, f"out of time: only {done[0]} of {RYW_TRIES} tries in "
                                f"{RYW_BUDGET_S} s")
    check(not failures, f"{len(failures)} of {RYW_TRIES} tries failed: {summarize(failures)}")
    slow = [t for t in post_times if t >= 5.0]
    check(not slow, f"{len(slow)} forwarded writes took >= 5 s (the follower gave up "
                    f"waiting to apply them: CS_RPC_FORWARD_APPLY_WAIT_MS)")


# ---------------------------------------------------------------- 2. receipts at once

RECEIPT_TRIES = 200


def check_receipt_never_404(sb, follower, other):
    """After each forwarded write, GET /app/receipt of its txid at once on the same
    follower and on the other follower (which may not have it yet): 200 or 202 with
    Retry-After, never 404 (it is committed: it can never become invalid)."""
    c, o = sb.client(follower), sb.client(other)
    failures = []
    counts = {}
    try:
        for k in range(RECEIPT_TRIES):
            rid = 200_000 + k
            r = c.post_json(PRIVATE, {"id": rid, "msg": f"receipt-{k}"})
            if r.status != 200 or not r.txid:
                failures.append(f"try {k}: the write was not acknowledged: {r!r}")
                continue
            for node, client in ((follower, c), (other, o)):
                g = client.get(f"/app/receipt?transaction_id={r.txid}")
                counts[(node, g.status)] = counts.get((node, g.status), 0) + 1
                if g.status == 200:
                    got = g.json().get("txid")
                    if got != r.txid:
                        failures.append(f"try {k}: node {node}: receipt for {got}, asked "
                                        f"{r.txid}")
                elif g.status == 202:
                    if not g.headers.get("retry-after"):
                        failures.append(f"try {k}: node {node}: 202 without Retry-After "
                                        f"for {r.txid}: {g!r}")
                else:
                    failures.append(f"try {k}: node {node}: GET /app/receipt?transaction_id="
                                    f"{r.txid} right after the write: {g!r}")
                t = client.get(f"/node/tx?transaction_id={r.txid}")
                if t.status == 404 or t.status not in (200, 202) or \
                        (t.status == 202 and not t.headers.get("retry-after")):
                    failures.append(f"try {k}: node {node}: GET /node/tx?transaction_id="
                                    f"{r.txid} right after the write: {t!r} "
                                    f"(retry-after {t.headers.get('retry-after')!r})")
    finally:
        c.close()
        o.close()
    h.log("receipt statuses right after a forwarded write: " + ", ".join(
        f"node {n} HTTP {s}: {v}" for (n, s), v in sorted(counts.items())))
    check(not failures, f"{len(failures)} bad answers: {summarize(failures)}")


# ---------------------------------------------------------------- 3. x-consort-min-txid

MIN_TXID_TRIES = 200
MALFORMED_TXIDS = ["banana", "1", "1.", ".1", "0.1", "1.0", "0.0", "1.2.3", "-1.2", "1.-2",
                   "1.2x", "x1.2", "1,2", "+1.2", "0x1.2", "1 .2", "18446744073709551616.1",
                   "1.18446744073709551616", ""]


def check_min_txid(sb, leader, followers):
    """Writes on node A (the leader or a follower), reads at once on the other follower
    B with x-consort-min-txid: <its txid>: the read must see the write."""
    a_nodes = [followers[0], leader]
    b = followers[1]
    clients = {i: sb.client(i) for i in set(a_nodes + [b])}
    failures = []
    waits = []
    write_times = {a: [] for a in a_nodes}
    try:
        for k in range(MIN_TXID_TRIES):
            a = a_nodes[k % 2]
            rid, msg = 300_000 + k, f"min-{k}"
            t0 = time.monotonic()
            r = clients[a].post_json(PRIVATE, {"id": rid, "msg": msg})
            write_times[a].append(time.monotonic() - t0)
            if r.status != 200 or not r.txid:
                failures.append(f"try {k}: the write on node {a} was not acknowledged: {r!r}")
                continue
            t0 = time.monotonic()
            g = clients[b].request("GET", f"{PRIVATE}?id={rid}",
                                   headers={"x-consort-min-txid": r.txid})
            waits.append(time.monotonic() - t0)
            if g.status != 200 or g.json().get("msg") != msg:
                failures.append(f"try {k}: wrote id {rid} as {r.txid} on node {a}; read on "
                                f"node {b} with x-consort-min-txid {r.txid}: {g!r}")
        # the same without the header, for the record (a stale read is allowed then)
        stale = 0
        for k in range(50):
            rid = 350_000 + k
            r = clients[followers[0]].post_json(PRIVATE, {"id": rid, "msg": "plain"})
            if r.status == 200:
                stale += clients[b].get(f"{PRIVATE}?id={rid}").status == 404
    finally:
        for c in clients.values():
            c.close()
    h.log(f"x-consort-min-txid: {MIN_TXID_TRIES - len(failures)} of {MIN_TXID_TRIES} reads "
          f"on node {b} saw the write ({timing('read', waits or [0])}); without the header "
          f"{stale} of 50 reads right after a write on node {followers[0]} did not see it; "
          + "; ".join(timing(f"write on node {a}{' (leader)' if a == leader else ''}", v)
                      for a, v in write_times.items()))
    check(not failures, f"{len(failures)} of {MIN_TXID_TRIES} tries failed: "
                        f"{summarize(failures)}")


def check_min_txid_future(sb, leader, followers):
    """A txid far in the future: 503 with Retry-After after a bounded wait (the node
    waits up to about 2 s for it), on a follower and on the leader."""
    failures = []
    for i in (followers[0], leader):
        term, seqno = applied(sb, i)
        for future in (f"{term}.{seqno + 1_000_000}", f"{term + 1000}.{seqno + 1_000_000}"):
            c = sb.client(i)
            c.timeout = 20
            t0 = time.monotonic()
            try:
                g = c.request("GET", f"{PRIVATE}?id=1", headers={"x-consort-min-txid": future})
            except (OSError, h.http.client.HTTPException) as e:
                failures.append(f"node {i}: x-consort-min-txid {future}: no answer after "
                                f"{time.monotonic() - t0:.1f} s ({e!r})")
                continue
            finally:
                c.close()
            dt = time.monotonic() - t0
            h.log(f"node {i}: x-consort-min-txid {future} (applied {term}.{seqno}): "
                  f"HTTP {g.status} after {dt:.2f} s, Retry-After "
                  f"{g.headers.get('retry-after')!r}")
            if g.status != 503 or not g.headers.get("retry-after") or dt > 3.5:
                failures.append(f"node {i}: x-consort-min-txid {future} (applied "
                                f"{term}.{seqno}): after {dt:.2f} s {g!r}, Retry-After "
                                f"{g.headers.get('retry-after')!r}; expected 503 with "
                                f"Retry-After within ~2-3 s")
    check(not failures, summarize(failures, 10))


def check_min_txid_malformed(sb, leader, followers):
    failures = []
    for i in (followers[0], leader):
        c = sb.client(i)
        try:
            for bad in MALFORMED_TXIDS:
                t0 = time.monotonic()
                g = c.request("GET", f"{PRIVATE}?id=1", headers={"x-consort-min-txid": bad})
                if g.status != 400:
                    failures.append(f"node {i}: x-consort-min-txid {bad!r}: {g!r} after "
                                    f"{time.monotonic() - t0:.2f} s, expected 400")
        finally:
            c.close()
    check(not failures, summarize(failures, 10))


def check_min_txid_wrong_term(sb, leader, followers):
    """x-consort-min-txid naming an applied seqno under a term it does not have: that
    transaction can never commit, so the read cannot promise to see it: 412
    TransactionInvalid (not a read of state that lacks it)."""
    failures = []
    c = sb.client(leader)
    try:
        txid = write_ok(c, 370_000, "wrong-term", "min-txid term check")
    finally:
        c.close()
    sb.wait_caught_up(range(sb.count))
    term, seqno = txid_parts(txid)
    for i in (followers[0], leader):
        c = sb.client(i)
        try:
            for bad in (f"{term + 7}.{seqno}", f"{term + 1}.{seqno}"):
                g = c.request("GET", f"{PRIVATE}?id=370000", headers={"x-consort-min-txid": bad})
                code = g.json().get("error", {}).get("code") if g.status == 412 else None
                if g.status != 412 or code != "TransactionInvalid":
                    failures.append(f"node {i}: x-consort-min-txid {bad} (seqno {seqno} is of "
                                    f"term {term}): {g!r}, expected 412 TransactionInvalid")
            g = c.request("GET", f"{PRIVATE}?id=370000", headers={"x-consort-min-txid": txid})
            if g.status != 200:
                failures.append(f"node {i}: x-consort-min-txid {txid} (the real one): {g!r}")
        finally:
            c.close()
    check(not failures, summarize(failures, 10))


def check_read_mode_unknown(sb, leader, followers):
    """x-consort-read takes "committed" or "linearizable"; anything else is a 400 naming the
    header, not silently a plain read."""
    failures = []
    for i in (followers[0], leader):
        c = sb.client(i)
        try:
            for bad in ("linearisable", "strong", ""):
                g = c.request("GET", f"{PRIVATE}?id=1", headers={"x-consort-read": bad})
                if g.status != 400 or b"x-consort-read" not in g.body:
                    failures.append(f"node {i}: x-consort-read {bad!r}: {g!r}, expected 400")
            g = c.request("GET", f"{PRIVATE}?id=1", headers={"x-consort-read": "committed"})
            if g.status not in (200, 404):
                failures.append(f"node {i}: x-consort-read committed: {g!r}")
        finally:
            c.close()
    check(not failures, summarize(failures, 10))


def check_linearizable_read(sb, leader, followers):
    """A linearizable read on a follower (served through the leader) right after a write
    on the other follower sees it."""
    a, b = followers
    ca, cb = sb.client(a), sb.client(b)
    failures = []
    try:
        for k in range(20):
            rid, msg = 360_000 + k, f"lin-{k}"
            txid = write_ok(ca, rid, msg, "linearizable read")
            g = cb.request("GET", f"{PRIVATE}?id={rid}", headers={"x-consort-read": "linearizable"})
            if g.status != 200 or g.json().get("msg") != msg:
                failures.append(f"try {k}: wrote id {rid} as {txid} on node {a}; linearizable "
                                f"read on node {b}: {g!r}")
    finally:
        ca.close()
        cb.close()
    check(not failures, summarize(failures))


# ---------------------------------------------------------------- 5. /node/tx statuses

def expect(failures, r, what, status, retry_after=None, tx_status=None):
    ok = r.status == status
    if ok and retry_after is not None:
        ok = bool(r.headers.get("retry-after")) == retry_after
    if ok and tx_status is not None:
        try:
            ok = r.json().get("status") in tx_status
        except ValueError:
            ok = False
    if not ok:
        failures.append(f"{what}: {r!r} (Retry-After {r.headers.get('retry-after')!r}); "
                        f"expected {status}"
                        + (f" with Retry-After" if retry_after else "")
                        + (f" and status {'/'.join(tx_status)}" if tx_status else ""))


def check_tx_status(sb, nodes, committed_txid, old_terms=()):
    """For each node: a future seqno in the current term (and a later term) may still
    commit: 202 + Retry-After (Unknown or Pending) from /node/tx and /app/receipt; a
    committed txid: 200; the committed seqno with another term, or a seqno past the end
    in a term that is over (old_terms): 404 Invalid; term or seqno 0, malformed,
    missing: 400."""
    failures = []
    cterm, cseq = txid_parts(committed_txid)
    for i in nodes:
        term, seqno = applied(sb, i)
        raft_term = node_state(sb, i).get("raft_term", term)
        c = sb.client(i)
        try:
            for future in (f"{term}.{seqno + 1000}", f"{raft_term}.{seqno + 1000}",
                           f"{raft_term + 5}.{seqno + 1000}"):
                expect(failures, c.get(f"/node/tx?transaction_id={future}"),
                       f"node {i} (applied {term}.{seqno}, raft term {raft_term}): "
                       f"/node/tx {future}", 202, True, ("Unknown", "Pending"))
                expect(failures, c.get(f"/app/receipt?transaction_id={future}"),
                       f"node {i}: /app/receipt {future}", 202, True)
            expect(failures, c.get(f"/node/tx?transaction_id={committed_txid}"),
                   f"node {i}: /node/tx {committed_txid}", 200, None, ("Committed",))
            never = f"{cterm + 1}.{cseq}"
            expect(failures, c.get(f"/node/tx?transaction_id={never}"),
                   f"node {i}: /node/tx {never} (seqno {cseq} committed in term {cterm})",
                   404, None, ("Invalid",))
            expect(failures, c.get(f"/app/receipt?transaction_id={never}"),
                   f"node {i}: /app/receipt {never} (seqno {cseq} committed in term {cterm})",
                   404)
            for old in old_terms:
                gone = f"{old}.{seqno + 1000}"
                expect(failures, c.get(f"/node/tx?transaction_id={gone}"),
                       f"node {i} (applied {term}.{seqno}): /node/tx {gone} (term {old} is over)",
                       404, None, ("Invalid",))
                expect(failures, c.get(f"/app/receipt?transaction_id={gone}"),
                       f"node {i} (applied {term}.{seqno}): /app/receipt {gone} (term {old} "
                       f"is over)", 404)
            for bad in ("0.1", f"{term}.0", "0.0", "banana", "1.2.3", "-1.2",
                        "18446744073709551616.1", ""):
                expect(failures, c.get(f"/node/tx?transaction_id={bad}"),
                       f"node {i}: /node/tx {bad!r}", 400)
                expect(failures, c.get(f"/app/receipt?transaction_id={bad}"),
                       f"node {i}: /app/receipt {bad!r}", 400)
            expect(failures, c.get("/node/tx"), f"node {i}: /node/tx without transaction_id",
                   400)
        finally:
            c.close()
    check(not failures, summarize(failures, 12))


# ---------------------------------------------------------------- 4. isolated leader

ISOLATION_READ_S = 4.0


def isolated_leader(sb, checks):
    """Freezes both followers, writes to the leader (it cannot commit), reads that
    record on the leader while it is cut off, then kills the old leader, thaws the
    followers and checks what became of the write."""
    leader, followers = leader_and_followers(sb)
    rid, msg = 400_000, "written-while-isolated"
    # the write path works before the cut (and the leader has an entry in its term)
    c = sb.client(leader)
    committed = write_ok(c, 400_001, "before-isolation", "before the isolation")
    c.close()
    sb.wait_caught_up(followers)
    term_before = node_state(sb, leader)["raft_term"]

    post_result = {}
    lin_result = {}
    dirty = []
    reads = {}
    post_client = sb.client(leader)
    post_client.timeout = 30
    read_client = sb.client(leader)
    read_client.timeout = 10
    lin_client = sb.client(leader)
    lin_client.timeout = 10
    # connect every client now, so that nothing waits on a handshake once isolated
    for cl in (post_client, read_client, lin_client):
        cl.get("/node/commit")

    def post():
        t0 = time.monotonic()
        try:
            post_result["response"] = post_client.post_json(PRIVATE, {"id": rid, "msg": msg})
        except Exception as e:  # noqa: BLE001 -- reported by the test thread
            post_result["error"] = e
        post_result["after"] = time.monotonic() - t0

    def linearizable():
        t0 = time.monotonic()
        try:
            lin_result["response"] = lin_client.request(
                "GET", f"{PRIVATE}?id={rid}", headers={"x-consort-read": "linearizable"})
        except Exception as e:  # noqa: BLE001
            lin_result["error"] = e
        lin_result["after"] = time.monotonic() - t0

    post_thread = threading.Thread(target=post, daemon=True)
    lin_thread = threading.Thread(target=linearizable, daemon=True)
    stopped = []
    try:
        for f in followers:
            sb.sigstop(f)
            stopped.append(f)
        t_cut = time.monotonic()
        post_thread.start()
        time.sleep(0.05)  # let the write reach the leader before the linearizable read
        lin_thread.start()
        n = 0
        while time.monotonic() - t_cut < ISOLATION_READ_S:
            try:
                g = read_client.get(f"{PRIVATE}?id={rid}")
            except (OSError, h.http.client.HTTPException) as e:
                reads["error"] = reads.get("error", 0) + 1
                h.log(f"read on the isolated leader: {e!r}")
                continue
            n += 1
            reads[g.status] = reads.get(g.status, 0) + 1
            if g.status == 200:
                dirty.append(f"after {time.monotonic() - t_cut:.2f} s: {g!r}")
            time.sleep(0.005)
        post_thread.join(30)
        lin_thread.join(15)
        st_isolated = node_state(sb, leader)
        h.log(f"{n} reads of id {rid} on the isolated leader node {leader}: "
              + ", ".join(f"{k}: {v}" for k, v in reads.items())
              + f"; its state now: raft_state {st_isolated.get('raft_state')}, "
                f"is_leader {st_isolated.get('is_leader')}, "
                f"last_committed_txid {st_isolated.get('last_committed_txid')}")
        pr = post_result.get("response")
        h.log(f"the write to the isolated leader: "
              f"{pr!r} x-consort-txid {pr.txid if pr else None!r}"
              if pr is not None else
              f"the write to the isolated leader: no answer ({post_result.get('error')!r}) "
              f"after {post_result.get('after', 0):.1f} s")
        lr = lin_result.get("response")
        h.log(f"the linearizable read on the isolated leader: "
              + (f"{lr!r} after {lin_result['after']:.2f} s" if lr is not None else
                 f"no answer ({lin_result.get('error')!r}) after "
                 f"{lin_result.get('after', 0):.2f} s"))
        h.log(f"killing the isolated leader node {leader}, thawing nodes {followers}")
        sb.kill9(leader)
    finally:
        for f in stopped:
            sb.sigcont(f)
        for cl in (post_client, read_client, lin_client):
            cl.close()

    txid = pr.txid if pr is not None else None

    def no_dirty_read():
        check(not dirty, f"the isolated leader node {leader} served the write it could not "
                         f"commit (id {rid}, txid {txid}) to {len(dirty)} of {n} reads: "
                         f"{summarize(dirty)}")
        check(n > 0, "no read of the isolated leader was answered")
        check(pr is None or pr.status != 200,
              f"the isolated leader acknowledged a write no follower could have stored: "
              f"{pr!r} x-consort-txid {txid}")
        check(pr is None or pr.status == 503,
              f"the write to the isolated leader: {pr!r} (expected 503 or no answer)")

    def write_was_executed():
        # Without an id the leader never ran the write (it lost leadership first), and
        # the dirty-read check above tried nothing: that is a failure of this test.
        check(txid is not None,
              f"the write to the isolated leader was not given a transaction id "
              f"(answer {pr!r}, error {post_result.get('error')!r}): the leader did not "
              f"execute it while isolated, so no dirty read was tried")

    def linearizable_refused():
        check(lr is None or lr.status == 503,
              f"a linearizable read on the isolated leader was answered {lr!r} after "
              f"{lin_result.get('after', 0):.2f} s (expected 503 or no answer)")
        if lr is not None:
            check(lr.headers.get("retry-after"), f"503 without Retry-After: {lr!r}")

    checks.run("4a no dirty read on an isolated leader", no_dirty_read)
    checks.run("4b the isolated leader executed the write (so 4a tried something)",
               write_was_executed)
    checks.run("4c no linearizable read on an isolated leader", linearizable_refused)

    survivors = followers
    new_leader = sb.wait_leader(timeout=30, among=survivors)
    h.log(f"node {new_leader} leads after the old leader's death "
          f"(term {node_state(sb, new_leader)['raft_term']}, was {term_before})")

    def outcome():
        c = sb.client(new_leader)
        try:
            if txid is not None:
                st = h.wait_until(lambda: {"Committed": "Committed", "Invalid": "Invalid"}.get(
                    c.tx_status(txid)), 30, f"{txid} to be Committed or Invalid on node "
                                           f"{new_leader}")
            else:
                st = None
            g = c.request("GET", f"{PRIVATE}?id={rid}", headers={"x-consort-read": "linearizable"})
        finally:
            c.close()
        h.log(f"the write made on the isolated leader ({txid}) is {st} on the new leader; "
              f"a linearizable read of id {rid} there: {g!r}")
        check(g.status in (200, 404), f"linearizable read on the new leader: {g!r}")
        if st == "Committed":
            check(g.status == 200 and g.json().get("msg") == msg,
                  f"{txid} is Committed but its record reads {g!r}")
        elif st == "Invalid":
            check(g.status == 404, f"{txid} is Invalid but its record reads {g!r}")
        sb.wait_caught_up(survivors)
        for i in survivors:
            c = sb.client(i)
            try:
                r = c.get(f"{PRIVATE}?id={rid}")
                check(r.status == g.status, f"node {i} reads id {rid} as {r!r}, the new leader "
                                            f"as {g!r}")
                if txid is not None:
                    s = c.tx_status(txid)
                    check(s == st, f"{txid} is {s} on node {i}, {st} on the new leader")
            finally:
                c.close()

    checks.run("4d the write made on the isolated leader ends Committed and readable, or "
               "Invalid and nowhere", outcome)
    return survivors, committed, term_before, txid


# ---------------------------------------------------------------- the tests

def test_consistency(env):
    checks = Checks()
    with env.sandbox(3) as sb:
        leader, followers = leader_and_followers(sb)
        h.log(f"node {leader} leads; followers {followers}; state "
              f"{node_state(sb, leader)}")
        checks.run("1 read-your-writes on a follower", check_read_your_writes, sb, followers[0])
        checks.run("2 /app/receipt right after a forwarded write is never 404",
                   check_receipt_never_404, sb, followers[1], followers[0])
        checks.run("3a x-consort-min-txid read on another node sees the write",
                   check_min_txid, sb, leader, followers)
        checks.run("3b x-consort-min-txid far in the future: 503 + Retry-After",
                   check_min_txid_future, sb, leader, followers)
        checks.run("3c x-consort-min-txid malformed: 400", check_min_txid_malformed, sb,
                   leader, followers)
        checks.run("3d linearizable read on a follower sees a write made on the other",
                   check_linearizable_read, sb, leader, followers)
        checks.run("3e x-consort-min-txid of a term its seqno does not have: 412",
                   check_min_txid_wrong_term, sb, leader, followers)
        checks.run("3f x-consort-read other than committed/linearizable: 400",
                   check_read_mode_unknown, sb, leader, followers)
        c = sb.client(leader)
        committed = write_ok(c, 500_000, "status", "for /node/tx")
        c.close()
        sb.wait_caught_up(range(sb.count))
        checks.run("5a /node/tx and /app/receipt: 202 / 404 / 400", check_tx_status, sb,
                   range(sb.count), committed)

        survivors, committed, old_term, txid = isolated_leader(sb, checks)
        # a write in the new leader's term: once it is applied, every node knows that the
        # terms before are over
        new_leader = sb.wait_leader(among=survivors)
        c = sb.client(new_leader)
        committed = write_ok(c, 500_001, "status", "on the new leader")
        c.close()
        sb.wait_caught_up(survivors)
        # 5b: the terms before the new leader's are over: a seqno past the end in them can
        # never commit (404), a future seqno in the current term still can (202).
        old_terms = [old_term] + ([txid_parts(txid)[0]] if txid else [])
        checks.run("5b /node/tx after a leader change: 404 in a term that is over, 202 in the "
                   "current one", check_tx_status, sb, survivors, committed,
                   sorted(set(old_terms)))
    checks.done()


if __name__ == "__main__":
    sys.exit(h.main([test_consistency]))
