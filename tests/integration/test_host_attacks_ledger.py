#!/usr/bin/env python3
"""The host rewrites a stopped node's ledger (DESIGN.md "What the host may do, and what
must hold anyway"): it appends forged entries, strips or replaces entries of the
unsigned tail after the last signature entry, and adds a forged internal entry that
trusts a rogue code id. Each attack must fail closed: the node refuses its ledger with
a log line that names the entry's seqno and its chunk file (exit 1), nothing forged is
ever served, no rogue node is admitted, and once the host undoes its change the
service serves every genuine record again.

A host controls every file of the node, so where an attack would otherwise be caught
only because libraft's log still holds the genuine bytes, the test also rewrites the
raft log consistently (its segments carry a CRC, nothing keyed): the node's ledger must
be authenticated by the service's own keys, not by a second copy the host also holds.

Every byte-level change is made in the version of the entries it sits among
(consort_harness.LedgerEntry: version 1 today, version 2 with a key salt and a tag on
every entry after the fix): a forged version 2 entry gets a random salt and a tag of
random bytes, which only the service could have computed."""

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

# ---------------------------------------------------------------- expected log lines
# The node's refusal of a ledger entry it did not write (or that was altered: header,
# write sets, lengths, tag): ONE line holding this phrase, "entry <seqno>" and the chunk
# file's name, e.g.
#   "ledger_1.open offset 5213: entry 13 is not authentic (...)"
ENTRY_NOT_AUTHENTIC = "is not authentic"
ENTRY_WORDS = "entry {seqno}"
# A joiner whose code id the service does not trust (test_attestation.py's wording).
CODE_ID_NOT_TRUSTED = "is not trusted"

# A tail that stays unsigned: no signature entry until the node is stopped.
TAIL_OPTIONS = ["--node-option", "sig_interval_tx=1000000",
                "--node-option", "sig_interval_ms=3600000"]
FORGED_ID = 999
FORGED_MSG = "FORGED BY THE HOST"
REFUSAL_TIMEOUT = 30  # s for a node to refuse (exit) or open


class Findings:
    """Collects the failed checks of several variants so that one run reports all of
    them; raise_if_any() fails the test with every one."""

    def __init__(self):
        self.items = []

    def run(self, what, fn, *args):
        try:
            fn(*args)
            h.log(f"{what}: held")
            return True
        except (h.TestFailure, OSError, h.http.client.HTTPException, ValueError) as e:
            h.log(f"{what}: FAILED: {e!r}" if not isinstance(e, h.TestFailure) else
                  f"{what}: FAILED: {e}")
            self.items.append(f"[{what}] {e if isinstance(e, h.TestFailure) else repr(e)}")
            return False

    def raise_if_any(self):
        if self.items:
            raise h.TestFailure(f"{len(self.items)} check(s) failed:\n  - " +
                                "\n  - ".join(self.items))


# ---------------------------------------------------------------- helpers


def code_id_of(env, app):
    """The code id of consortd running `app`: `consortd --code-id` where the binary
    measures it itself (code id v2, the fixed tree), else the v1 formula of
    docs/operating.md, SHA-256(SHA-256(consortd) || SHA-256(app)), for a consortd that
    has no --code-id (exit 2: the binaries before the fix)."""
    try:
        return h.code_id(env.consortd, app)
    except subprocess.CalledProcessError as e:
        if e.returncode != 2:
            raise
        return hashlib.sha256(h.file_sha256(env.consortd) + h.file_sha256(app)).hexdigest()

def record_key(k):
    return struct.pack(">Q", k)  # samples/logging: 8 big-endian bytes


def write_records(sb, count, first=1):
    """Public and private records, alternating; returns {(kind, id): (msg, txid)}."""
    c = sb.client(sb.wait_leader())
    out = {}
    try:
        for k in range(first, first + count):
            kind = "public" if k % 2 else "private"
            msg = f"genuine {kind} record {k:04d}"
            r = c.post_json(f"/app/log/{kind}", {"id": k, "msg": msg})
            check(r.status == 200 and r.txid, f"write {k}: {r!r}")
            out[(kind, k)] = (msg, r.txid)
    finally:
        c.close()
    return out


def node_client(sb, node, timeout=5):
    n = sb.nodes[node]
    return h.Client(n["rpc_address"], sb.service_cert, sb.user_cert, sb.user_key,
                    timeout=timeout)


def start_node(env, sb, node):
    """Starts node `node` again from its files; the sandbox tracks the process (so its
    alive(), leader_index() and stop() see it)."""
    p = h.Process([env.consortd, "--config", sb.nodes[node]["config"]], sb.log_path(node))
    sb.restarted[node] = p
    return p


def opened(sb, node):
    try:
        c = node_client(sb, node, 3)
        try:
            return c.get_json("/node/state").get("state") == "PartOfNetwork"
        finally:
            c.close()
    except (OSError, h.http.client.HTTPException, h.TestFailure, ValueError):
        return False


def wait_exit_or_open(sb, node, proc, timeout=REFUSAL_TIMEOUT):
    """Waits until the node exits ("exited") or serves as part of the network ("open")."""
    return h.wait_until(lambda: ("exited" if not proc.alive() else
                                 "open" if opened(sb, node) else None),
                        timeout, f"node {node} to refuse its ledger (exit) or open")


def served(sb, node, kind, k):
    c = node_client(sb, node)
    try:
        return c.get(f"/app/log/{kind}?id={k}")
    finally:
        c.close()


def tx_status(sb, node, txid):
    c = node_client(sb, node)
    try:
        return c.tx_status(txid)
    finally:
        c.close()


def check_refused(sb, node, proc, log_start, seqno, chunk, what, on_open):
    """The node must refuse: exit 1 and one log line with ENTRY_NOT_AUTHENTIC, the
    entry's seqno and the chunk file. If it opens instead, on_open() says what it serves
    (today's failure)."""
    outcome = wait_exit_or_open(sb, node, proc)
    if outcome == "open":
        detail = on_open()
        raise h.TestFailure(f"{what}: node {node} accepted its ledger and serves: {detail}")
    code = proc.popen.wait(5)
    check(code == 1, f"{what}: node {node} exited {code}, expected 1 (a corrupt ledger)")
    words = (ENTRY_NOT_AUTHENTIC, ENTRY_WORDS.format(seqno=seqno), chunk)
    lines = h.log_lines(sb.log_path(node), *words, start=log_start)
    check(lines, f"{what}: node {node} exited 1 but no log line holds all of {words}; "
                 f"its log:\n{h.tail(sb.log_path(node), 12)}")
    h.log(f"{what}: node {node} refused: {lines[0].strip()[:240]}")


def check_genuine_served(sb, node, records, absent=()):
    c = node_client(sb, node, 10)
    try:
        for (kind, k), (msg, txid) in sorted(records.items()):
            r = c.get(f"/app/log/{kind}?id={k}")
            check(r.status == 200 and r.json().get("msg") == msg,
                  f"node {node}: genuine {kind} record {k} ({txid}) reads {r!r}")
            st = c.tx_status(txid)
            check(st == "Committed", f"node {node}: genuine transaction {txid} is {st}")
        for kind, k in absent:
            r = c.get(f"/app/log/{kind}?id={k}")
            check(r.status == 404, f"node {node}: {kind} record {k} should not exist: {r!r}")
    finally:
        c.close()


def tail_entries(ledger_dir):
    """[(chunk name, offset, LedgerEntry, raw)] of every entry after the last signature."""
    out = []
    for _, name in h.ledger_chunks(ledger_dir):
        for off, raw in h.chunk_frames(os.path.join(ledger_dir, name)):
            e, _ = h.parse_entry(raw)
            if e.kind == h.KIND_SIGNATURE:
                out = []
            else:
                out.append((name, off, e, raw))
    return out


def snapshot_dirs(data_dir, save_to):
    """Copies ledger/ and raft/ of a stopped node aside (the host's own backup)."""
    shutil.rmtree(save_to, ignore_errors=True)
    os.makedirs(save_to)
    for sub in ("ledger", "raft"):
        shutil.copytree(os.path.join(data_dir, sub), os.path.join(save_to, sub))


def restore_dirs(data_dir, saved):
    for sub in ("ledger", "raft"):
        shutil.rmtree(os.path.join(data_dir, sub))
        shutil.copytree(os.path.join(saved, sub), os.path.join(data_dir, sub))


def forge_like(template, kind, seqno, public_ws, private=b""):
    """A well-formed entry of `template`'s version that the service never wrote: its
    commit evidence digest and, for version 2, key salt and tag are random bytes."""
    return h.LedgerEntry(template.version, kind, template.term, seqno, public_ws, private,
                         key_salt=os.urandom(h.LEDGER_SALT_LEN) if template.version >= 2
                         else None,
                         tag=os.urandom(h.LEDGER_TAG_LEN) if template.version >= 2 else None,
                         commit_evidence_digest=os.urandom(32)).encode()


def last_entry(ledger_dir):
    chunks = h.ledger_chunks(ledger_dir)
    check(chunks, f"{ledger_dir}: no chunk")
    frames = h.chunk_frames(os.path.join(ledger_dir, chunks[-1][1]))
    return h.parse_entry(frames[-1][1])[0], chunks[-1][1]


def append_to_open_chunk(ledger_dir, entry_bytes, seqno):
    """Appends a frame to the .open chunk (creating ledger_<seqno>.open if the last chunk
    is committed, as the writer would). Returns (chunk name, offset, size before)."""
    name = h.ledger_chunks(ledger_dir)[-1][1]
    if not name.endswith(".open"):
        name = f"ledger_{seqno}.open"
    path = os.path.join(ledger_dir, name)
    before = h.file_size(path)
    off = h.append_frame(path, entry_bytes)
    return name, off, before


# ---------------------------------------------------------------- 1. forged tail entry

def test_attack_forged_entry_appended_to_unsigned_tail(env):
    """A forged public entry appended to the .open chunk of a stopped one-node service."""
    sb = env.sandbox(1)
    records = write_records(sb, 6)
    sb.stop()
    ledger = sb.ledger_dir(0)
    last, _ = last_entry(ledger)
    seqno = last.seqno + 1
    ws = h.ws_encode({"public:records": [(record_key(FORGED_ID), FORGED_MSG.encode())]})
    forged = forge_like(last, h.KIND_TX, seqno, ws)
    chunk, off, before = append_to_open_chunk(ledger, forged, seqno)
    forged_txid = f"{last.term}.{seqno}"
    h.log(f"appended a forged v{last.version} entry {forged_txid} writing record "
          f"{FORGED_ID} to {chunk} at offset {off}")

    def what_it_serves():
        r = served(sb, 0, "public", FORGED_ID)
        return (f"record {FORGED_ID} -> {r!r}; /node/tx {forged_txid} -> "
                f"{tx_status(sb, 0, forged_txid)}")

    log_start = h.file_size(sb.log_path(0))
    proc = start_node(env, sb, 0)
    try:
        check_refused(sb, 0, proc, log_start, seqno, chunk, "forged tail entry",
                      what_it_serves)
    finally:
        proc.stop()

    # The host removes its frame: the node starts and serves every genuine record.
    os.truncate(os.path.join(ledger, chunk), before)
    if os.path.getsize(os.path.join(ledger, chunk)) == 0:
        os.remove(os.path.join(ledger, chunk))
    proc = start_node(env, sb, 0)
    try:
        h.wait_until(lambda: opened(sb, 0) or not proc.alive(), 60, "node 0 to reopen")
        check(proc.alive(), f"node 0 does not start once the forged frame is gone:\n"
                            f"{h.tail(sb.log_path(0), 12)}")
        check_genuine_served(sb, 0, records, absent=[("public", FORGED_ID)])
        st = tx_status(sb, 0, forged_txid)
        h.log(f"/node/tx {forged_txid}: {st}")
        if st == "Committed":
            # raft may still have held a genuine entry at that seqno (a signature the
            # node had not committed when it stopped), committed after the restart: the
            # txid is then that entry's, which must not be the forgery
            h.wait_until(lambda: entry_at(ledger, seqno) is not None, 30,
                         f"entry {seqno} in node 0's ledger")
            genuine = entry_at(ledger, seqno)
            check(genuine != forged,
                  f"/node/tx {forged_txid} is Committed and the ledger holds the forgery "
                  f"there")
            check(h.parse_entry(genuine)[0].public_ws != ws,
                  f"the entry committed at {forged_txid} writes the forged record")
    finally:
        code = proc.stop()
    check(code == 0, f"node 0 exited {code} on SIGTERM")


def entry_at(ledger_dir, seqno):
    """The raw frame of the entry at `seqno` in the ledger's chunks, or None."""
    for _, name in h.ledger_chunks(ledger_dir):
        for _, raw in h.chunk_frames(os.path.join(ledger_dir, name)):
            if h.parse_entry(raw)[0].seqno == seqno:
                return raw
    return None


# ---------------------------------------------------------------- 3. and 4. tail rewrites

def tail_attack(env, name, make_variants):
    """One-node service with an unsigned tail; each variant rewrites tail entries of the
    stopped node (in the ledger, and also consistently in the raft log), the node must
    refuse; after the host restores its files, the node serves every genuine record."""
    sb = env.sandbox(1, extra_args=TAIL_OPTIONS)
    records = write_records(sb, 8)
    sb.stop()
    data, ledger = sb.data_dir(0), sb.ledger_dir(0)
    saved = env.path(f"{name}-pristine")
    snapshot_dirs(data, saved)
    tail = tail_entries(ledger)
    check(len(tail) >= 6, f"expected an unsigned tail of >= 6 entries, got {len(tail)}")
    h.log(f"unsigned tail: entries {tail[0][2].seqno}..{tail[-1][2].seqno}, "
          f"v{tail[0][2].version}")
    findings = Findings()
    for what, victim, new_raw, on_open in make_variants(sb, tail, records):
        chunk, _, old, old_raw = victim
        for with_raft in (True, False):
            label = f"{what} ({'ledger and raft log' if with_raft else 'ledger only'})"
            restore_dirs(data, saved)
            path = os.path.join(ledger, chunk)
            frames = [raw for _, raw in h.chunk_frames(path)]
            frames[frames.index(old_raw)] = new_raw
            h.write_chunk_frames(path, frames)
            if with_raft:
                n = h.raft_log_rewrite(os.path.join(data, "raft"), {old_raw: new_raw})
                check(n >= 1, f"{label}: entry {old.seqno} not found in the raft log")
            log_start = h.file_size(sb.log_path(0))
            proc = start_node(env, sb, 0)
            try:
                findings.run(label, check_refused, sb, 0, proc, log_start, old.seqno, chunk,
                             label, on_open)
            finally:
                proc.stop()
    # undo: the host puts its files back; the node serves every genuine record again
    restore_dirs(data, saved)
    proc = start_node(env, sb, 0)
    try:
        h.wait_until(lambda: opened(sb, 0) or not proc.alive(), 60, "node 0 to reopen")
        check(proc.alive(), f"node 0 does not start from its restored files:\n"
                            f"{h.tail(sb.log_path(0), 12)}")
        check_genuine_served(sb, 0, records)
    finally:
        code = proc.stop()
    check(code == 0, f"node 0 exited {code} on SIGTERM")
    findings.raise_if_any()


def test_attack_private_section_stripped(env):
    """The private section of a private-record entry in the unsigned tail is stripped,
    the lengths rewritten consistently (v1: private_len 0; v2: C = 0, tag kept)."""

    def variants(sb, tail, records):
        victim = next(t for t in tail if t[2].kind == h.KIND_TX and t[2].private)
        e = victim[2]
        (kind, k), (msg, txid) = next(((kk, v) for kk, v in records.items()
                                       if v[1] == f"{e.term}.{e.seqno}"))
        check(kind == "private", f"entry {e.seqno} is not a private record")
        stripped = h.parse_entry(victim[3])[0]
        stripped.private = b""
        new_raw = stripped.encode()
        h.log(f"stripping the private section of entry {e.seqno} (private record {k}): "
              f"{len(victim[3])} -> {len(new_raw)} bytes")

        def on_open():
            r = served(sb, 0, "private", k)
            return f"private record {k} -> {r!r}; /node/tx {txid} -> {tx_status(sb, 0, txid)}"

        yield "private section stripped", victim, new_raw, on_open

    tail_attack(env, "strip", variants)


def test_attack_unsigned_tail_entry_replaced(env):
    """An unsigned-tail entry replaced (a) by a same-length variant whose public message
    differs, (b) by the genuine entry of another seqno, relabelled with the victim's seqno
    so that it sits well-formed in its place (its salt and tag kept in version 2)."""

    def variants(sb, tail, records):
        by_txid = {v[1]: (kk, v[0]) for kk, v in records.items()}
        public = [t for t in tail if t[2].kind == h.KIND_TX and not t[2].private
                  and f"{t[2].term}.{t[2].seqno}" in by_txid]
        check(len(public) >= 2, "expected two public records in the unsigned tail")
        victim, other = public[0], public[-1]
        e = victim[2]
        (_, k), msg = by_txid[f"{e.term}.{e.seqno}"]
        forged_msg = msg.replace("genuine", "FORGED!")
        check(len(forged_msg) == len(msg), "same-length message")
        changed = h.parse_entry(victim[3])[0]
        changed.public_ws = changed.public_ws.replace(msg.encode(), forged_msg.encode())
        new_raw = changed.encode()
        check(len(new_raw) == len(victim[3]) and new_raw != victim[3], "same-length variant")
        txid = f"{e.term}.{e.seqno}"

        def on_open_changed():
            r = served(sb, 0, "public", k)
            return f"public record {k} -> {r!r}; /node/tx {txid} -> {tx_status(sb, 0, txid)}"

        yield "public message replaced", victim, new_raw, on_open_changed

        o = other[2]
        (_, k2), msg2 = by_txid[f"{o.term}.{o.seqno}"]
        moved = h.parse_entry(other[3])[0]
        moved.seqno = e.seqno
        moved_raw = moved.encode()

        def on_open_moved():
            r1, r2 = served(sb, 0, "public", k), served(sb, 0, "public", k2)
            return (f"public record {k} ({txid}) -> {r1!r} while /node/tx says "
                    f"{tx_status(sb, 0, txid)}; record {k2} -> {r2!r}")

        h.log(f"entry {o.seqno} (record {k2}) relabelled as entry {e.seqno} (record {k})")
        yield f"genuine entry {o.seqno} put in the place of entry {e.seqno}", victim, \
            moved_raw, on_open_moved

    tail_attack(env, "replace", variants)


# ---------------------------------------------------------------- 2. forged internal entry

def rogue_app(env, root):
    """The logging module with bytes appended: another code id."""
    app = os.path.join(root, "logging-rogue.so")
    shutil.copyfile(env.app, app)
    with open(app, "ab") as f:
        f.write(b"\0consort test: a rogue module, another code id\0")
    rogue = code_id_of(env, app)
    check(rogue != code_id_of(env, env.app), "the rogue module has the same code id")
    return app, rogue


class RogueNode:
    """consortd with a rogue module, joining a node of the service from node `host`'s
    platform (the same host as that node)."""

    def __init__(self, env, sb, root, app, host, target_address):
        os.makedirs(root, exist_ok=True)
        with open(sb.nodes[host]["config"]) as f:
            platform_dir = json.load(f)["platform_dir"]
        self.cfg = {"platform": "virtual", "platform_dir": platform_dir,
                    "rpc_address": h.ANY_PORT, "node_address": h.ANY_PORT,
                    "data_dir": os.path.join(root, "data"), "app": app,
                    "join": {"target": target_address, "service_cert": sb.service_cert}}
        self.config = os.path.join(root, "node.json")
        with open(self.config, "w") as f:
            json.dump(self.cfg, f)
        self.log_path = os.path.join(root, "consortd.log")
        self.sb, self.env, self.proc = sb, env, None

    def start(self):
        self.proc = h.Consortd(self.env.consortd, self.config, self.log_path, cfg=self.cfg,
                               may_exit=True)
        return self

    def stop(self):
        return self.proc.stop() if self.proc else None

    def is_open(self):
        c = h.Client(self.cfg["rpc_address"], self.sb.service_cert, self.sb.user_cert,
                     self.sb.user_key, timeout=3)
        try:
            return c.get_json("/node/state").get("state") == "PartOfNetwork"
        except (OSError, h.http.client.HTTPException, h.TestFailure, ValueError):
            return False
        finally:
            c.close()

    def holds_service_material(self):
        data = self.cfg["data_dir"]
        got = [p for p in ("node_cert.pem",) if os.path.exists(os.path.join(data, p))]
        for sub in ("ledger", "raft", "snapshots"):
            d = os.path.join(data, sub)
            if os.path.isdir(d) and os.listdir(d):
                got.append(f"{sub}/")
        return got


def trusted_nodes(sb, node):
    c = node_client(sb, node, 5)
    try:
        doc = c.get_json("/node/network")
    finally:
        c.close()
    return [(n.get("node_id"), n.get("rpc_address")) for n in doc["nodes"]
            if n.get("status") == "Trusted"]


def check_rogue_kept_out(sb, rogue, live, watch=12):
    """For `watch` seconds: the rogue never opens, no live genuine node lists it as
    Trusted; afterwards it holds no node certificate, ledger or raft state."""
    deadline = time.monotonic() + watch
    while time.monotonic() < deadline:
        check(not rogue.is_open(), "the rogue node is part of the network (PartOfNetwork, "
                                   "serving with a certificate the service issued)")
        for i in live:
            try:
                listed = trusted_nodes(sb, i)
            except (OSError, h.http.client.HTTPException, h.TestFailure, ValueError):
                continue
            check(not any(addr == rogue.cfg["rpc_address"] for _, addr in listed),
                  f"node {i} lists the rogue node as Trusted: {listed}")
        time.sleep(1)
    got = rogue.holds_service_material()
    check(not got, f"the rogue node received {got}")
    check(not h.log_lines(rogue.log_path, "open at"), "the rogue node opened")


def test_attack_forged_internal_entry_trusting_code_id(env):
    """On every node of a stopped 3-node service the host appends the same forged internal
    entry trusting a rogue code id in public:consort.code_ids, restarts the nodes and
    starts a node with the rogue module that joins."""
    sb = env.sandbox(3)
    records = write_records(sb, 4)
    sb.wait_quiescent()
    sb.stop()
    count = h.check_ledgers_agree(sb, range(3))
    root = env.path("rogue")
    os.makedirs(root)
    app, rogue_id = rogue_app(env, root)
    last, _ = last_entry(sb.ledger_dir(0))
    seqno = last.seqno
    check(seqno == count, f"last entry {seqno}, {count} entries")
    seqno += 1
    ws = h.ws_encode({"public:consort.code_ids": [(rogue_id.encode(), b"AllowedToJoin")]})
    forged = forge_like(last, h.KIND_INTERNAL, seqno, ws)
    placed = {}
    for i in range(3):
        placed[i] = append_to_open_chunk(sb.ledger_dir(i), forged, seqno)
    h.log(f"appended forged internal entry {last.term}.{seqno} trusting code id "
          f"{rogue_id[:16]}... on every node ({placed[0][0]})")

    starts = {i: h.file_size(sb.log_path(i)) for i in range(3)}
    procs = {i: start_node(env, sb, i) for i in range(3)}
    rogue = None
    findings = Findings()
    try:
        deadline = time.monotonic() + REFUSAL_TIMEOUT
        while time.monotonic() < deadline and not all(
                not procs[i].alive() or opened(sb, i) for i in range(3)):
            time.sleep(0.5)
        live = [i for i in range(3) if procs[i].alive()]
        h.log(f"after the restart: nodes {live} running")
        target = sb.nodes[live[0] if live else 0]["node_address"]
        rogue = RogueNode(env, sb, os.path.join(root, "node"), app, 1, target).start()
        findings.run("the rogue node is kept out", check_rogue_kept_out, sb, rogue, live)

        def refused(i):
            check(not procs[i].alive(), f"node {i} runs on with the forged entry {seqno} "
                                        f"in its ledger (it is open: {opened(sb, i)})")
            code = procs[i].popen.returncode
            words = (ENTRY_NOT_AUTHENTIC, ENTRY_WORDS.format(seqno=seqno), placed[i][0])
            lines = h.log_lines(sb.log_path(i), *words, start=starts[i])
            check(code == 1 and lines,
                  f"node {i} did not refuse the forged entry {seqno} (exit {code}, no line "
                  f"with {words}); its log:\n{h.tail(sb.log_path(i), 8)}")
            h.log(f"node {i} refused: {lines[0].strip()[:200]}")

        for i in range(3):
            findings.run(f"node {i} refuses the forged entry", refused, i)
    finally:
        if rogue:
            rogue.stop()
        for p in procs.values():
            p.stop()
    if findings.items:
        findings.items.append("undo not attempted: the attack was not refused")
        findings.raise_if_any()

    # undo: the host removes its frame on every node; the service serves again and the
    # rogue is refused by policy
    for i in range(3):
        chunk, _, before = placed[i]
        path = os.path.join(sb.ledger_dir(i), chunk)
        os.truncate(path, before)
        if before == 0:
            os.remove(path)
    procs = {i: start_node(env, sb, i) for i in range(3)}
    rogue = None
    try:
        for i in range(3):
            h.wait_until(lambda: opened(sb, i) or not procs[i].alive(), 60,
                         f"node {i} to reopen")
            check(procs[i].alive(), f"node {i} does not start once the forgery is gone:\n"
                                    f"{h.tail(sb.log_path(i), 10)}")
        leader = sb.wait_leader()
        c = node_client(sb, leader, 10)
        r = c.post_json("/app/log/private", {"id": 5000, "msg": "served again"})
        c.close()
        check(r.status == 200, f"no writes after the undo: {r!r}")
        for i in range(3):
            check_genuine_served(sb, i, records)
        before = h.file_size(sb.log_path(leader))
        rogue = RogueNode(env, sb, os.path.join(root, "node-again"), app, 1,
                          sb.nodes[leader]["node_address"]).start()
        h.wait_until(lambda: h.log_lines(sb.log_path(leader), CODE_ID_NOT_TRUSTED,
                                         start=before), 30,
                     "the leader to refuse the rogue code id")
        check_rogue_kept_out(sb, rogue, range(3), watch=3)
        check(len(trusted_nodes(sb, leader)) == 3, "the service no longer lists 3 nodes")
    finally:
        if rogue:
            rogue.stop()
        for p in procs.values():
            p.stop()


if __name__ == "__main__":
    sys.exit(h.main([test_attack_forged_entry_appended_to_unsigned_tail, test_attack_forged_internal_entry_trusting_code_id,
                     test_attack_private_section_stripped, test_attack_unsigned_tail_entry_replaced]))
