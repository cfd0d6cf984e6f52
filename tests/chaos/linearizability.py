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
Herlihy & Wing 1990) and checks each key in three stages.

Pruning. What cannot change the verdict goes first: an unknown-outcome write
or cas whose new value nobody observed (no completed read returned it, no cas,
completed or not, expected it) is dropped, since if it took effect it was
overwritten before anyone looked, and the search is exact without it; one whose
value only it wrote (the initial value counts as written) and that a completed
op observed must have taken effect before the first such observer completed,
which bounds it.

Segments. The pruned history, in order of invocation, is cut at its quiescent
points: a cut lies before op j when every op invoked before j has ended
(complete; never, for an unknown outcome) strictly before j is invoked. Ops
that touch in time are concurrent, so a cut needs a gap; and an unknown-outcome
op left after pruning allows no cut after it. At a cut, real time orders every
op before it before every op after it, in any linearization: a linearization
of the key is a linearization of each segment in turn, and the only thing that
crosses a cut is the register's value. So the checker carries the SET of
values the register may hold at each cut: for each segment and each value it
may start with, an exhaustive memoised search collects every value that some
valid linearization of the segment (all of its completed ops, and any of its
unknown-outcome ones) ends with, and the union is what the next segment may
start with. The key is linearizable iff no segment's set comes out empty: a
chain of values through the sets is a chain of segment linearizations, which
concatenate into one of the whole, and any linearization of the whole cut at
the cuts gives such a chain. Carrying every possible value, not one, is what
keeps this exact: which of two overlapping writes won may only be told by a
read several segments later. A violation is reported in the segment where the
set runs out: the op no order could place there, and the values the register
could hold when the segment began.

The search. Within a segment, Wing & Gong's search walks a list of call and
return events; the memo holds (ops linearized, register value), shared by the
segment's start values (what can follow a state does not depend on where it
came from) and cleared at every cut, so it stays the size of a segment's
search however long the history is. The set of linearized ops is kept as a
count of the ops linearized in order of completion plus the few beyond. The
search stops early: the register can only end with the new value of a write or
cas that no completed write or cas follows in real time (or, when no write or
cas completed in the segment, with a value it started with); it stops once it
has all of those, skips any state from which only values already found are
reachable, and in the last segment stops at the first linearization. A budget
of steps spans the key and one of memo states each segment: past either it
gives up, which is never "linearizable". The memo keeps each state as a 64-bit
hash; a collision could only prune a path wrongly, losing a possible value and
so, here or in a later segment, producing a violation that is not one; so a
violation is confirmed by an exact search (check_key_confirmed), run again
from the first segment, not from the failing one alone, since the values the
failing segment started with came from the hashed search too.

Values written are expected to be unique per key (the workload makes them so);
the checker does not rely on it for soundness, only for the pruning's
effectiveness.
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


def prune(ops, init=None):
    """Narrows the unknown-outcome writes and cas before the search, without
    changing the verdict (see the module's docstring):
      * one whose new value nothing kept observes (no completed read returned
        it, no completed cas expected it, no kept unknown-outcome cas expected
        it) is dropped: if it took effect, it was overwritten before anyone
        looked. "Kept" is computed to a fixpoint from the completed ops, so a
        chain of unknown ops that no completed op ever sees goes as a whole
        (write d, then an unknown cas d -> c, c never read: both go; if c is
        read, both stay: write d, then cas d -> c, then c is read);
      * one whose new value only it wrote (`init`, the initial value, counts as
        written: an observer may have seen that), and that kept ops observed
        by a known time, must have taken effect before the earliest of them:
        that is its completion (an unknown cas bounded this way bounds the
        write it needed in turn).
    Returns (kept ops, dropped count)."""
    writers = collections.Counter({_hashable(init): 1})
    completed_obs = {}  # value -> earliest completion of a completed op that observed it
    for op in ops:
        if op.f in ("write", "cas"):
            writers[_hashable(_written(op))] += 1
        if op.f == "write" or op.complete is None:
            continue
        seen = _hashable(op.value if op.f == "read" else op.value[0])
        if seen not in completed_obs or op.complete < completed_obs[seen]:
            completed_obs[seen] = op.complete
    unknown = [i for i, op in enumerate(ops) if op.complete is None and op.f in ("write", "cas")]
    status = dict.fromkeys(unknown)  # None: dropped; INF: kept, unbounded; t: bounded at t
    for _ in range(len(unknown) + 2):
        obs, inf_obs = dict(completed_obs), set()
        for i in unknown:
            op, st = ops[i], status[i]
            if op.f != "cas" or st is None:
                continue
            seen = _hashable(op.value[0])
            if st == INF:
                inf_obs.add(seen)
            elif st < obs.get(seen, INF):
                obs[seen] = st
        changed = False
        for i in unknown:
            op = ops[i]
            new = _hashable(_written(op))
            if new in obs:
                st = obs[new] if writers[new] == 1 and obs[new] >= op.invoke else INF
            else:
                st = INF if new in inf_obs else None
            if st != status[i]:
                status[i], changed = st, True
        if not changed:
            break
    kept = []
    for i, op in enumerate(ops):
        if i not in status:
            kept.append(op)
        elif status[i] == INF:
            kept.append(op)
        elif status[i] is not None:
            kept.append(Op(op.f, op.key, op.value, op.invoke, status[i], op.process, op.node,
                           (op.note or "") + " (unknown outcome, seen by then)"))
    return kept, len(ops) - len(kept)


def _written(op):
    """The value a write or cas leaves in the register."""
    return op.value if op.f == "write" else op.value[1]


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


class Result:
    def __init__(self, key, ok, ops, pruned, steps, detail=None, gave_up=False, segments=None):
        self.key, self.ok, self.ops, self.pruned = key, ok, ops, pruned
        self.steps, self.detail, self.gave_up = steps, detail, gave_up
        self.segments = segments

    def __repr__(self):
        verdict = "gave up" if self.gave_up else ("linearizable" if self.ok else "NOT linearizable")
        return (f"key {self.key!r}: {verdict} ({self.ops} ops, {self.pruned} pruned, "
                f"{self.segments} segments, {self.steps} steps)")


def segments(ops):
    """The ops cut at their quiescent points: lists of ops in order of
    invocation, each op of a list ending strictly before the next list's
    first op is invoked (an unknown outcome never ends)."""
    cut, horizon = [], -INF
    for op in sorted(ops, key=lambda op: op.invoke):
        if horizon < op.invoke:
            cut.append([])
        cut[-1].append(op)
        horizon = max(horizon, op.end())
    return cut


def check_key(ops, init=None, key=None, max_steps=400_000_000, max_cache=60_000_000,
              exact=False):
    """Checks one key's history, segment after segment (see the module's
    docstring). Returns a Result; when not linearizable, `detail` names the op
    that no order can place in the segment where the possible values ran out,
    the values the register could hold when it began, and the ops around.
    max_steps bounds the search over the whole key, max_cache the memo of
    each segment; exact=True keeps the memo's states whole instead of hashed."""
    ops, pruned = prune(ops, init)
    cut = segments(ops)
    starts = {_hashable(init): init}
    steps = 0
    for k, seg in enumerate(cut):
        finals, spent, stuck_at, failure = _search(seg, starts, k == len(cut) - 1,
                                                   max_steps - steps, max_cache, exact)
        steps += spent
        if failure is not None:
            where = (f"in segment {k + 1} of {len(cut)} ({len(seg)} ops invoked from "
                     f"{seg[0].invoke:.3f})")
            return Result(key, False, len(ops), pruned, steps, f"{failure} {where}",
                          gave_up=True, segments=len(cut))
        if not finals:
            return Result(key, False, len(ops), pruned, steps,
                          _explain(ops, seg, stuck_at, starts, k, len(cut)), segments=len(cut))
        starts = finals
    return Result(key, True, len(ops), pruned, steps, segments=len(cut))


def _search(ops, starts, last, max_steps, max_cache, exact):
    """The search of one segment: (finals, steps, stuck_at, failure). finals
    maps (hashable) value -> value for every value the register may hold after
    a valid linearization of `ops` starting from a value in `starts` (dict of
    the same form); in the `last` segment, the first one found is enough.
    stuck_at is the op at which the deepest failed attempt was stuck; failure,
    a reason to give up, or None."""
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
    # (done, extra, state) is then small however long the segment is.
    order = sorted((i for i in range(n) if ops[i].complete is not None),
                   key=lambda i: ops[i].complete)
    rank = [None] * n
    for r, i in enumerate(order):
        rank[i] = r

    # The values the segment can end with: the new value of a write or cas
    # that no completed write or cas follows in real time (invoked after it
    # ended: that one would come later in every order), or, if none
    # completed, a value it started with (none need be linearized). A
    # state from which only values already found are reachable is not
    # explored: `last_writer[i]` is the value of op i if it is such a write,
    # `open_writers[v]` counts those of value v not linearized yet, `unfound`
    # how many values v with open_writers[v] > 0 are not found yet, and
    # `pending` how many completed writes and cas are not linearized yet.
    # From a state, the reachable final values are those of the open writers,
    # and the state's own value if pending == 0.
    latest = max((op.invoke for op in ops if op.f != "read" and op.complete is not None),
                 default=None)
    last_writer = [None] * n
    open_writers = collections.Counter()
    completed_writer = [0] * n
    for i, op in enumerate(ops):
        if op.f == "read":
            continue
        completed_writer[i] = op.complete is not None
        if latest is None or op.end() >= latest:
            last_writer[i] = v = _hashable(_written(op))
            open_writers[v] += 1
    possible = set(open_writers)
    if latest is None:
        possible |= set(starts)
    pending = sum(completed_writer)
    finals = {}
    unfound = len(open_writers)

    # The memo of states already explored, bucketed by `done` so that buckets far
    # behind the search's front can be dropped; shared by the start values. Each
    # state is kept as its 64-bit hash (a tenth of the memory of the state
    # itself): a collision could only prune a path wrongly, so a "not
    # linearizable" verdict is confirmed by an exact search (check_key with
    # exact=True) before it is reported.
    cache = {}
    cached = 0
    steps = 0
    deepest, stuck_at = -1, None
    for start in starts.values():
        if unfound == 0 and (pending > 0 or _hashable(start) in finals):
            continue  # nothing new can come of this start
        stack = []
        done, extra = 0, frozenset()
        state = start
        entry = nxt[0]
        while True:
            steps += 1
            if steps > max_steps:
                return finals, steps, stuck_at, f"search budget exhausted ({steps - 1} steps)"
            if entry == end or (ev_ret[entry] and ops[ev_op[entry]].complete is None):
                # every completed op is linearized (only returns of unknown-outcome
                # ops are left, and their calls have all been tried): a final value
                v = _hashable(state)
                if v not in finals:
                    finals[v] = state
                    if last or finals.keys() >= possible:
                        return finals, steps, stuck_at, None
                    if open_writers[v] > 0:
                        unfound -= 1
            else:
                i = ev_op[entry]
                if not ev_ret[entry]:
                    ok, new_state = _step(ops[i], state)
                    if ok:
                        v = last_writer[i]
                        if (unfound - (v is not None and open_writers[v] == 1 and v not in finals)
                                == 0 and (pending - completed_writer[i] > 0
                                          or _hashable(new_state) in finals)):
                            ok = False  # only values already found are reachable from there
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
                                    return (finals, steps, stuck_at,
                                            f"search memory exhausted ({max_cache} states)")
                                bucket = cache.get(new_done)
                            if bucket is None:
                                bucket = cache[new_done] = set()
                            bucket.add(memo)
                            cached += 1
                            stack.append((i, state, done, extra))
                            state, done, extra = new_state, new_done, new_extra
                            if v is not None:
                                open_writers[v] -= 1
                                if open_writers[v] == 0 and v not in finals:
                                    unfound -= 1
                            pending -= completed_writer[i]
                            lift(i)
                            entry = nxt[0]
                            continue
                    entry = nxt[entry]
                    continue
                # a return whose op is not linearized yet: back off
                if len(stack) > deepest:
                    deepest, stuck_at = len(stack), i
            if not stack:
                break
            i, state, done, extra = stack.pop()
            v = last_writer[i]
            if v is not None:
                open_writers[v] += 1
                if open_writers[v] == 1 and v not in finals:
                    unfound += 1
            pending += completed_writer[i]
            unlift(i)
            entry = nxt[call_slot[i]]
    return finals, steps, stuck_at, None


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


def _explain(ops, seg, i, starts, k, count):
    """Why segment k (of count; `seg` its ops, `starts` the values it may start
    from; `ops` the key's) has no linearization: op i of seg, where the deepest
    attempt was stuck, and the ops around it, the cut before the segment marked."""
    bad = seg[i if i is not None else 0]
    around = [op for op in ops if op.invoke <= bad.end() and op.end() >= bad.invoke - 1.0]
    around.sort(key=lambda op: op.invoke)
    at = next(j for j, op in enumerate(around) if op is bad)
    shown = around[max(0, at - 30):at + 10]
    values = sorted(map(repr, starts.values()))
    if len(values) > 10:
        values = values[:10] + [f"... {len(values) - 10} more"]
    lines = [f"no linearization places {bad!r} in segment {k + 1} of {count} "
             f"({len(seg)} ops invoked from {seg[0].invoke:.3f}), the register holding "
             f"{' or '.join(values)} when it began; ops around it "
             f"(those that started up to 1 s before it):"]
    if around[0] is not shown[0]:
        lines.append(f"  ... {around.index(shown[0])} earlier")
    for op in shown:
        if op is seg[0]:
            lines.append(f"  -- cut: segment {k + 1} begins --")
        lines.append(f"  {op!r}" + ("   <--" if op is bad else ""))
    if around[-1] is not shown[-1]:
        lines.append(f"  ... {len(around) - around.index(shown[-1]) - 1} later")
    return "\n".join(lines)


def check_key_confirmed(ops, init=None, key=None, max_steps=400_000_000):
    """check_key with the hashed memo; a violation it finds is searched again with
    the exact memo (smaller: it may give up) and reported only if that finds it too.
    The exact search starts again from the first segment: the values the failing
    segment could start with came from the hashed search, and a collision in an
    earlier segment could have lost one of them."""
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
