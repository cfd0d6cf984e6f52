#!/usr/bin/env python3
"""Host-attack catalogue, raft's and the vault's files (DESIGN.md "What the host may
do": roll back Raft metadata, snapshots or sealed state; serve a stale or altered
snapshot).

- snapshot rolled back: a stopped follower's newest raft snapshot deleted, so that its
  older one is the latest, and with it the log entries just after the older snapshot
  where raft still keeps them: raft refuses its persisted data (a log segment is past
  the last snapshot) and the node exits 1. (Whether raft still keeps the entries after
  the older snapshot depends on where its log segments were cut when it took them: the
  older snapshot with a whole log after it is a consistent state, which raft rightly
  opens with nothing lost, so the attack must take those entries too.)
- stale snapshot served: the leader's newest raft snapshot file holds the bytes of its
  older one, and a follower that fell behind the leader's compacted log must install
  it: the follower stops at the next entry (its seqno is not the one after the
  snapshot's); every entry its ledger holds is the leader's, byte for byte.
- altered snapshot served: one bit of the snapshot the leader sends flipped (the file
  written uncompressed, as raft also reads it): the follower refuses it (the snapshot's
  AES-GCM tag), installs nothing and stops (raft stored the snapshot before offering
  it: the node could never apply another entry); once the host undoes its changes it
  catches up from the leader's next snapshot.
- raft metadata rolled back: the node cannot detect it (raft's files are not bound to
  the monotonic counter). The test makes the attack and checks what must hold anyway:
  the node rejoins as a follower, nothing acknowledged is lost, every ledger agrees byte
  for byte.
- sealed state rolled back (with the ledger and raft state of the same moment): the
  sealed store is bound to the platform's monotonic counter, which the restart moved on
  (docs/migration.md §3), so the node refuses it (ROLLBACK) and never serves from it;
  once the host puts the current files back, it rejoins safely.
Throughout, honest clients writing through the leader and the other follower are
served without a single failure."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

# the checks read the nodes' info lines (snapshots taken and installed): ctest says warn
os.environ["CONSORT_LOG"] = "info"

# Refusals: libraft's own check of its files (as src/consensus passes it on), the
# replica's check that raft entry N carries the seqno after the last one applied
# (src/node/replica.c), and the snapshot's AEAD (src/node/replica_snapcheck.c).
RAFT_FILES_CORRUPT = ("persisted data is corrupted", "is past last snapshot")
ENTRY_AFTER_STALE = ("FAILED: applying committed entries: raft entry", "carries seqno",
                     "expected")
SNAPSHOT_REFUSED = ("refused a snapshot", "AES-GCM: authentication tag does not verify")
# ... and then stops: raft has already stored the snapshot it could not restore, so the
# node could never apply another entry (src/node/node_raft.c):
SNAPSHOT_FAILED = ("FAILED: installing a snapshot", "AES-GCM: authentication tag")
SNAPSHOT_INTERVAL = 200  # raft snapshots every 200 entries, 100 trailing


def raft_segments(raft_dir):
    """[(first index, last index, file name)] of the closed log segments in a raft
    directory, oldest first (an open segment's name says nothing of its entries)."""
    out = []
    for n in os.listdir(raft_dir):
        m = re.fullmatch(r"(\d{16})-(\d{16})", n)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), n))
    return sorted(out)


def raft_snapshots(raft_dir):
    """[(index, file name)] of the raft snapshots in a raft directory, oldest first."""
    out = []
    for n in os.listdir(raft_dir):
        if n.startswith("snapshot-") and not n.endswith(".meta"):
            out.append((int(n.split("-")[2]), n))
    return sorted(out)


def three_nodes(env, writes, options=()):
    sb = env.sandbox(3, extra_args=["--node-option", f"snapshot_interval={SNAPSHOT_INTERVAL}",
                                    *options])
    records = h.write_records(sb, range(1, writes + 1), prefix="genuine record")
    leader = sb.wait_leader()
    f = next(i for i in range(3) if i != leader)
    other = next(i for i in range(3) if i not in (leader, f))
    sb.wait_caught_up([f])
    return sb, records, leader, f, other


def ledger_agrees(sb, f, leader):
    """Every entry in node f's ledger (which starts after a snapshot it installed, if
    any) is the leader's entry of that seqno, byte for byte; returns how many."""
    theirs = {h.entry_seqno(e): e for e in h.ledger_entries(sb.ledger_dir(leader))}
    mine = h.ledger_entries(sb.ledger_dir(f))
    for e in mine:
        s = h.entry_seqno(e)
        check(theirs.get(s) == e, f"ledger entry seqno {s} of node {f} is not the leader's")
    return len(mine)


def expect_stop(sb, f, p, start, words, what):
    code = p.popen.wait(5)
    lines = h.log_lines(sb.log_path(f), *words, start=start)
    check(code == 1 and lines, f"{what}: node {f} exited {code} (expected 1), "
                               f"{'a' if lines else 'no'} line with all of {words}:\n"
                               f"{h.tail(sb.log_path(f), 12)}")
    h.log(f"{what}: node {f} stopped: {lines[0].strip()[:260]}")


def behind_compacted_leader(sb, records, leader, f):
    """Stops follower f and writes until the leader's raft log no longer holds what f
    needs (two snapshots past it). Returns (raft dir, [(index, name)], records)."""
    h.stop_node(sb, f)
    raft = os.path.join(sb.data_dir(leader), "raft")
    more = h.write_records(sb, range(1001, 1001 + 2 * SNAPSHOT_INTERVAL + 50),
                           prefix="genuine record")
    snaps = h.wait_until(lambda: len(raft_snapshots(raft)) >= 2 and raft_snapshots(raft),
                         30, "the leader to keep two snapshots")
    return raft, snaps, records + more


# ---------------------------------------------------------------- snapshots

def test_attack_snapshot_rolled_back(env):
    sb, records, leader, f, other = three_nodes(env, 2 * SNAPSHOT_INTERVAL + 50)
    with sb:
        h.stop_node(sb, f)
        raft = os.path.join(sb.data_dir(f), "raft")
        snaps = raft_snapshots(raft)
        check(len(snaps) >= 2, f"node {f} keeps {snaps}, expected two snapshots")
        saved = env.path("genuine")
        h.save_dirs(sb.data_dir(f), saved, subs=("raft",))
        (older_index, older), newest = snaps[-2], snaps[-1][1]
        # the segments holding the entry after the older snapshot (or anything before it)
        bridge = [n for first, _, n in raft_segments(raft) if first <= older_index + 1]
        for name in (newest, newest + ".meta", *bridge):
            os.remove(os.path.join(raft, name))
        rest = raft_segments(raft)
        check(rest and rest[0][0] > older_index + 1,
              f"node {f}'s raft log after the deletion still follows {older} at once: {rest}")
        h.log(f"deleted node {f}'s newest raft snapshot {newest} and log segments {bridge}: "
              f"{older} is its latest, its log starts at entry {rest[0][0]}")
        with h.HonestClients(sb, [leader, other]) as honest:
            h.restart_expect_refusal(sb, f, RAFT_FILES_CORRUPT, "rolled-back snapshot")
        acked = honest.check()
        h.restore_dirs(sb.data_dir(f), saved)
        h.restart_and_catch_up(sb, f, records + acked)


# The served-snapshot attacks need a follower that, restarted, must install the leader's
# newest snapshot and nothing newer: signature entries every 100 ms (not the default 10)
# keep the honest clients' paced writes from filling a further snapshot interval (and so
# a newer, genuine snapshot) during the restart.
SERVED = ("--node-option", "sig_interval_ms=100")


def test_attack_stale_snapshot_served(env):
    sb, records, leader, f, other = three_nodes(env, 20, SERVED)
    with sb:
        raft, snaps, records = behind_compacted_leader(sb, records, leader, f)
        (old_index, old), (new_index, new) = snaps[-2], snaps[-1]
        with open(os.path.join(raft, old), "rb") as fh:
            stale = fh.read()
        with open(os.path.join(raft, new), "wb") as fh:
            fh.write(stale)
        h.log(f"the leader's snapshot at raft index {new_index} now holds the bytes of its "
              f"snapshot at {old_index}")
        start = h.file_size(sb.log_path(f))
        with h.HonestClients(sb, [leader, other], pace=0.2) as honest:
            # it opens on its own ledger, then installs what the leader sends
            p = sb.restart(f)
            h.wait_until(lambda: not p.alive(), 60, f"node {f} to stop on the stale snapshot")
            expect_stop(sb, f, p, start, ENTRY_AFTER_STALE, "stale snapshot")
        acked = honest.check()
        n = ledger_agrees(sb, f, leader)
        h.log(f"each of the {n} entries of node {f}'s ledger is the leader's, byte for byte")
        h.check_records(sb, records + acked, [leader, other])


def test_attack_altered_snapshot_served(env):
    sb, records, leader, f, other = three_nodes(env, 20, SERVED)
    with sb:
        raft, snaps, records = behind_compacted_leader(sb, records, leader, f)
        index, name = snaps[-1]
        path = os.path.join(raft, name)
        with open(path, "rb") as fh:
            genuine = fh.read()
        # raft writes snapshots LZ4-compressed and reads them compressed or not
        plain = bytearray(subprocess.run(["lz4", "-d", "-c", path], capture_output=True,
                                         check=True).stdout)
        check(plain[:8] == b"CSSNAP03", f"raft snapshot {name}: {bytes(plain[:8])!r}")
        plain[len(plain) // 2] ^= 0x01
        with open(path, "wb") as fh:
            fh.write(plain)
        h.log(f"flipped a bit in the middle of the leader's snapshot at raft index {index}")
        saved = env.path("follower-before")
        h.save_machine(sb, f, saved)  # its ledger moves on: the undo needs all of it
        start = h.file_size(sb.log_path(f))
        with h.HonestClients(sb, [leader, other], pace=0.2) as honest:
            p = sb.restart(f)
            h.wait_until(lambda: not p.alive(), 60, f"node {f} to stop on the altered snapshot")
            expect_stop(sb, f, p, start, SNAPSHOT_REFUSED, "altered snapshot")
            expect_stop(sb, f, p, start, SNAPSHOT_FAILED, "altered snapshot")
            # nothing installed from the refusal on; an older, genuine snapshot may come
            # first (libraft delivers an InstallSnapshot it queued for the peer while it
            # was down: seen in CI, "installed snapshot at signature entry 131" then the
            # refusal of the altered one at raft index 400)
            lines = h.log_lines(sb.log_path(f), "", start=start)
            refusal = next(i for i, l in enumerate(lines) if all(w in l for w in SNAPSHOT_REFUSED))
            check(not [l for l in lines[refusal:] if "installed snapshot" in l],
                  f"node {f} installed a snapshot after refusing the altered one")
            for l in lines[:refusal]:
                if "installed snapshot" in l:
                    h.log(f"before the altered one, node {f} installed a genuine snapshot: "
                          f"{l.strip()[:200]}")
        acked = honest.check()
        # undo: the genuine snapshot back on the leader, which then takes its next one;
        # the follower's files as they were before it stored the altered one. The leader
        # process still holds what it loaded from the altered file: libraft queues an
        # InstallSnapshot for a peer that is down and delivers it when the peer is back
        # (seen: the follower refused the altered snapshot again, 0.4 s after its
        # restart, although the leader had two newer snapshots on disk). So the host
        # restarts the leader as well: a restarted process reads only the disk.
        with open(path, "wb") as fh:
            fh.write(genuine)
        records += h.write_records(sb, range(3001, 3001 + SNAPSHOT_INTERVAL + 50),
                                   prefix="genuine record")
        h.wait_until(lambda: raft_snapshots(raft)[-1][0] > index, 30,
                     "the leader to take its next snapshot")
        h.restore_machine(sb, f, saved)
        h.stop_node(sb, leader)
        sb.restart(leader)
        h.log("the host undoes both: the follower catches up from a genuine snapshot")
        h.restart_and_catch_up(sb, f, records + acked, timeout=90)
        leader = sb.wait_leader()
        ledger_agrees(sb, f, leader)


# ---------------------------------------------------------------- open: need counters

def rejoined_safely(sb, records, f, honest, what, detected=False):
    """What must hold after an undetectable rollback (or once the host undid a detected
    one, `detected`): node f is back as a follower
    (never leading), has caught up, serves every acknowledged write (those of the honest
    clients too), and every entry of every follower's ledger is the leader's."""
    h.wait_until(lambda: h.node_opened(sb, f), 60, f"node {f} to reopen")
    # the honest clients stop first: a write acknowledged after the catch-up's
    # target could still be on its way to node f when it is read there
    records = records + honest.check()
    sb.wait_caught_up([0, 1, 2], timeout=90)
    check(not h.is_leader_state(sb.state(f)), f"node {f} leads after its rollback")
    h.check_records(sb, records, [0, 1, 2])
    sb.wait_quiescent()
    leader = sb.wait_leader()
    n = {i: ledger_agrees(sb, i, leader) for i in range(3) if i != leader}
    how = "undone by the host" if detected else "not detected (open, docs/security.md §6)"
    h.log(f"{what}: {how}; node {f} rejoined, "
          f"{len(records)} acknowledged writes on every node, every entry of the "
          f"followers' ledgers ({n}) is the leader's")


def test_attack_raft_metadata_rolled_back(env):
    sb, records, leader, f, other = three_nodes(env, 20)
    with sb:
        h.stop_node(sb, f)
        raft = os.path.join(sb.data_dir(f), "raft")
        saved = {}
        for n in os.listdir(raft):
            if n.startswith("metadata"):
                with open(os.path.join(raft, n), "rb") as fh:
                    saved[n] = fh.read()
        check(saved, f"node {f} has no raft metadata file")
        term_then = sb.state(leader)["raft_term"]
        h.restart_and_catch_up(sb, f)
        for k in range(2):  # two leader changes: the service's term moves on
            cur = sb.wait_leader()
            h.stop_node(sb, cur)
            sb.wait_leader(among=[i for i in range(3) if i != cur])
            records += h.write_records(sb, range(2000 + 10 * k, 2005 + 10 * k),
                                       prefix="genuine record")
            h.restart_and_catch_up(sb, cur)
        term_now = sb.state(sb.wait_leader())["raft_term"]
        check(term_now > term_then, f"the term did not move on ({term_then} -> {term_now})")
        h.stop_node(sb, f)
        live = [i for i in range(3) if i != f]
        sb.wait_leader(among=live)
        h.wait_until(lambda: all(sb.state(i).get("leader_rpc_address") for i in live), 30,
                     f"nodes {live} to know the leader")
        for n in os.listdir(raft):
            if n.startswith("metadata"):
                os.remove(os.path.join(raft, n))
        for n, data in saved.items():
            with open(os.path.join(raft, n), "wb") as fh:
                fh.write(data)
        h.log(f"put back node {f}'s raft metadata of term {term_then} (the service is in "
              f"term {term_now})")
        with h.HonestClients(sb, live) as honest:
            sb.restart(f)
            rejoined_safely(sb, records, f, honest, "raft metadata rolled back")


def test_attack_sealed_state_rolled_back(env):
    sb, records, leader, f, other = three_nodes(env, 20, ["--node-option",
                                                          "snapshot_interval=25"])
    with sb:
        h.stop_node(sb, f)
        old = env.path("node-then")
        every = ("sealed", "ledger", "raft", "snapshots")
        h.save_dirs(sb.data_dir(f), old, subs=every)
        h.restart_and_catch_up(sb, f)
        records += h.write_records(sb, range(100, 300), prefix="genuine record")
        sb.wait_caught_up([f])
        h.stop_node(sb, f)
        now = env.path("node-now")
        h.save_dirs(sb.data_dir(f), now, subs=every)
        h.restore_dirs(sb.data_dir(f), old)
        h.log(f"put back node {f}'s sealed state, ledger and raft state as they were after "
              f"20 writes (its high-water mark then was lower)")
        with h.HonestClients(sb, [leader, other]) as honest:
            h.restart_expect_refusal(sb, f, ["ROLLBACK", "older copy of the store"],
                                     "sealed state rolled back")
            h.restore_dirs(sb.data_dir(f), now)
            h.log(f"the host undoes it: node {f}'s current files back")
            sb.restart(f)
            rejoined_safely(sb, records, f, honest, "sealed state rolled back", detected=True)


if __name__ == "__main__":
    sys.exit(h.main([test_attack_snapshot_rolled_back, test_attack_stale_snapshot_served,
                     test_attack_altered_snapshot_served, test_attack_raft_metadata_rolled_back,
                     test_attack_sealed_state_rolled_back]))
