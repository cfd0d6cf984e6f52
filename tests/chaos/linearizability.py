"""A linearizability checker for registers, per key (Wing & Gong's search with
Lowe's memoisation, as in Knossos and porcupine), in plain Python.

A history is a list of Op. Each op ran on one key, was invoked at `invoke` and
completed at `complete` (seconds, one clock for every client); an op whose
outcome is unknown (a timeout, a 503 "may or may not have been executed") has
complete = None: it may take effect at any time after its invocation, or never.
Ops that definitely did not happen (a refused write, a failed compare-and-set)
are not part of the history at all.

    Op("write", key, value=v)              the register becomes v
    Op("read",  key, value=v)              the register held v (None: absent)
    Op("cas",   key, value=(old, new))     it held old and became new

check(history) decomposes the history per key (a register per key is
P-compositional: the whole is linearizable iff each key's sub-history is,
Herlihy & Wing 1990) and searches each. Before searching it prunes what cannot
change the verdict: an unknown-outcome write or cas whose new value nobody
observed (no completed read returned it, no completed cas expected it) is
dropped, since if it took effect it was overwritten before anyone looked, and
the search is exact without it; one whose value only it wrote and that was
observed must have taken effect before the first observer completed, which
bounds it. The search keeps the set of linearized ops as a count of the
ops linearized in order of completion plus the few beyond, so its memo stays small on
long histories, and it gives up (never answers "linearizable") past a budget
of steps or memo states. Values written are expected to be unique per
key (the workload makes them so); the checker does not rely on it for
soundness, only for the pruning's effectiveness.
"""

import collections
import math

INF = math.inf


class Op:
    __slots__ = ("f", "key", "value", "invoke", "complete", "process", "node", "note", "index")

    def __init__(self, f, key, value=None, invoke=0.0, complete=None, process=None, node=None,
                 note=None):
        if f not in ("read", "write", "cas"):
            raise ValueError(f"unknown operation {f!r}")
        if f == "read" and complete is None:
            raise ValueError("a read without an answer tells nothing: leave it out")
        if complete is not None and complete < invoke:
            raise ValueError(f"op completes ({complete}) before it is invoked ({invoke})")
        self.f, self.key, self.value = f, key, value
        self.invoke, self.complete = invoke, complete
        self.process, self.node, self.note = process, node, note
        self.index = None

    def end(self):
        return INF if self.complete is None else self.complete

    def to_json(self):
        return {"f": self.f, "key": self.key, "value": self.value, "invoke": self.invoke,
                "complete": self.complete, "process": self.process, "node": self.node,
                "note": self.note}

    @classmethod
    def from_json(cls, d):
        v = d["value"]
        if d["f"] == "cas" and isinstance(v, list):
            v = tuple(v)
        return cls(d["f"], d["key"], v, d["invoke"], d["complete"], d.get("process"),
                   d.get("node"), d.get("note"))

    def __repr__(self):
        end = "?" if self.complete is None else f"{self.complete:.3f}"
        who = f" p{self.process}" if self.process is not None else ""
        at = f"@n{self.node}" if self.node is not None else ""
        return f"{self.f}({self.key!r}, {self.value!r}) [{self.invoke:.3f}, {end}]{who}{at}"


def _step(op, state):
    """(ok, next state) of applying op to a register holding `state`."""
    if op.f == "read":
        return op.value == state, state
    if op.f == "write":
        return True, op.value
    old, new = op.value
    return state == old, new


def prune(ops):
    """Narrows the unknown-outcome writes and cas before the search, without
    changing the verdict (see the module's docstring):
      * one whose new value no completed op observed (no read returned it, no
        cas expected it) is dropped: if it took effect, it was overwritten
        before anyone looked;
      * one whose new value only it wrote, and that completed ops observed,
        must have taken effect before the first of them completed: that is
        its completion.
    Returns (kept ops, dropped count)."""
    first_seen = {}  # value -> earliest completion of an op that observed it
    writers = collections.Counter()
    for op in ops:
        if op.f in ("write", "cas"):
            writers[_hashable(op.value if op.f == "write" else op.value[1])] += 1
        if op.complete is None or op.f == "write":
            continue
        seen = _hashable(op.value if op.f == "read" else op.value[0])
        if seen not in first_seen or op.complete < first_seen[seen]:
            first_seen[seen] = op.complete
    kept = []
    for op in ops:
        if op.complete is None and op.f in ("write", "cas"):
            new = _hashable(op.value if op.f == "write" else op.value[1])
            if new not in first_seen:
                continue
            if writers[new] == 1 and first_seen[new] >= op.invoke:
                bounded = Op(op.f, op.key, op.value, op.invoke, first_seen[new], op.process,
                             op.node, (op.note or "") + " (unknown outcome, seen by then)")
                kept.append(bounded)
                continue
        kept.append(op)
    return kept, len(ops) - len(kept)


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


class Result:
    def __init__(self, key, ok, ops, pruned, steps, detail=None, gave_up=False):
        self.key, self.ok, self.ops, self.pruned = key, ok, ops, pruned
        self.steps, self.detail, self.gave_up = steps, detail, gave_up

    def __repr__(self):
        verdict = "gave up" if self.gave_up else ("linearizable" if self.ok else "NOT linearizable")
        return f"key {self.key!r}: {verdict} ({self.ops} ops, {self.pruned} pruned, {self.steps} steps)"


def check_key(ops, init=None, key=None, max_steps=400_000_000, max_cache=60_000_000,
              exact=False):
    """Searches one key's history. Returns a Result; when not linearizable,
    `detail` names the op that no order can place and the ops concurrent with it."""
    ops, pruned = prune(ops)
    n = len(ops)
    # the event list: calls and returns in time order; at equal times calls
    # first (ops that touch in time are concurrent: no real-time order between them)
    events = []
    for i, op in enumerate(ops):
        events.append((op.invoke, 0, i))
        events.append((op.end(), 1, i))
    events.sort()
    size = len(events)
    # a doubly linked list over the events, slot 0 the head
    nxt = list(range(1, size + 2))
    prv = list(range(-1, size + 1))
    ev_op = [None] + [e[2] for e in events]
    ev_ret = [None] + [e[1] == 1 for e in events]
    call_slot, ret_slot = [0] * n, [0] * n
    for s in range(1, size + 1):
        if ev_ret[s]:
            ret_slot[ev_op[s]] = s
        else:
            call_slot[ev_op[s]] = s
    end = size + 1  # one past the last slot

    def lift(i):
        for s in (call_slot[i], ret_slot[i]):
            nxt[prv[s]] = nxt[s]
            prv[nxt[s]] = prv[s]

    def unlift(i):
        for s in (ret_slot[i], call_slot[i]):
            nxt[prv[s]] = s
            prv[nxt[s]] = s

    # The set of linearized ops, kept small: ops with a known completion are
    # numbered in order of completion (rank; an op is linearized before it
    # completes, so one slow op does not hold the count back); `done` counts
    # the ranks 0..done-1, all linearized, and `extra` holds the linearized
    # ones beyond, about as many as ops run at once. Unknown-outcome
    # ops, rarely many once pruned, are in `extra` by their index. The cache key
    # (done, extra, state) is then small however long the history is.
    order = sorted((i for i in range(n) if ops[i].complete is not None),
                   key=lambda i: ops[i].complete)
    rank = [None] * n
    for r, i in enumerate(order):
        rank[i] = r
    # The memo of states already explored, bucketed by `done` so that buckets far
    # behind the search's front can be dropped. Each state is kept as its 64-bit
    # hash (a tenth of the memory of the state itself): a collision could only
    # prune a path wrongly, so a "not linearizable" verdict is confirmed by an
    # exact search (check_key with exact=True) before it is reported.
    cache = {}
    cached = 0
    stack = []
    done, extra = 0, frozenset()
    state = init
    entry = nxt[0]
    steps = 0
    deepest, stuck_at = -1, None
    while entry != end:
        steps += 1
        if steps > max_steps:
            return Result(key, False, n, pruned, steps, "search budget exhausted", gave_up=True)
        i = ev_op[entry]
        if not ev_ret[entry]:
            ok, new_state = _step(ops[i], state)
            if ok:
                new_done, new_extra = _add(done, extra, rank[i], i)
                memo = (new_extra, _hashable(new_state))
                if not exact:
                    memo = hash(memo)
                bucket = cache.get(new_done)
                if bucket is None or memo not in bucket:
                    if cached >= max_cache:
                        # the memo only saves work: forget the states far behind the
                        # search's front (a backtrack that deep re-explores them)
                        for d in [d for d in cache if d < done - 2000]:
                            cached -= len(cache.pop(d))
                        if cached >= max_cache // 2:
                            return Result(key, False, n, pruned, steps,
                                          f"search memory exhausted ({max_cache} states)",
                                          gave_up=True)
                        bucket = cache.get(new_done)
                    if bucket is None:
                        bucket = cache[new_done] = set()
                    bucket.add(memo)
                    cached += 1
                    stack.append((i, state, done, extra))
                    state, done, extra = new_state, new_done, new_extra
                    lift(i)
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
            continue
        # a return whose op is not linearized yet
        if ops[i].complete is None:
            return Result(key, True, n, pruned, steps)  # only unknown-outcome ops are left
        if len(stack) > deepest:
            deepest, stuck_at = len(stack), i
        if not stack:
            return Result(key, False, n, pruned, steps, _explain(ops, stuck_at, init))
        i, state, done, extra = stack.pop()
        unlift(i)
        entry = nxt[call_slot[i]]
    return Result(key, True, n, pruned, steps)


def _add(done, extra, r, i):
    """(done, extra) with op i (of rank r, None for an unknown outcome) added."""
    if r is None:
        return done, extra | {("u", i)}
    if r != done:
        return done, extra | {r}
    done += 1
    if done in extra:
        extra = set(extra)
        while done in extra:
            extra.discard(done)
            done += 1
        extra = frozenset(extra)
    return done, extra


def _explain(ops, i, init):
    bad = ops[i]
    around = [op for op in ops if op.invoke <= bad.end() and op.end() >= bad.invoke - 1.0]
    around.sort(key=lambda op: op.invoke)
    at = next(k for k, op in enumerate(around) if op is bad)
    shown = around[max(0, at - 30):at + 10]
    lines = [f"no linearization places {bad!r} (initial value {init!r}); "
             f"ops around it (those that started up to 1 s before it):"]
    if around[0] is not shown[0]:
        lines.append(f"  ... {around.index(shown[0])} earlier")
    lines += [f"  {op!r}" + ("   <--" if op is bad else "") for op in shown]
    if around[-1] is not shown[-1]:
        lines.append(f"  ... {len(around) - around.index(shown[-1]) - 1} later")
    return "\n".join(lines)


def check_key_confirmed(ops, init=None, key=None, max_steps=400_000_000):
    """check_key with the hashed memo; a violation it finds is searched again with
    the exact memo (smaller: it may give up) and reported only if that finds it too."""
    r = check_key(ops, init, key, max_steps)
    if r.ok or r.gave_up:
        return r
    exact = check_key(ops, init, key, max_steps, max_cache=12_000_000, exact=True)
    return exact


def check(history, init=None, max_steps=400_000_000):
    """Checks every key's sub-history; returns the list of Results, one per key."""
    by_key = collections.defaultdict(list)
    for op in history:
        by_key[op.key].append(op)
    return [check_key_confirmed(ops, init, key, max_steps)
            for key, ops in sorted(by_key.items())]
