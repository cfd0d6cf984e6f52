"""The chaos harness's nemesis: faults at random, from a seeded generator.

Every choice (which fault, which nodes, how long, the gaps between) comes from
random.Random(seed) in a fixed order, so a seed gives the same schedule of
decisions; a target named "leader" is resolved when the fault starts (the
leader then may differ from run to run). At most two faults are active at
once; each is undone after its duration, and every fault still active is
undone when the chaos phase ends.

Kinds:
  kill       SIGKILL of a node (the leader half the time), restarted after d
  stop       SIGSTOP of a node (the leader half the time), SIGCONT after d
  partition  the nodes split in two groups that cannot reach each other
             (open connections reset half the time)
  oneway     bytes from one node to another (or to all others) are held
  delay      every link of one node delayed by 50-400 ms
  reset      the connections between two nodes closed every second for d
  disk       the data_dir of the disk node (a tmpfs) filled to 0-8 MiB free
  clock      a node's wall clock jumped by -2 days .. +2 days (libfaketime)
  flood      2,000-6,000 unauthenticated TLS connections at one node
  slowloris  40 clients sending a request one byte a second to one node
"""

import json
import os
import random
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ALL_KINDS = ["kill", "stop", "partition", "oneway", "delay", "reset", "disk", "clock", "flood",
             "slowloris"]
CLOCK_JUMPS = [-172800, -3600, -600, -30, 30, 600, 3600, 172800]


class Nemesis(threading.Thread):
    def __init__(self, cluster, seed, kinds, end_at, log, events_path):
        super().__init__(daemon=True)
        self.c = cluster
        self.rnd = random.Random(seed)
        self.kinds = kinds
        self.end_at = end_at  # time.monotonic() at which no fault may remain
        self.log = log
        self.events = open(events_path, "a")
        self.counts = {}
        self.active = []  # [(undo time, name, undo)]
        self.stop_flag = threading.Event()
        self.hostile = []  # Popen of flood / slowloris clients
        self.errors = []

    def record(self, what, **kw):
        kw.update(t=round(time.monotonic(), 3), event=what)
        self.events.write(json.dumps(kw) + "\n")
        self.events.flush()
        self.log(f"nemesis: {what} {json.dumps({k: v for k, v in kw.items() if k not in ('t', 'event')})}")

    def run(self):
        try:
            while not self.stop_flag.is_set():
                now = time.monotonic()
                self._undo_due(now)
                left = self.end_at - now
                if left < 4:
                    break
                gap = self.rnd.uniform(0.5, 4.0)
                kind = self.rnd.choice(self.kinds)
                dur = min(self.rnd.uniform(2.0, 14.0), left - 2)
                if self.stop_flag.wait(gap):
                    break
                self._undo_due(time.monotonic())
                if len(self.active) >= 2:
                    self._undo_first()
                try:
                    undo = getattr(self, "f_" + kind)(dur)
                except Exception as e:  # a lever that failed is an error of the harness
                    self.errors.append(f"{kind}: {e!r}")
                    self.record("error", kind=kind, error=repr(e))
                    continue
                if undo is None:
                    continue
                self.counts[kind] = self.counts.get(kind, 0) + 1
                self.active.append((time.monotonic() + dur, kind, undo))
                self.active.sort(key=lambda a: a[0])
        finally:
            while self.active:
                self._undo_first()
            for p in self.hostile:
                if p.poll() is None:
                    p.kill()
                p.wait(10)
            self.events.close()

    def stop(self):
        self.stop_flag.set()
        self.join(120)

    def _undo_due(self, now):
        while self.active and self.active[0][0] <= now:
            self._undo_first()

    def _undo_first(self):
        _, kind, undo = self.active.pop(0)
        try:
            undo()
        except Exception as e:
            self.errors.append(f"undo {kind}: {e!r}")
            self.record("error", kind=kind, error=repr(e))

    # ---- targets ----

    def _busy(self):
        """Nodes that an active kill or stop holds."""
        return {i for _, _, u in self.active for i in getattr(u, "nodes", ())}

    def _node(self, prefer_leader):
        """A node not killed or stopped by another fault (the leader if asked and known)."""
        free = [i for i in range(self.c.n) if i not in self._busy() and self.c.alive(i)]
        pick = self.rnd.choice(free) if free else None
        if prefer_leader:
            leader = self.c.leader()
            if leader is not None and leader in free:
                return leader
        return pick

    @staticmethod
    def _undo(fn, nodes=()):
        fn.nodes = tuple(nodes)
        return fn

    # ---- faults ----

    def f_kill(self, dur):
        i = self._node(self.rnd.random() < 0.5)
        if i is None:
            return None
        self.record("kill", node=i, pid=self.c.pids[i], seconds=round(dur, 1))
        self.c.kill9(i)

        def undo():
            self.c.restart(i)
            self.record("restart", node=i, pid=self.c.pids[i])
        return self._undo(undo, [i])

    def f_stop(self, dur):
        i = self._node(self.rnd.random() < 0.5)
        if i is None:
            return None
        if not self.c.sigstop(i):
            return None  # it exited in the meantime
        self.record("stop", node=i, seconds=round(dur, 1))

        def undo():
            self.c.sigcont(i)
            self.record("cont", node=i)
        return self._undo(undo, [i])

    def _hold(self, pairs):
        for a, b in pairs:
            self.c.net.hold(a, b)

        def undo():
            for a, b in pairs:
                self.c.net.release(a, b)
        return undo

    def f_partition(self, dur):
        nodes = list(range(self.c.n))
        self.rnd.shuffle(nodes)
        k = self.rnd.randint(1, max(1, (self.c.n - 1) // 2))
        minority, majority = sorted(nodes[:k]), sorted(nodes[k:])
        reset = self.rnd.random() < 0.5
        pairs = [(a, b) for a in minority for b in majority] + \
                [(b, a) for a in minority for b in majority]
        self.record("partition", groups=[minority, majority], reset=reset, seconds=round(dur, 1))
        undo_hold = self._hold(pairs)
        if reset:
            for a in minority:
                for b in majority:
                    self.c.net.reset(a, b)

        def undo():
            undo_hold()
            self.record("heal-partition", groups=[minority, majority])
        return undo

    def f_oneway(self, dur):
        src = self.rnd.randrange(self.c.n)
        others = [j for j in range(self.c.n) if j != src]
        dsts = others if self.rnd.random() < 0.3 else [self.rnd.choice(others)]
        self.record("oneway", src=src, dst=dsts, seconds=round(dur, 1))
        undo_hold = self._hold([(src, d) for d in dsts])

        def undo():
            undo_hold()
            self.record("heal-oneway", src=src, dst=dsts)
        return undo

    def f_delay(self, dur):
        i = self.rnd.randrange(self.c.n)
        d = self.rnd.uniform(0.05, 0.4)
        pairs = [(i, j) for j in range(self.c.n) if j != i]
        pairs += [(j, i) for j in range(self.c.n) if j != i]
        self.record("delay", node=i, ms=round(d * 1000), seconds=round(dur, 1))
        for a, b in pairs:
            self.c.net.delay(a, b, d)

        def undo():
            for a, b in pairs:
                self.c.net.delay(a, b, 0.0)
            self.record("heal-delay", node=i)
        return undo

    def f_reset(self, dur):
        a = self.rnd.randrange(self.c.n)
        b = self.rnd.choice([j for j in range(self.c.n) if j != a])
        self.record("reset", nodes=[a, b], seconds=round(dur, 1))
        stop = threading.Event()

        def loop():
            while not stop.wait(1.0):
                self.c.net.reset(a, b)
        t = threading.Thread(target=loop, daemon=True)
        self.c.net.reset(a, b)
        t.start()

        def undo():
            stop.set()
            t.join(10)
            self.record("heal-reset", nodes=[a, b])
        return undo

    def f_disk(self, dur):
        if self.c.disk_node is None or self.c.ballast is not None:
            return None  # no tmpfs, or it is full already
        leave = self.rnd.choice([0, 1 << 20, 8 << 20])
        filled = self.c.fill_disk(leave)
        self.record("disk-full", node=self.c.disk_node, leave_bytes=leave, filled=filled,
                    seconds=round(dur, 1))

        def undo():
            self.c.free_disk()
            self.record("disk-freed", node=self.c.disk_node)
        return undo

    def f_clock(self, dur):
        if not self.c.faketime:
            return None
        i = self.rnd.randrange(self.c.n)
        jump = self.rnd.choice(CLOCK_JUMPS)
        self.record("clock", node=i, offset_s=jump, seconds=round(dur, 1))
        self.c.set_clock(i, jump)

        def undo():
            self.c.set_clock(i, 0)
            self.record("clock-back", node=i)
        return undo

    def _spawn(self, i, args, dur):
        argv = self.c.net.nsenter(i) + ["python3", os.path.join(HERE, "hostile.py")] + args
        out = open(os.path.join(self.c.root, "hostile.log"), "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.hostile.append(p)

        def undo():
            try:
                p.wait(dur + 30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        return undo

    def f_flood(self, dur):
        i = self.rnd.randrange(self.c.n)
        sources = self.rnd.randint(2, 6)
        per = 1000
        self.record("flood", node=i, connections=sources * per, seconds=round(dur, 1))
        wait = self._spawn(i, ["flood", self.c.address(i), f"{dur:.1f}", str(sources), str(per)],
                           dur)

        def undo():
            wait()
            self.record("flood-over", node=i)
        return undo

    def f_slowloris(self, dur):
        i = self.rnd.randrange(self.c.n)
        self.record("slowloris", node=i, clients=40, seconds=round(dur, 1))
        wait = self._spawn(i, ["slowloris", self.c.address(i), f"{dur:.1f}", "40",
                               self.c.service_cert], dur)

        def undo():
            wait()
            self.record("slowloris-over", node=i)
        return undo
