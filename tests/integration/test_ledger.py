#!/usr/bin/env python3
"""The ledger files of a real 3-node service: every node's ledger holds the same
entries byte for byte, `consort ledger verify` passes on each, public records are
in clear and private ones are not; a tampered, truncated or reordered ledger file
is detected, offline by `consort ledger verify` and by the node when it restarts."""

import os
import shutil
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

# Small chunks and frequent signatures, so a short run spans several chunk files.
OPTIONS = ["--node-option", "ledger_chunk_bytes=4096", "--node-option", "sig_interval_tx=10"]
PUBLIC_MSG = "public record number {} in clear"
PRIVATE_MSG = "private record number {} never in clear"


def fill(sb, count):
    c = sb.client(sb.wait_leader())
    for k in range(count):
        kind, msg = ("public", PUBLIC_MSG) if k % 2 else ("private", PRIVATE_MSG)
        r = c.post_json(f"/app/log/{kind}", {"id": k, "msg": msg.format(k)})
        check(r.status == 200, f"write {k}: {r!r}")
    return count


def frames(path):
    """(offset, length) of every frame in a chunk file."""
    with open(path, "rb") as f:
        data = f.read()
    out, off = [], 0
    while off + 4 <= len(data):
        (n,) = struct.unpack_from(">I", data, off)
        out.append((off, n))
        off += 4 + n
    return out


def expect_rejected(env, ledger, cert, what):
    code, out = h.ledger_verify(env, ledger, cert)
    check(code == 1, f"{what}: consort ledger verify exited {code}, expected 1:\n{out}")
    check("first bad entry" in out, f"{what}: no 'first bad entry' in:\n{out}")
    h.log(f"{what}: rejected ({out.strip().splitlines()[0][:150]})")


def tamper_offline(env, sb, node):
    """Each attack on a copy of one node's ledger; the original stays intact."""
    src = sb.ledger_dir(node)
    chunks = h.ledger_chunks(src)
    committed = [name for _, name in chunks if name.endswith(".committed")]
    check(len(committed) >= 2, f"expected at least 2 committed chunks, got {chunks}")
    first, second = committed[0], committed[1]

    def fresh():
        dst = env.path("tampered")
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
        return dst

    # a flipped bit in an entry header, a write set and a signature
    fr = frames(os.path.join(src, second))
    for what, off in (("entry header", fr[0][0] + 4 + 20), ("write set", fr[1][0] + 4 + 100),
                      ("signature entry", fr[-1][0] + fr[-1][1] - 20)):
        d = fresh()
        p = os.path.join(d, second)
        with open(p, "r+b") as f:
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ 0x04]))
        expect_rejected(env, d, sb.service_cert, f"a bit flipped in the {what} of {second}")

    # a public record rewritten in place (same length): the signed root no longer matches
    d = fresh()
    rewrote = False
    for _, name in chunks:
        p = os.path.join(d, name)
        with open(p, "rb") as f:
            data = f.read()
        needle = PUBLIC_MSG.format(1).encode()
        if needle in data:
            with open(p, "wb") as f:
                f.write(data.replace(needle, needle.upper(), 1))
            rewrote = True
            break
    check(rewrote, "the public record is not in clear in the ledger")
    expect_rejected(env, d, sb.service_cert, "a public record rewritten")

    # a committed chunk truncated (by a few bytes, and by its whole last frame)
    d = fresh()
    p = os.path.join(d, first)
    os.truncate(p, os.path.getsize(p) - 7)
    expect_rejected(env, d, sb.service_cert, f"{first} truncated by 7 bytes")
    d = fresh()
    p = os.path.join(d, first)
    fr = frames(p)
    os.truncate(p, fr[-1][0])
    expect_rejected(env, d, sb.service_cert, f"{first} without its last frame")

    # reordered: two frames swapped inside a chunk, and two chunk files swapped
    d = fresh()
    p = os.path.join(d, second)
    with open(p, "rb") as f:
        data = f.read()
    fr = frames(p)
    (o1, n1), (o2, n2) = fr[0], fr[1]
    a, b = data[o1:o1 + 4 + n1], data[o2:o2 + 4 + n2]
    with open(p, "wb") as f:
        f.write(b + a + data[o2 + 4 + n2:])
    expect_rejected(env, d, sb.service_cert, f"two entries of {second} swapped")
    d = fresh()
    pa, pb = os.path.join(d, first), os.path.join(d, second)
    os.rename(pa, pa + ".tmp")
    os.rename(pb, pa)
    os.rename(pa + ".tmp", pb)
    expect_rejected(env, d, sb.service_cert, f"{first} and {second} swapped")

    # a chunk removed from the middle
    d = fresh()
    os.remove(os.path.join(d, second))
    expect_rejected(env, d, sb.service_cert, f"{second} removed")


def test_ledgers(env):
    sb = env.sandbox(3, extra_args=OPTIONS)
    try:
        fill(sb, 120)
        sb.wait_quiescent()
    finally:
        sb.stop()
    entries = h.check_ledgers_agree(sb, range(3))
    h.log(f"the 3 ledgers agree: {entries} entries each")
    for i in range(3):
        code, out = h.ledger_verify(env, sb.ledger_dir(i), sb.service_cert)
        check(code == 0, f"node {i}: consort ledger verify exited {code}:\n{out}")
    blob = b"".join(h.ledger_entries(sb.ledger_dir(0)))
    check(PUBLIC_MSG.format(1).encode() in blob, "a public record is not in clear in the ledger")
    check(PRIVATE_MSG.format(0).encode() not in blob,
          "a private record is in clear in the ledger")
    tamper_offline(env, sb, 0)

    # The node itself refuses a tampered ledger when it restarts, and serves nothing from it.
    chunks = [name for _, name in h.ledger_chunks(sb.ledger_dir(2)) if name.endswith(".committed")]
    p = os.path.join(sb.ledger_dir(2), chunks[0])
    fr = frames(p)
    with open(p, "r+b") as f:
        off = fr[1][0] + 4 + 60
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x80]))
    proc = h.Process([env.consortd, "--config", sb.nodes[2]["config"]], sb.log_path(2))
    try:
        h.wait_until(lambda: not proc.alive(), 30, "node 2 to refuse its tampered ledger")
    finally:
        code = proc.stop()
    check(code == 1, f"node 2 with a tampered ledger exited {code}, expected 1")
    log_tail = h.tail(sb.log_path(2), 30).lower()
    check("corrupt" in log_tail or "does not match" in log_tail or "tag" in log_tail,
          f"node 2 did not say why it refused its ledger:\n{log_tail}")


if __name__ == "__main__":
    sys.exit(h.main([test_ledgers]))
