#!/usr/bin/env python3
"""Host-attack catalogue, a stopped node's ledger files (DESIGN.md "What the host may
do": tamper with, truncate, reorder or roll back ledger files). The unsigned tail after
the last signature entry (append, replace, strip) is test_host_attacks_ledger.py's.

In a 3-node service with small ledger chunks and frequent snapshots (so each node's
sealed high-water mark rises), the host stops a follower and
  - flips one byte of an entry well inside the signed part of its ledger (tampered);
  - cuts its ledger back to the first chunk file (truncated);
  - swaps two committed chunk files, or two entries inside one (reordered);
  - puts back a copy of its whole ledger directory taken earlier (rolled back).
Each must fail closed: the node refuses to start (exit 1) with a log line naming what
is wrong and where (the entry and its chunk file, or the high-water mark), and never
serves. Honest clients writing through the leader and the other follower are served
without a failure during every attack; once the host puts the genuine files back, the
follower starts, catches up and serves every acknowledged write."""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

# the checks read the nodes' info lines (snapshots taken and installed): ctest says warn
os.environ["CONSORT_LOG"] = "info"

OPTIONS = ["--node-option", "ledger_chunk_bytes=4096", "--node-option", "snapshot_interval=25"]
# The refusals (src/node/replica_recover.c, src/store/ledger_reader.c):
NOT_AUTHENTIC = "is not authentic"
BELOW_MARK = ("below the sealed high-water mark", "the ledger was rolled back or truncated")
REORDERED = "(entries missing, reordered or duplicated)"


def service(env):
    sb = env.sandbox(3, extra_args=OPTIONS)
    records = h.write_records(sb, range(1, 121), prefix="genuine record")
    leader = sb.wait_leader()
    f = next(i for i in range(3) if i != leader)
    other = next(i for i in range(3) if i not in (leader, f))
    sb.wait_caught_up([f])
    return sb, records, leader, f, other


def committed_chunks(ledger):
    return [name for _, name in h.ledger_chunks(ledger) if name.endswith(".committed")]


def checkpoints(sb, i):
    """The checkpoints of the snapshots node i logged it took ("snapshot at seqno X
    (checkpoint C, ...") or installed ("installed snapshot at signature entry C"): each
    raised its sealed high-water mark to C."""
    taken = [int(l.split("(checkpoint ", 1)[1].split(",")[0])
             for l in h.log_lines(sb.log_path(i), "snapshot at seqno", "(checkpoint ")]
    installed = [int(l.split("installed snapshot at signature entry ", 1)[1].split()[0])
                 for l in h.log_lines(sb.log_path(i), "installed snapshot at signature entry ")]
    return sorted(taken + installed)


def last_signature(ledger):
    last = 0
    for _, name in h.ledger_chunks(ledger):
        for _, raw in h.chunk_frames(os.path.join(ledger, name)):
            if h.entry_kind(raw) == h.KIND_SIGNATURE:
                last = h.entry_seqno(raw)
    return last


def signed_chunk(ledger, min_tx=3):
    """A committed chunk (every one ends with a signature entry) holding at least
    `min_tx` transaction entries, not the last one."""
    for name in committed_chunks(ledger)[:-1]:
        kinds = [h.entry_kind(raw) for _, raw in h.chunk_frames(os.path.join(ledger, name))]
        if kinds.count(h.KIND_TX) >= min_tx:
            return name
    raise h.TestFailure(f"{ledger}: no committed chunk with {min_tx} transactions")


def attack(env, name, tamper):
    """Runs `tamper(sb, f)` on the stopped follower f (it returns the words its refusal
    must log), requires the refusal while honest clients are served, then restores."""
    sb, records, leader, f, other = service(env)
    with sb:
        h.stop_node(sb, f)
        saved = env.path(f"{name}-genuine")
        h.save_dirs(sb.data_dir(f), saved)
        with h.HonestClients(sb, [leader, other]) as honest:
            words, what = tamper(sb, f)
            h.restart_expect_refusal(sb, f, words, what)
            check(not h.node_opened(sb, f), f"node {f} serves after refusing its ledger")
        acked = honest.check(min_ops=5)
        h.restore_dirs(sb.data_dir(f), saved)
        h.restart_and_catch_up(sb, f, records + acked)
        h.log(f"genuine files back: node {f} caught up and serves all "
              f"{len(records) + len(acked)} acknowledged writes")


def test_attack_ledger_entry_tampered(env):
    """One byte of a record's message flipped in an entry of the first committed chunk
    (covered by signature entries after it)."""

    def tamper(sb, f):
        ledger = sb.ledger_dir(f)
        chunk = signed_chunk(ledger)
        path = os.path.join(ledger, chunk)
        frames = h.chunk_frames(path)
        # the middle transaction entry of the chunk that writes a record
        txs = [(off, raw) for off, raw in frames
               if h.parse_entry(raw)[0].kind == h.KIND_TX]
        check(len(txs) >= 3, f"{chunk}: only {len(txs)} transaction entries")
        off, raw = txs[len(txs) // 2]
        e = h.parse_entry(raw)[0]
        # flip a bit of the last byte of the public write set (or of the ciphertext)
        pos = raw.index(e.public_ws) + len(e.public_ws) - 1 if e.public_ws else \
            raw.index(e.private)
        with open(path, "r+b") as fh:
            fh.seek(off + 4 + pos)
            b = fh.read(1)[0]
            fh.seek(off + 4 + pos)
            fh.write(bytes([b ^ 0x01]))
        h.log(f"flipped a bit of entry {e.seqno} in {chunk} (byte {off + 4 + pos})")
        return (NOT_AUTHENTIC, f"entry {e.seqno}", chunk), "tampered signed entry"

    attack(env, "tampered", tamper)


def test_attack_ledger_truncated(env):
    """The ledger cut back to its first chunk file, below the sealed high-water mark."""

    def tamper(sb, f):
        ledger = sb.ledger_dir(f)
        chunks = [name for _, name in h.ledger_chunks(ledger)]
        snaps = checkpoints(sb, f)
        check(snaps, f"node {f} took no snapshot (its high-water mark is still genesis)")
        first = chunks[0]
        last = h.parse_entry(h.chunk_frames(os.path.join(ledger, first))[-1][1])[0].seqno
        check(last < snaps[-1], f"the first chunk ends at {last}, above the high-water "
                                f"mark {snaps[-1]}")
        for name in chunks[1:]:
            os.remove(os.path.join(ledger, name))
        h.log(f"cut node {f}'s ledger to {first} (last seqno {last}; its snapshots' "
              f"checkpoints: {snaps})")
        return (BELOW_MARK[0] + f" {snaps[-1]}", BELOW_MARK[1]), "truncated ledger"

    attack(env, "truncated", tamper)


def test_attack_ledger_chunks_reordered(env):
    """The contents of two committed chunk files swapped (their names kept)."""

    def tamper(sb, f):
        ledger = sb.ledger_dir(f)
        a = signed_chunk(ledger, 1)
        b = committed_chunks(ledger)[committed_chunks(ledger).index(a) + 1]
        pa, pb = os.path.join(ledger, a), os.path.join(ledger, b)
        with open(pa, "rb") as fa, open(pb, "rb") as fb:
            da, db = fa.read(), fb.read()
        with open(pa, "wb") as fa:
            fa.write(db)
        with open(pb, "wb") as fb:
            fb.write(da)
        first_b = h.parse_entry(h.chunk_frames(pa)[0][1])[0].seqno
        h.log(f"swapped the contents of {a} and {b}")
        return (REORDERED, f"entry has seqno {first_b}", a), "chunks reordered"

    attack(env, "chunks-reordered", tamper)


def test_attack_ledger_entries_reordered(env):
    """Two adjacent transaction entries swapped inside a committed chunk file."""

    def tamper(sb, f):
        ledger = sb.ledger_dir(f)
        chunk = signed_chunk(ledger)
        path = os.path.join(ledger, chunk)
        frames = [raw for _, raw in h.chunk_frames(path)]
        k = next(k for k in range(1, len(frames) - 1)
                 if h.entry_kind(frames[k]) == h.KIND_TX == h.entry_kind(frames[k + 1]))
        second = h.entry_seqno(frames[k + 1])
        frames[k], frames[k + 1] = frames[k + 1], frames[k]
        h.write_chunk_frames(path, frames)
        h.log(f"swapped entries {second - 1} and {second} in {chunk}")
        return (REORDERED, f"entry has seqno {second}", chunk), "entries reordered"

    attack(env, "entries-reordered", tamper)


def test_attack_ledger_rolled_back(env):
    """The follower's whole ledger directory replaced by the copy the host took after
    the first 20 writes (genuine, but older than its sealed high-water mark)."""
    sb = env.sandbox(3, extra_args=OPTIONS)
    with sb:
        early = h.write_records(sb, range(1, 21), prefix="genuine record")
        leader = sb.wait_leader()
        f = next(i for i in range(3) if i != leader)
        other = next(i for i in range(3) if i not in (leader, f))
        sb.wait_caught_up([f])
        h.stop_node(sb, f)
        old = env.path("ledger-then")
        h.save_dirs(sb.data_dir(f), old, subs=("ledger",))
        h.restart_and_catch_up(sb, f, early)
        later = h.write_records(sb, range(21, 121), prefix="genuine record")
        sb.wait_caught_up([f])
        then = last_signature(os.path.join(old, "ledger"))
        h.wait_until(lambda: checkpoints(sb, f) and checkpoints(sb, f)[-1] > then, 60,
                     f"node {f} to take a snapshot past the copy's last signature {then}")
        h.stop_node(sb, f)
        saved = env.path("ledger-now")
        h.save_dirs(sb.data_dir(f), saved, subs=("ledger",))
        with h.HonestClients(sb, [leader, other]) as honest:
            h.restore_dirs(sb.data_dir(f), old)
            mark = checkpoints(sb, f)[-1]
            h.log(f"put back node {f}'s ledger as it was after 20 writes (last signature "
                  f"{then}; its high-water mark is now {mark})")
            h.restart_expect_refusal(sb, f, (BELOW_MARK[0] + f" {mark}", BELOW_MARK[1]),
                                     "rolled-back ledger")
            check(not h.node_opened(sb, f), f"node {f} serves after refusing its ledger")
        acked = honest.check(min_ops=5)
        h.restore_dirs(sb.data_dir(f), saved)
        h.restart_and_catch_up(sb, f, early + later + acked)


if __name__ == "__main__":
    sys.exit(h.main([test_attack_ledger_entry_tampered, test_attack_ledger_truncated,
                     test_attack_ledger_chunks_reordered, test_attack_ledger_entries_reordered,
                     test_attack_ledger_rolled_back]))
