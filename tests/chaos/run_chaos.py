#!/usr/bin/env python3
"""The fault-injection harness (issue 11): a consort sandbox under a
concurrent client workload while a seeded nemesis injects faults; then every
fault is healed and the run is checked. See docs/reliability.md "Fault
injection" for what it does and how to read its output.

    python3 tests/chaos/run_chaos.py --consort build/tools/consort \\
        --consortd build/tools/consortd [--app build/tests/chaos_app.so] \\
        --duration 120 [--seed N] [--nodes 3|5] [--faults kill,stop,...] [--out DIR]

Prints one summary line and exits 0 iff no anomaly was found:
    chaos: seed=... nodes=3 duration=120s faults={...} ops=... acked_writes_lost=0 anomalies=0 PASS
The run's files (history.jsonl, nemesis.jsonl, node logs, ledgers) are kept
in --out (default a fresh /tmp/consort-chaos-* directory) after a failure or
with --keep, and removed after a pass.

Checks after healing:
  1. the service is available again on every node (a write through each);
  2. every acknowledged write (2xx with a txid) is in every node's ledger at
     its txid, and is Committed on every node (/node/tx, a sample);
  3. the history of writes, compare-and-sets and linearizable reads is
     linearizable per key (linearizability.py); plain reads returned only
     values that some write that was not refused wrote (no dirty reads), and
     all nodes end with the same registers;
  4. the ledgers of all nodes are byte for byte identical on every seqno they
     both hold, and each holds the committed prefix (every seqno up to the
     last commit);
  5. `consort ledger verify` passes on every node's ledger;
  6. every receipt fetched during the run passes `consort receipt verify`.
"""

import argparse
import collections
import http.client
import os
import random
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import consort_harness as h  # noqa: E402
from checks import check_records, recheck  # noqa: E402
from cluster import Cluster  # noqa: E402
from nemesis import ALL_KINDS, Nemesis  # noqa: E402
from workload import Workload  # noqa: E402

SETUP_BUDGET_S = 240  # the sandbox's start
CHECK_BUDGET_S = 600  # healing, checks, ledger verification (a long run's history)


class Run:
    def __init__(self, opts):
        self.opts = opts
        self.root = opts.out or tempfile.mkdtemp(prefix="consort-chaos-")
        os.makedirs(self.root, exist_ok=True)
        self.logf = open(os.path.join(self.root, "chaos.log"), "a")
        # The run's own copies of the binaries: a node restarted by the nemesis must
        # be the code that sealed its state, and a rebuild during a long run changed
        # the code id under it ("cannot unseal: sealed by another code id").
        bin_dir = os.path.join(self.root, "bin")
        os.makedirs(bin_dir, exist_ok=True)
        for attr in ("consort", "consortd", "app"):
            path = getattr(opts, attr)
            copy = os.path.join(bin_dir, os.path.basename(path))
            shutil.copy2(path, copy)
            setattr(opts, attr, copy)
        self.anomalies = []
        self.lost = 0
        self.cluster = None

    def log(self, msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        self.logf.write(line + "\n")
        self.logf.flush()
        if self.opts.verbose:
            print(line, flush=True)

    def anomaly(self, what):
        self.anomalies.append(what)
        self.log("ANOMALY: " + what)

    # ---- the run ----

    def run(self):
        o = self.opts
        self.log(f"chaos run: seed {o.seed}, {o.nodes} nodes, {o.duration} s of faults "
                 f"{','.join(o.kinds)}; files in {self.root}")
        c = self.cluster = Cluster(o, self.root, self.log)
        c.start()
        c.supervise()
        self.log(f"sandbox ready: {[n['rpc_address'] for n in c.nodes]}")
        wl = self.wl = Workload(c, o.seed, o.clients_per_node, o.keys, o.client_timeout,
                                os.path.join(self.root, "receipts"))
        self.seed_registers()
        wl.start()
        t_end = time.monotonic() + o.duration
        nem = self.nem = Nemesis(c, o.seed, o.kinds, t_end, self.log,
                                 os.path.join(self.root, "nemesis.jsonl"))
        nem.start()
        nem.join(o.duration + 120)
        nem.stop()
        for e in nem.errors:
            self.anomaly(f"harness: a fault could not be applied or undone: {e}")
        self.log("chaos phase over: healing everything")
        c.heal_all()
        for i, why in c.crashes:
            self.anomaly(f"node {i} crashed: {why} (a core, if any, is in {os.getcwd()})")
        self.wait_available()
        time.sleep(3)  # the workload runs on the healed service for a moment
        wl.stop()
        self.log(f"workload stopped: {len(wl.hist.ops)} ops")
        self.final_reads()
        commit = self.wait_quiescent()
        self.check_history()
        unclean = c.stop_nodes()
        for u in unclean:
            self.anomaly(f"unclean shutdown: {u}")
        self.check_ledgers(commit)
        self.check_receipts()

    def seed_registers(self):
        """Each register gets a first value before the clients start (a write in the history)."""
        hist = self.wl.hist
        for k in self.wl.keys:
            def put():
                t0 = hist.now()
                c = self.cluster.client(0)
                try:
                    r = c.post_json("/app/chaos/reg", {"k": k, "v": f"init-{k}"})
                finally:
                    c.close()
                if r.status != 200:
                    return False
                hist.add({"f": "write", "key": k, "value": f"init-{k}", "invoke": t0,
                          "complete": hist.now(), "status": "ok", "process": -1, "node": 0,
                          "txid": r.txid, "http": 200, "note": None})
                self.wl.acked(r.txid)
                return True
            h.wait_until(put, 60, f"the first write of {k}")

    def wait_available(self):
        """After healing, every node is part of the network and a write through each
        succeeds within 120 s: a service that stays down is an anomaly."""
        c = self.cluster
        for i in range(c.n):
            def ok():
                cl = c.client(i, timeout=10)
                try:
                    r = cl.post_json("/app/chaos/reg", {"k": "heal", "v": f"n{i}-{time.time()}"})
                    return r.status == 200
                finally:
                    cl.close()
            try:
                h.wait_until(lambda: c.is_open(i), 120, f"node {i} to be part of the network")
                h.wait_until(ok, 120, f"a write through node {i}")
            except h.TestFailure as e:
                self.anomaly(f"after healing: {e}")
        self.log("every node available again")

    def final_reads(self):
        """A linearizable read of every register through every node (in the history),
        and a plain read after quiescence (the nodes must agree)."""
        for i in range(self.cluster.n):
            w = self.wl.workers[i]
            w.client = None
            w.node = i
            for k in self.wl.keys:
                for _ in range(20):
                    before = len(self.wl.hist.ops)
                    w.read(k, linearizable=True)
                    rec = self.wl.hist.ops[before]
                    if rec["status"] == "ok":
                        break
                    time.sleep(0.5)
                else:
                    self.anomaly(f"node {i}: no linearizable read of {k} in 20 tries")

    def wait_quiescent(self):
        """Every node at the same commit seqno twice, one second apart."""
        c = self.cluster
        prev = [None]

        def stable():
            seqnos = [c.commit_seqno(i) for i in range(c.n)]
            same = len(set(seqnos)) == 1 and seqnos == prev[0]
            prev[0] = seqnos
            return same
        try:
            h.wait_until(stable, 120, "every node to commit the same last seqno", interval=1.0)
        except h.TestFailure as e:
            self.anomaly(f"nodes do not converge: {e}")
        seqno = prev[0][0] if prev[0] else 0
        # plain reads now agree on every node
        finals = {}
        for i in range(c.n):
            cl = c.client(i)
            try:
                for k in self.wl.keys:
                    r = cl.get(f"/app/chaos/reg?k={k}")
                    finals.setdefault(k, {})[i] = r.json().get("v") if r.status == 200 else None
            finally:
                cl.close()
        for k, by_node in finals.items():
            if len(set(by_node.values())) != 1:
                self.anomaly(f"register {k} differs between nodes after quiescence: {by_node}")
        self.finals = finals
        self.log(f"quiescent at seqno {seqno}")
        return seqno

    # ---- checks ----

    def resolve(self, recs):
        """Unknown-outcome writes with a txid: /node/tx on the leader says whether they
        committed. Returns {txid: status}."""
        c = self.cluster
        leader = c.leader()
        out = {}
        if leader is None:
            return out
        cl = c.client(leader)
        try:
            for r in recs:
                if r["status"] == "info" and r.get("txid"):
                    try:
                        out[r["txid"]] = cl.tx_status(r["txid"])
                    except (OSError, http.client.HTTPException, h.TestFailure, ValueError):
                        pass
        finally:
            cl.close()
        return out

    def check_history(self):
        recs = self.wl.hist.snapshot()
        resolved = self.resolve(recs)
        for r in recs:
            if r["status"] == "info" and r.get("txid") in resolved:
                r["resolved"] = resolved[r["txid"]]
                r["resolved_at"] = self.wl.hist.now()
        self.counts, problems, self.lin_results = check_records(recs, self.opts.strict_plain_reads,
                                                               self.log)
        for p in problems:
            self.anomaly(p)
        self.acked = [r for r in recs if r["f"] in ("write", "cas") and r["status"] == "ok"]
        for r in self.acked:
            if not r.get("txid"):
                self.anomaly(f"a write acknowledged without a txid: {r}")
        # acknowledged writes Committed on every node (a sample over HTTP; all of them
        # are checked against the ledgers below)
        rnd = random.Random(self.opts.seed)
        sample = rnd.sample(self.acked, min(len(self.acked), 150))
        for i in range(self.cluster.n):
            cl = self.cluster.client(i)
            try:
                for r in sample:
                    st = cl.tx_status(r["txid"])
                    if st != "Committed":
                        self.lost += 1
                        self.anomaly(f"node {i}: acknowledged {r['f']} {r['txid']} is {st}: {r}")
            finally:
                cl.close()

    def check_ledgers(self, commit):
        """Ledgers after the nodes stopped. A node that installed a snapshot from the
        leader starts its ledger after the snapshot's signature entry S (its old
        ledger is kept in ledger.replaced-S, docs/operating.md "Data directory"):
        its ledger must hold S+1.. and it must have snapshots/snapshot_S.bin. What a
        node wrote before is in its ledger.replaced-* directories: the service's
        history is the union of every node's ledger files, and when every node has
        installed a snapshot once, only that union still reaches back to seqno 1."""
        c = self.cluster
        ledgers, starts, hist = [], [], []
        for i in range(c.n):
            data = c.nodes[i]["data_dir"]
            by_seqno = {}
            for e in h.ledger_entries(os.path.join(data, "ledger")):
                by_seqno[h.entry_seqno(e)] = e
            ledgers.append(by_seqno)
            older = dict(by_seqno)
            for name in sorted(os.listdir(data)):
                if name.startswith("ledger.replaced-"):
                    for e in h.ledger_entries(os.path.join(data, name)):
                        older.setdefault(h.entry_seqno(e), e)
            hist.append(older)
            first = min(by_seqno, default=1)
            starts.append(first)
            if first > 1:
                snap = os.path.join(data, "snapshots", f"snapshot_{first - 1}.bin")
                self.log(f"node {i}'s ledger starts at {first} (it installed a snapshot); "
                         f"with its replaced ledgers it holds {len(older)} entries")
                if not os.path.exists(snap):
                    self.anomaly(f"node {i}'s ledger starts at {first} without {snap}")
            missing = [s for s in range(first, commit + 1) if s not in by_seqno]
            if missing:
                self.anomaly(f"node {i}'s ledger lacks {len(missing)} committed seqnos "
                             f"(first {missing[:5]}) of {first}..{commit}")
        self.compared = 0
        merged = {}
        for s in range(1, max((max(l, default=0) for l in hist), default=0) + 1):
            have = [(i, l[s]) for i, l in enumerate(hist) if s in l]
            if have:
                merged[s] = have[0][1]
            if len(have) > 1:
                self.compared += 1
                if len({e for _, e in have}) != 1:
                    self.anomaly(f"ledgers differ at seqno {s}: nodes {[i for i, _ in have]}")
        gap = next((s for s in range(1, commit + 1) if s not in merged), None)
        if gap is not None:
            self.anomaly(f"no node's ledger files hold committed seqno {gap}")
        # every acknowledged txid is the entry at its seqno in every ledger file that
        # holds it, and in every current ledger that covers it
        for r in self.acked:
            term, seqno = (int(x) for x in r["txid"].split("."))
            holding = [i for i in range(c.n) if seqno in hist[i] or starts[i] <= seqno]
            if not holding:
                self.anomaly(f"no node's ledger files hold acknowledged {r['txid']}")
            for i in holding:
                e = hist[i].get(seqno)
                if e is None or struct.unpack_from(">Q", e, 8)[0] != term:
                    self.lost += 1
                    self.anomaly(f"acknowledged {r['f']} {r['txid']} is not in node {i}'s ledger "
                                 f"(entry there: {'none' if e is None else 'another term'}): {r}")
                    break
        for i in range(c.n):
            d = os.path.join(c.nodes[i]["data_dir"], "ledger")
            how = ""
            if starts[i] > 1:
                last = starts[i] - 1
                if any(s not in merged for s in range(1, last + 1)):
                    self.anomaly(f"node {i}'s ledger starts at {starts[i]} and no node's "
                                 f"ledger files hold 1..{last} to verify it with")
                    continue
                # its own chunks, after entries 1..S from the nodes' ledger files, as one
                # .committed chunk (S is a signature entry: a chunk may end there)
                d = self.with_prefix(i, d, merged, last)
                how = f" (after entries 1..{last} from the nodes' ledger files)"
            code, out = h.run_cli(self.opts, "ledger", "verify", d, "--service-cert",
                                  c.service_cert, timeout=600)
            if code != 0:
                self.anomaly(f"consort ledger verify failed on node {i}{how}: "
                             f"{out.strip()[-400:]}")
            else:
                self.log(f"node {i}: consort ledger verify passed{how}")
        self.log(f"ledgers: {self.compared} seqnos compared, committed prefix 1..{commit}")

    def with_prefix(self, i, ledger_dir, full, last):
        d = os.path.join(self.root, f"ledger-verify-node{i}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        h.write_chunk_frames(os.path.join(d, f"ledger_1-{last}.committed"),
                             [full[s] for s in range(1, last + 1)])
        for name in os.listdir(ledger_dir):
            shutil.copy(os.path.join(ledger_dir, name), d)
        return d

    def check_receipts(self):
        self.receipts_ok = 0
        for txid, path in self.wl.receipts:
            code, out = h.run_cli(self.opts, "receipt", "verify", path, "--service-cert",
                                  self.cluster.service_cert)
            if code != 0:
                self.anomaly(f"receipt of {txid} ({path}) does not verify: {out.strip()[-300:]}")
            else:
                self.receipts_ok += 1

    # ---- the summary ----

    def summary(self, error=None):
        o = self.opts
        faults = getattr(getattr(self, "nem", None), "counts", {})
        counts = getattr(self, "counts", None)
        if not counts and getattr(self, "wl", None) is not None:  # stopped before the checks
            counts = collections.Counter(f"{r['f']}:{r['status']}" for r in self.wl.hist.snapshot())
        counts = counts or collections.Counter()
        ops = sum(counts.values())
        ok = lambda f: counts.get(f"{f}:ok", 0)  # noqa: E731
        unknown = sum(v for k, v in counts.items() if k.endswith(":info"))
        n_anom = len(self.anomalies) + (1 if error else 0)
        verdict = "PASS" if n_anom == 0 else "FAIL"
        faults_s = ",".join(f"{k}:{v}" for k, v in sorted(faults.items())) or "none"
        return (f"chaos: seed={o.seed} nodes={o.nodes} duration={o.duration}s "
                f"faults={{{faults_s}}} ops={ops} (ok: {ok('write')} writes, {ok('cas')} cas, "
                f"{ok('read')} linearizable reads, {ok('plain_read')} plain reads; "
                f"{unknown} unknown) receipts={getattr(self, 'receipts_ok', 0)} "
                f"node_exits={len(self.cluster.exits) if self.cluster else 0} "
                f"acked_writes_lost={self.lost} anomalies={n_anom} {verdict}")

    def save(self):
        if getattr(self, "wl", None) is not None:
            self.wl.hist.dump(os.path.join(self.root, "history.jsonl"))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--consort", required=True)
    ap.add_argument("--consortd", required=True)
    ap.add_argument("--app", help="the chaos application (default: chaos_app.so of the "
                                  "build tree of --consortd)")
    ap.add_argument("--duration", type=int, default=120, help="seconds of faults")
    ap.add_argument("--seed", type=int, help="the nemesis's seed (default: random, logged)")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--faults", default=",".join(ALL_KINDS),
                    help=f"comma-separated kinds among {','.join(ALL_KINDS)}")
    ap.add_argument("--clients-per-node", type=int, default=3)
    ap.add_argument("--keys", type=int, default=4)
    ap.add_argument("--client-timeout", type=float, default=12.0)
    ap.add_argument("--snapshot-interval", type=int, default=2000)
    ap.add_argument("--disk-node", type=int, default=2)
    ap.add_argument("--disk-mb", type=int, default=256)
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--out", help="directory for the run's files")
    ap.add_argument("--keep", action="store_true", help="keep the files after a pass")
    ap.add_argument("--strict-plain-reads", action="store_true",
                    help="a self-test of the harness: check plain reads as if they were "
                         "linearizable (they are not promised to be; the run should fail)")
    ap.add_argument("-v", "--verbose", action="store_true")
    o = ap.parse_args(argv)
    o.consort, o.consortd = os.path.abspath(o.consort), os.path.abspath(o.consortd)
    if o.app is None:
        o.app = os.path.join(os.path.dirname(os.path.dirname(o.consortd)), "tests",
                             "chaos_app.so")
    o.app = os.path.abspath(o.app)
    if o.seed is None:
        o.seed = random.SystemRandom().randrange(1 << 31)
    o.kinds = [k for k in o.faults.split(",") if k]
    bad = [k for k in o.kinds if k not in ALL_KINDS]
    if bad or not o.kinds:
        ap.error(f"--faults: unknown kinds {bad} (known: {','.join(ALL_KINDS)})")
    o.clock = "clock" in o.kinds
    if "disk" not in o.kinds:
        o.disk_node = None
    if o.nodes < 3 or o.disk_node is not None and not 0 <= o.disk_node < o.nodes:
        ap.error("--nodes must be at least 3 and --disk-node one of them")
    return o


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--recheck" in argv:
        return recheck(argv)
    o = parse_args(argv)
    if os.geteuid() != 0:
        print("chaos: needs root (network namespaces, tmpfs)", file=sys.stderr)
        return 77
    if not os.path.exists(o.app):
        print(f"chaos: no application module at {o.app} (build the chaos_app target)",
              file=sys.stderr)
        return 2
    run = Run(o)
    hard_limit = SETUP_BUDGET_S + o.duration + 120 + CHECK_BUDGET_S

    def watchdog():
        run.log(f"watchdog: the run passed its bound of {hard_limit} s; stopping everything")
        print(f"chaos: seed={o.seed} the run passed its time bound of {hard_limit} s: "
              f"files kept in {run.root}", flush=True)
        run.save()
        if run.cluster is not None:
            run.cluster.close()
        os._exit(3)

    timer = threading.Timer(hard_limit, watchdog)
    timer.daemon = True
    timer.start()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    error = None
    try:
        run.run()
    except BaseException as e:  # reported in the summary; cleanup below
        import traceback
        error = e
        run.log("harness error:\n" + traceback.format_exc())
    finally:
        try:
            if getattr(run, "wl", None) is not None:
                run.wl.stop_flag.set()
            if getattr(run, "nem", None) is not None and run.nem.is_alive():
                run.nem.stop()
            failed = error is not None or run.anomalies
            run.save()
            c = run.cluster
            if failed and c is not None and c.mounts:
                shutil.copytree(c.mounts[0], c.mounts[0] + ".kept", dirs_exist_ok=True)
        finally:
            if run.cluster is not None:
                run.cluster.close()
        timer.cancel()
    line = run.summary(error)
    run.log(line)
    print(line, flush=True)
    for i, why in (run.cluster.exits if run.cluster else []):
        print(f"  node {i} exited on its own (restarted 5 s later): {why}", flush=True)
    if error is not None:
        print(f"chaos: harness error: {error!r} (see {run.root}/chaos.log)", flush=True)
    if error is not None or run.anomalies:
        for a in run.anomalies[:20]:
            print("  anomaly: " + a.replace("\n", "\n    "), flush=True)
        print(f"chaos: files kept in {run.root}", flush=True)
        return 1
    if not o.keep:
        shutil.rmtree(run.root, ignore_errors=True)
    else:
        print(f"chaos: files kept in {run.root}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
