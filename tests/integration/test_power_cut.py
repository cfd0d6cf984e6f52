#!/usr/bin/env python3
"""Power cuts under write load, 3 nodes. kill -9 keeps the page cache, so a crash test
that only kills processes cannot show a missing fsync. Here every node runs with
tests/util/powercut.c preloaded (libpowercut.so): it keeps an undo record of every
write to the node's data_dir that is not yet durable (no fsync/fdatasync since, not
written through O_DSYNC). A power cut is kill -9 followed by `powercut rollback`, which
rolls each of the victim's files back to its last durable content, as a machine that
lost power would find them; then the node restarts.

Rounds: a follower, the leader, then all three nodes at once (the only case where the
survivors cannot hand an acknowledged write back to a node that forgot it). Afterwards
every acknowledged write is read back on every node, the ledgers agree byte for byte,
and each passes `consort ledger verify`. What the layer covers (and does not) is in
the header of tests/util/powercut.c and in docs/reliability.md."""

import os
import subprocess
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402


def tools_dir(env):
    return os.path.join(os.environ.get("CONSORT_BINARY_DIR",
                                       os.path.join(os.path.dirname(env.consort), "..")),
                        "tests")


def preload_env(env, workspace, nodes, journal):
    """The environment every node (and so the sandbox, which measures the code id with
    it) runs with: the shim covers exactly the nodes' data_dirs."""
    shim = os.path.join(tools_dir(env), "libpowercut.so")
    if not os.access(shim, os.R_OK):
        raise h.TestFailure(f"test helper {shim} is not built (target powercut_shim)")
    dirs = [os.path.join(workspace, f"node{i}", "data") for i in range(nodes)]
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {
        "LD_PRELOAD": shim,
        "POWERCUT_DIR": ":".join(dirs),
        "POWERCUT_JOURNAL": journal,
        "UV_USE_IO_URING": "0",  # libuv >= 1.45 would write through io_uring, not covered
        # an ASan build wants its runtime first; the shim is plain C and sanitizer-free
        "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0",
    }


def check_preloaded(sb, i):
    with open(f"/proc/{sb.pid(i)}/maps") as f:
        maps = f.read()
    check("libpowercut.so" in maps, f"node {i} (pid {sb.pid(i)}) runs without the power-cut shim")


def power_cut(env, sb, journal, victims):
    """kill -9 of each victim, then its files rolled back to what was durable.
    Returns the number of writes rolled back."""
    for v in victims:
        sb.kill9(v)
    tool = os.path.join(tools_dir(env), "powercut")
    clean = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    p = subprocess.run([tool, "rollback", journal, *[sb.data_dir(v) for v in victims]],
                       capture_output=True, timeout=120, env=clean)
    out = p.stdout.decode().strip()
    check(p.returncode == 0, f"powercut rollback exited {p.returncode}: {p.stderr.decode()}")
    h.log(f"power cut of nodes {victims}:\n{out}")
    words = out.splitlines()[-1].split() if out else []
    check(len(words) > 3 and words[:3] == ["powercut:", "rolled", "back"],
          f"unexpected powercut output: {out!r}")
    return int(words[3])


def restart_all(sb, victims):
    for v in victims:
        sb.restart(v)
    for v in victims:
        h.wait_until(lambda: sb.is_open(v), 90, f"node {v} to be back after the power cut")
        check_preloaded(sb, v)

# Writes the layer must undo or keep, by the calls consortd and libraft use; run in a
# child with the shim preloaded. io_submit goes through syscall(2) as libraft's does.
SELF_TEST_CHILD = textwrap.dedent("""
    import ctypes, os, struct, sys
    os.chdir(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    f = os.open("data/a", os.O_WRONLY | os.O_APPEND); os.write(f, b"-lost"); os.close(f)
    f = os.open("data/b", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(f, b"synced"); os.fsync(f); os.write(f, b" lost"); os.close(f)
    f = os.open("data/c", os.O_WRONLY | os.O_CREAT, 0o600); os.write(f, b"lost"); os.close(f)
    f = os.open("data/d", os.O_WRONLY | os.O_CREAT | os.O_DSYNC, 0o600)
    os.write(f, b"dsync"); os.close(f)
    f = os.open("data/e", os.O_WRONLY | os.O_CREAT, 0o600)
    os.pwrite(f, b"0123456789", 0); os.fdatasync(f); os.ftruncate(f, 3); os.pwrite(f, b"XY", 1)
    os.close(f)
    f = os.open("data/g", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600); os.close(f)
    # fsync through another descriptor of the file: a dup (fcntl F_DUPFD_CLOEXEC, as the
    # ledger's off-loop sync does) and a read-only one
    f = os.open("data/j", os.O_WRONLY | os.O_CREAT, 0o600); os.write(f, b"dup synced")
    d = os.dup(f); os.close(f); os.fsync(d); os.close(d)
    f = os.open("data/k", os.O_WRONLY | os.O_CREAT, 0o600); os.write(f, b"reader synced")
    r = os.open("data/k", os.O_RDONLY); os.fdatasync(r); os.close(r); os.close(f)
    # kernel AIO: IOCB_CMD_PWRITE (1) by syscall(io_setup 206, io_submit 209, io_getevents 208)
    def aio_write(path, data, off, flags=0):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o600)
        ctx = ctypes.c_ulong(0)
        assert libc.syscall(206, 8, ctypes.byref(ctx)) == 0, ctypes.get_errno()
        buf = ctypes.create_string_buffer(data, len(data))
        iocb = struct.pack("=QIIHhIQQqqQI", 0, 0, 0, 1, 0, fd, ctypes.addressof(buf), len(data),
                           off, 0, 0, 0)
        cb = ctypes.create_string_buffer(iocb, len(iocb))
        ptrs = (ctypes.c_void_p * 1)(ctypes.addressof(cb))
        assert libc.syscall(209, ctx, 1, ptrs) == 1, ctypes.get_errno()
        ev = ctypes.create_string_buffer(32)
        assert libc.syscall(208, ctx, 1, 1, ev, None) == 1
        libc.syscall(207, ctx)
        os.close(fd)
    aio_write("data/h", b"aio, lost", 0)
    aio_write("data/i", b"aio, O_DSYNC", 0, os.O_DSYNC)
""")

# name: (content before, content after the power cut)
SELF_TEST_FILES = {
    "a": (b"durable", b"durable"),  # appended, never synced
    "b": (None, b"synced"),  # created, synced, appended
    "c": (None, b""),  # created, never synced: comes back empty
    "d": (None, b"dsync"),  # written through O_DSYNC
    "e": (None, b"0123456789"),  # synced, then truncated and overwritten
    "f": (b"untouched", b"untouched"),
    "g": (b"truncated by O_TRUNC", b"truncated by O_TRUNC"),
    "h": (None, b""),  # kernel AIO without O_DSYNC
    "i": (None, b"aio, O_DSYNC"),  # kernel AIO through O_DSYNC
    "j": (None, b"dup synced"),  # fsync through a dup'd descriptor
    "k": (None, b"reader synced"),  # fdatasync through a read-only descriptor
}


def test_power_cut_layer(env):
    """The layer itself: each kind of write above is undone or kept as documented."""
    root = env.path("layer")
    data, journal = os.path.join(root, "data"), os.path.join(root, "journal")
    os.makedirs(data)
    for name, (before, _) in SELF_TEST_FILES.items():
        if before is not None:
            with open(os.path.join(data, name), "wb") as f:
                f.write(before)
                os.fsync(f.fileno())
    child_env = dict(os.environ)
    child_env.update(preload_env(env, root, 0, journal))
    child_env["POWERCUT_DIR"] = data
    p = subprocess.run([sys.executable, "-c", SELF_TEST_CHILD, root], env=child_env,
                       capture_output=True, timeout=60)
    check(p.returncode == 0, f"the writer failed: {p.stderr.decode()}")
    check(os.listdir(journal), "the shim kept no undo record")
    tool = os.path.join(tools_dir(env), "powercut")
    p = subprocess.run([tool, "rollback", journal, data], capture_output=True, timeout=60)
    check(p.returncode == 0, f"powercut rollback: {p.stderr.decode()}")
    h.log(p.stdout.decode().strip())
    for name, (_, after) in SELF_TEST_FILES.items():
        with open(os.path.join(data, name), "rb") as f:
            got = f.read()
        check(got == after, f"after the power cut {name} holds {got!r}, expected {after!r}")
    check(os.listdir(journal) == [], f"undo records left: {os.listdir(journal)}")


def test_power_cut_three_nodes(env):
    workspace = env.workspace("powercut")
    journal = env.path("powercut-journal")
    saved = dict(os.environ)
    # the sandbox's nodes and those the test restarts run alike (the code id covers
    # every mapped library, the shim included)
    os.environ.update(preload_env(env, workspace, 3, journal))
    sb = h.Sandbox(env, workspace, 3)
    rolled = 0
    try:
        for i in range(3):
            check_preloaded(sb, i)
        load = h.WriteLoad(sb).start()
        try:
            load.wait_progress(30, 60, "before any power cut")
            for name, pick in (("a follower", h.a_follower), ("the leader", h.leader_only)):
                victims = pick(sb)
                survivors = [i for i in range(sb.count) if i not in victims]
                rolled += power_cut(env, sb, journal, victims)
                leader = sb.wait_leader(timeout=30, among=survivors)
                load.wait_progress(20, 60, f"after cutting the power of {name}")
                h.log(f"writes continue with node {leader} leading ({load.count()} acked)")
                restart_all(sb, victims)
                load.wait_progress(20, 60, f"with {name} back")
            # all three at once: what each disk kept is all there is
            acked_before = load.count()
            rolled += power_cut(env, sb, journal, list(range(3)))
            restart_all(sb, list(range(3)))
            sb.wait_leader(timeout=60)
            load.wait_progress(20, 90, "after cutting the power of every node")
            h.log(f"{acked_before} writes acknowledged before the whole service lost power")
        finally:
            load.stop()
        check(rolled > 0, "no power cut rolled back any write: the shim saw nothing "
                          "(the test could not have caught a missing fsync)")
        sb.wait_quiescent()
        h.log(f"{load.count()} writes acknowledged ({load.failures} failed or unanswered), "
              f"{rolled} non-durable writes lost to power cuts; checking each on every node")
        h.check_records(sb, load.acked, range(sb.count), msg=load.msg)
    finally:
        sb.stop()
        os.environ.clear()
        os.environ.update(saved)
    entries = h.check_ledgers_agree(sb, range(3))
    h.log(f"the 3 ledgers agree: {entries} entries each")
    for i in range(3):
        code, out = h.ledger_verify(env, sb.ledger_dir(i), sb.service_cert)
        check(code == 0, f"node {i}: consort ledger verify exited {code}:\n{out}")


if __name__ == "__main__":
    sys.exit(h.main([test_power_cut_layer, test_power_cut_three_nodes]))
