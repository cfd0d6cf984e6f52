"""The chaos harness's clients: reads, writes and compare-and-set on a few
registers (tests/chaos/chaos_app.c), from several client threads spread over
every node, each op recorded with its invocation and completion time.

How an answer is recorded (docs/consistency.md "Writes"):
  * 2xx with x-consort-txid: the write happened (ok);
  * a refusal that says nothing was executed (4xx, 409 CasMismatch, 503 "the
    write was not executed", "no leader is known", "leadership is changing",
    "the request was not sent to the leader"): it did not happen, and is left
    out of the history (kept in the log as fail);
  * anything else (no answer, a timeout, a 503 "may or may not", a 503 with a
    txid, a 500): unknown; it may take effect at any time after its
    invocation. A txid, if the answer had one, is resolved after the run
    (/node/tx: Committed or Invalid).
Reads that fail are left out. Linearizable reads (x-consort-read:
linearizable) join the linearizability check; plain reads are checked for
what docs/consistency.md promises them: committed values only.
"""

import http.client
import json
import os
import random
import threading
import time
import urllib.parse

NOT_EXECUTED = ("was not executed", "no leader is known", "leadership is changing",
                "was not sent to the leader")


class History:
    def __init__(self):
        self.ops = []
        self.lock = threading.Lock()
        self.t0 = time.monotonic()

    def now(self):
        return time.monotonic() - self.t0

    def add(self, rec):
        with self.lock:
            self.ops.append(rec)

    def snapshot(self):
        with self.lock:
            return list(self.ops)

    def dump(self, path):
        with open(path, "w") as f:
            for rec in self.snapshot():
                f.write(json.dumps(rec) + "\n")


def _message(resp):
    try:
        return json.loads(resp.body).get("error", {}).get("message", "")
    except (ValueError, AttributeError):
        return resp.body[:200].decode(errors="replace")


def classify_write(resp):
    """'ok', 'fail' (did not happen) or 'info' (unknown) for a write's answer."""
    if resp is None:
        return "info"
    if 200 <= resp.status < 300:
        return "ok"
    if resp.txid:
        return "info"
    if 400 <= resp.status < 500:
        return "fail"
    if resp.status == 503 and any(m in _message(resp) for m in NOT_EXECUTED):
        return "fail"
    return "info"


class Worker(threading.Thread):
    def __init__(self, wl, process, node):
        super().__init__(daemon=True)
        self.wl, self.process, self.node = wl, process, node
        self.rnd = random.Random(wl.seed * 1000 + process)
        self.n = 0
        self.seen = {}  # key -> the last value this client read or wrote
        self.client = None

    def run(self):
        while not self.wl.stop_flag.is_set():
            self.one()
        if self.client is not None:
            self.client.close()

    def request(self, method, path, body=None, headers=None):
        if self.client is None:
            self.client = self.wl.cluster.client(self.node, timeout=self.wl.timeout)
        try:
            return self.client.request(method, path, body=body, headers=headers)
        except (OSError, http.client.HTTPException, ValueError):
            self.client.close()
            self.client = None
            return None

    def one(self):
        key = self.rnd.choice(self.wl.keys)
        r = self.rnd.random()
        if r < 0.3:
            self.write(key)
        elif r < 0.5 and key in self.seen:
            self.cas(key)
        elif r < 0.8:
            self.read(key, linearizable=True)
        else:
            self.read(key, linearizable=False)

    def value(self):
        self.n += 1
        return f"p{self.process}-{self.n}"

    def record(self, f, key, value, t0, resp, kind, txid=None, note=None):
        rec = {"f": f, "key": key, "value": value, "invoke": t0, "complete": self.wl.hist.now(),
               "status": kind, "process": self.process, "node": self.node, "txid": txid,
               "http": None if resp is None else resp.status, "note": note}
        self.wl.hist.add(rec)
        if kind == "info" or resp is None:
            # a client whose request is in doubt, or whose connection broke, waits a
            # little before its next request (as a real client would back off)
            time.sleep(0.05 + self.rnd.random() * 0.2)
        return rec

    def write(self, key):
        v = self.value()
        t0 = self.wl.hist.now()
        resp = self.request("POST", "/app/chaos/reg", {"k": key, "v": v})
        kind = classify_write(resp)
        note = None if resp is None or kind == "ok" else _message(resp)[:160]
        self.record("write", key, v, t0, resp, kind, resp.txid if resp else None, note)
        if kind == "ok":
            self.seen[key] = v
            self.wl.acked(resp.txid)

    def cas(self, key):
        old, new = self.seen[key], self.value()
        t0 = self.wl.hist.now()
        resp = self.request("POST", "/app/chaos/cas", {"k": key, "old": old, "new": new})
        kind = classify_write(resp)
        if resp is not None and resp.status == 409 and "CasMismatch" not in resp.body.decode(
                errors="replace"):
            kind = "info"  # a 409 that is not the application's mismatch: in doubt
        note = None if resp is None or kind == "ok" else _message(resp)[:160]
        self.record("cas", key, [old, new], t0, resp, kind, resp.txid if resp else None, note)
        if kind == "ok":
            self.seen[key] = new
            self.wl.acked(resp.txid)
        elif kind == "fail":
            self.seen.pop(key, None)  # read it again before the next cas

    def read(self, key, linearizable):
        t0 = self.wl.hist.now()
        hdrs = {"x-consort-read": "linearizable"} if linearizable else None
        resp = self.request("GET", "/app/chaos/reg?k=" + urllib.parse.quote(key), headers=hdrs)
        f = "read" if linearizable else "plain_read"
        if resp is not None and resp.status == 200:
            v = json.loads(resp.body)["v"]
            self.record(f, key, v, t0, resp, "ok")
            self.seen[key] = v
        elif resp is not None and resp.status == 404 and b"never written" in resp.body:
            self.record(f, key, None, t0, resp, "ok")
        else:
            self.record(f, key, None, t0, resp, "fail",
                        note=None if resp is None else _message(resp)[:160])


class Workload:
    def __init__(self, cluster, seed, clients_per_node, keys, timeout, receipts_dir):
        self.cluster = cluster
        self.seed = seed
        self.keys = [f"k{i}" for i in range(keys)]
        self.timeout = timeout
        self.hist = History()
        self.stop_flag = threading.Event()
        self.workers = [Worker(self, p, p % cluster.n)
                        for p in range(clients_per_node * cluster.n)]
        self.lock = threading.Lock()
        self.recent = []  # acknowledged txids, for the receipt fetcher
        self.receipts_dir = receipts_dir
        self.receipts = []  # (txid, path)
        os.makedirs(receipts_dir, exist_ok=True)
        self.fetcher = threading.Thread(target=self._fetch_receipts, daemon=True)

    def acked(self, txid):
        with self.lock:
            self.recent.append(txid)
            if len(self.recent) > 200:
                del self.recent[:100]

    def start(self):
        for w in self.workers:
            w.start()
        self.fetcher.start()

    def stop(self):
        self.stop_flag.set()
        for w in self.workers:
            w.join(self.timeout + 20)
        self.fetcher.join(30)

    def _fetch_receipts(self):
        """Every ~2 s, the receipt of a recent acknowledged write from a random node;
        each one fetched is kept and verified after the run."""
        rnd = random.Random(self.seed + 7)
        while not self.stop_flag.wait(1.0 + rnd.random() * 2):
            with self.lock:
                txid = rnd.choice(self.recent) if self.recent else None
            if txid is None:
                continue
            i = rnd.randrange(self.cluster.n)
            try:
                c = self.cluster.client(i, timeout=5)
                try:
                    r = c.get(f"/app/receipt?transaction_id={txid}")
                finally:
                    c.close()
            except (OSError, http.client.HTTPException, ValueError):
                continue
            if r.status == 200:
                path = os.path.join(self.receipts_dir, f"receipt-{txid}-n{i}.json")
                with open(path, "wb") as f:
                    f.write(r.body)
                self.receipts.append((txid, path))
