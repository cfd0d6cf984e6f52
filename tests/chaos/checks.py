"""The chaos harness's history checks (run_chaos.py), usable on a kept run:

    python3 tests/chaos/run_chaos.py --recheck DIR/history.jsonl [--strict-plain-reads]

A record is one op as workload.py wrote it: f (write, cas, read, plain_read),
key, value, invoke, complete, status (ok, fail, info), process, node, txid,
and after the run, for an unknown outcome with a txid, resolved (the
/node/tx status) and resolved_at.
"""

import bisect
import collections
import json

import linearizability as lin


def _seqno(txid):
    try:
        return int(str(txid).split(".")[1])
    except (IndexError, ValueError):
        return None


def _committed_by(recs):
    """f(txid, invoke): the earliest time an acknowledged op of any key with a
    larger seqno completed (its commit implies every smaller seqno's: the
    ledger commits a prefix), not before `invoke`; INF if none."""
    acked = sorted((_seqno(r.get("txid")), r["complete"]) for r in recs
                   if r["status"] == "ok" and _seqno(r.get("txid")) is not None)
    seqnos = [s for s, _ in acked]
    suffix = [lin.INF] * (len(acked) + 1)  # suffix[i]: min completion of acked[i:]
    for i in range(len(acked) - 1, -1, -1):
        suffix[i] = min(acked[i][1], suffix[i + 1])

    def by(txid, invoke):
        s = _seqno(txid)
        if s is None:
            return lin.INF
        return max(invoke, suffix[bisect.bisect_right(seqnos, s)])
    return by


def check_records(recs, strict_plain_reads=False, log=lambda m: None):
    """The history checks on recorded ops (a run's, or a saved history.jsonl):
    returns (counts by kind and outcome, anomalies, per-key results).
    Unknown-outcome writes with a txid found Invalid after the run are left
    out; found Committed, they completed by the time they were resolved.
    strict_plain_reads checks plain reads as if they were linearizable (they
    are not promised to be: a harness self-test that must find stale reads)."""
    counts = collections.Counter()
    ops, plain, problems = [], [], []
    committed_by = _committed_by(recs)
    written = collections.defaultdict(dict)  # key -> value -> rec
    for r in recs:
        f, st = r["f"], r["status"]
        counts[f"{f}:{st}"] += 1
        if f in ("write", "cas") and st != "fail":
            new = r["value"] if f == "write" else r["value"][1]
            written[r["key"]][new] = r
        if st == "fail":
            continue
        if f == "plain_read":
            plain.append(r)
            if not strict_plain_reads:
                continue
            f = "read"
        complete = r["complete"]
        if st == "info":
            if r.get("resolved") == "Invalid":
                continue
            complete = None
            if r.get("resolved") == "Committed":
                # committed by the time a later seqno was acknowledged (the log
                # commits in order), and at the latest when it was resolved
                complete = min(r.get("resolved_at"), committed_by(r.get("txid"), r["invoke"]))
        value = tuple(r["value"]) if f == "cas" else r["value"]
        ops.append(lin.Op(f, r["key"], value, r["invoke"], complete, r["process"], r["node"]))
    results = lin.check(ops)
    for res in results:
        log(repr(res))
        if res.gave_up:
            problems.append(f"linearizability of {res.key!r} not decided: {res.detail}")
        elif not res.ok:
            problems.append(f"register {res.key!r} is not linearizable: {res.detail}")
    # plain reads: committed values only (no value that was never written, none
    # from a write that was refused or found Invalid, none before it was written)
    for r in plain:
        v = r["value"]
        if v is None:
            continue
        w = written[r["key"]].get(v)
        if w is None or w.get("resolved") == "Invalid" or w["invoke"] > r["complete"]:
            problems.append(f"plain read of {r['key']} on node {r['node']} returned {v!r}, "
                            f"which no write that may have committed wrote before it: {r}")
    return counts, problems, results


def recheck(argv):
    """run_chaos.py --recheck HISTORY.jsonl [--strict-plain-reads]: the history
    checks again on a kept run's history (as recorded, Invalid/Committed
    resolutions included)."""
    path = argv[argv.index("--recheck") + 1]
    with open(path) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    counts, problems, results = check_records(recs, "--strict-plain-reads" in argv, print)
    for p in problems:
        print("anomaly: " + p)
    print(f"recheck: {sum(counts.values())} ops, anomalies={len(problems)}")
    return 1 if problems else 0
