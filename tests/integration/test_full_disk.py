#!/usr/bin/env python3
"""A full disk: the node's data_dir lives on a small tmpfs that the test fills up.
The node must refuse writes with a clear error (not crash, not corrupt), keep
serving what is committed, lose no acknowledged write, accept writes again once
space is freed, and its ledger must still verify. Needs root (to mount a tmpfs);
skipped only if the mount is impossible here."""

import contextlib
import http.client
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

TMPFS_MB = 96
LEFT_FREE = 24 << 20  # what the filler file leaves for the node: room for some writes
RECORD = "x" * 16384


def mount_tmpfs(path, mb):
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        raise h.Skip("mounting a tmpfs needs root")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mb}m,mode=0700", "tmpfs", path],
                       capture_output=True)
    if p.returncode != 0:
        raise h.Skip(f"cannot mount a tmpfs here: {p.stderr.decode().strip()}")


def umount(path):
    if subprocess.run(["umount", path], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", path], capture_output=True)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill_disk(path, leave, name="filler"):
    """A filler file that leaves about `leave` bytes free on the file system of `path`
    (0: fills it completely, until ENOSPC). The free space is read again before each
    chunk: a node on that file system may take space meanwhile (a leader just elected
    writes entries and raft preallocates segments), and a size reckoned once at the
    start then ran into ENOSPC (seen once in a loop of the hand-over test)."""
    filler = os.path.join(path, name)
    chunk = b"\0" * (1 << 16)
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                n = min(free_bytes(path) - leave, len(chunk)) if leave else len(chunk)
                if n <= 0:
                    break
                f.write(chunk[:n])
        except OSError as e:
            if leave or e.errno != 28:  # ENOSPC is the point when filling completely
                raise
    return filler


def read_all(client, acked):
    for k, txid in acked:
        r = client.get(f"/app/log/private?id={k}")
        check(r.status == 200 and r.json()["msg"] == f"{k}:{RECORD}",
              f"acknowledged record {k} ({txid}) lost: {r!r}")


@contextlib.contextmanager
def node_on_tmpfs(env, sb, mb):
    """Stops the 1-node sandbox, moves its data_dir onto a fresh tmpfs of `mb` MB
    (mounted on the data_dir itself: the node's log stays on the real disk), and
    runs the node again from there. Yields the data_dir; unmounts at the end."""
    sb.stop()
    data = sb.data_dir(0)
    saved = data + ".saved"
    os.rename(data, saved)
    mounted = False
    try:
        mount_tmpfs(data, mb)
        mounted = True
        subprocess.run(["cp", "-a", saved + "/.", data], check=True)
        sb.restarted[0] = h.Process([env.consortd, "--config", sb.nodes[0]["config"]],
                                    sb.log_path(0))
        h.wait_until(lambda: sb.is_open(0), 60, "the node to reopen on the tmpfs")
        yield data
    finally:
        if 0 in sb.restarted:
            sb.restarted[0].stop()
        if mounted:
            umount(data)
        shutil.rmtree(data, ignore_errors=True)
        os.rename(saved, data)


@contextlib.contextmanager
def nodes_on_tmpfs(env, sb, mb):
    """Like node_on_tmpfs, for every node of the sandbox: each data_dir on its own
    tmpfs of `mb` MB, every node run again from there. Yields the data_dirs."""
    sb.stop()
    disks, mounted = [], []
    try:
        for i in range(sb.count):
            data = sb.data_dir(i)
            os.rename(data, data + ".saved")
            disks.append(data)
            mount_tmpfs(data, mb)
            mounted.append(data)
            subprocess.run(["cp", "-a", data + ".saved/.", data], check=True)
        for i in range(sb.count):
            sb.restarted[i] = h.Process([env.consortd, "--config", sb.nodes[i]["config"]],
                                        sb.log_path(i))
        for i in range(sb.count):
            h.wait_until(lambda: sb.is_open(i), 60, f"node {i} to reopen on its tmpfs")
        yield disks
    finally:
        for i in list(sb.restarted):
            sb.restarted[i].stop()
        for data in disks:
            if data in mounted:
                umount(data)
            shutil.rmtree(data, ignore_errors=True)
            os.rename(data + ".saved", data)


def restart(env, sb):
    sb.restarted[0].stop()
    sb.restarted[0] = h.Process([env.consortd, "--config", sb.nodes[0]["config"]],
                                sb.log_path(0))
    h.wait_until(lambda: sb.is_open(0), 60, "the node to restart")


def test_full_disk(env):
    """The disk fills up gradually: the node refuses writes before it runs out."""
    sb = env.sandbox(1)
    acked = []
    c = sb.client(0)
    for k in range(10):
        r = c.post_json("/app/log/private", {"id": k, "msg": f"{k}:{RECORD}"})
        check(r.status == 200, f"write {k}: {r!r}")
        acked.append((k, r.txid))
    with node_on_tmpfs(env, sb, TMPFS_MB) as disk:
        node = sb.restarted[0]
        c = sb.client(0)
        read_all(c, acked)

        filler = fill_disk(disk, LEFT_FREE)
        h.log(f"filled {TMPFS_MB} MB tmpfs: {free_bytes(disk)} bytes left for the node")
        refused = None
        deadline = time.monotonic() + 90
        k = 100
        while time.monotonic() < deadline:
            k += 1
            try:
                r = c.post_json("/app/log/private", {"id": k, "msg": f"{k}:{RECORD}"})
            except OSError as e:
                raise h.TestFailure(f"the node stopped answering when its disk filled: {e!r}\n"
                                    f"{h.tail(sb.log_path(0), 30)}")
            if r.status == 200:
                acked.append((k, r.txid))
                continue
            refused = r
            break
        check(refused is not None, f"writes still accepted after 90 s with "
                                   f"{free_bytes(disk)} bytes free")
        h.log(f"after {len(acked)} acknowledged writes the node refused one: {refused!r}")
        check(refused.status in (503, 507), f"a full disk answered {refused!r}, "
                                            "expected 507 (or 503)")
        msg = refused.json()["error"]["message"].lower()
        check("space" in msg or "disk" in msg, f"the refusal does not say the disk is full: {msg}")
        check(node.alive(), "the node died when its disk filled")
        check("space" in h.tail(sb.log_path(0), 50).lower(),
              "the node log does not say that the disk is full")
        # refused again, and everything committed is still there
        r = c.post_json("/app/log/private", {"id": 99999, "msg": "again"})
        check(r.status != 200, f"a write accepted on a full disk: {r!r}")
        read_all(c, acked)

        # space comes back: writes are accepted again
        os.remove(filler)

        def accepted():
            r = c.post_json("/app/log/private", {"id": 88888, "msg": f"88888:{RECORD}"})
            if r.status == 200:
                acked.append((88888, r.txid))
                return True
            return False

        h.wait_until(accepted, 60, "writes to be accepted once space is free", interval=1.0)
        read_all(c, acked)
        c.close()
        node.stop()
        code, out = h.ledger_verify(env, os.path.join(disk, "ledger"), sb.service_cert)
        check(code == 0, f"the ledger does not verify after the full disk:\n{out}")
        restart(env, sb)  # and a restart loses nothing acknowledged
        read_all(sb.client(0), acked)


def test_disk_fills_under_load(env):
    """Another process fills the disk to the last byte while writes are in flight:
    whatever the node had acknowledged survives, and it recovers once space is freed."""
    sb = env.sandbox(1)
    with node_on_tmpfs(env, sb, 64) as disk:
        load = h.WriteLoad(sb, threads=4, pace=0, msg_size=8192).start()
        try:
            load.wait_progress(20, 60, "before the disk fills")
            filler = fill_disk(disk, 0)
            h.log(f"disk full ({free_bytes(disk)} bytes free) with {load.count()} writes acked")
            base = load.count()
            time.sleep(5)
        finally:
            load.stop()
        h.log(f"{load.count() - base} writes acknowledged after the disk filled, "
              f"{load.failures} failed; node {'alive' if sb.restarted[0].alive() else 'exited'}")
        text = h.tail(sb.log_path(0), 80).lower()
        check("space" in text, f"the node log does not say that the disk is full:\n{text}")
        os.remove(filler)
        # Whatever state it is in (refusing, or stopped applying), a restart recovers it.
        restart(env, sb)
        c = sb.client(0)
        h.check_records(sb, load.acked, [0], msg=load.msg)
        r = c.post_json("/app/log/private", {"id": 1, "msg": "space again"})
        check(r.status == 200, f"no writes after space was freed and a restart: {r!r}")
        c.close()
        sb.restarted[0].stop()
        code, out = h.ledger_verify(env, os.path.join(disk, "ledger"), sb.service_cert)
        check(code == 0, f"the ledger does not verify after the disk filled under load:\n{out}")


def write_until_accepted(sb, i, k, timeout, what):
    """Writes record k through node i until one is acknowledged (every answer but a
    200 is retried after 0.1 s); returns (seconds it took, txid)."""
    c = sb.client(i)
    c.timeout = 5
    t0 = time.monotonic()
    last = None
    try:
        while time.monotonic() - t0 < timeout:
            try:
                r = c.post_json("/app/log/private", {"id": k, "msg": f"{k}:probe"})
            except (OSError, http.client.HTTPException) as e:
                r = e
            if isinstance(r, h.Response) and r.status == 200:
                return time.monotonic() - t0, r.txid
            last = r
            time.sleep(0.1)
    finally:
        c.close()
    raise h.TestFailure(f"no write accepted through node {i} for {timeout} s {what} "
                        f"(last answer: {last!r})")


def test_leader_disk_full_hands_over(env):
    """A leader short of disk hands leadership to a healthy node at once, and again
    each time it is elected while still short, so the healthy majority keeps taking
    writes (issue 11, failure 3: a leader elected again with a full disk refused every
    write on every node with NO_SPACE, and never stepped down, until space was freed).
    Its nodes log at info: this test once timed out waiting for a healthy leader, and
    the warn-level logs kept then said nothing about the hand-over (docs/reliability.md)."""
    saved = os.environ.get("CONSORT_LOG")
    os.environ["CONSORT_LOG"] = "info"
    try:
        sb = env.sandbox(3)
    finally:
        if saved is None:
            del os.environ["CONSORT_LOG"]
        else:
            os.environ["CONSORT_LOG"] = saved
    with nodes_on_tmpfs(env, sb, TMPFS_MB) as disks:
        full = sb.wait_leader()
        healthy = [i for i in range(3) if i != full]
        log = sb.log_path(full)
        filler = fill_disk(disks[full], 4 << 20)  # below min_free_mib (16 MiB)
        h.log(f"node {full} (the leader) has {free_bytes(disks[full])} bytes free")
        acked = []
        took, txid = write_until_accepted(sb, healthy[0], 1, 10, "after the leader's disk filled")
        acked.append((1, txid))
        h.log(f"a write through node {healthy[0]} accepted {took:.2f} s after the leader's "
              f"disk filled")
        check(took < 5, f"writes refused for {took:.1f} s after the leader's disk filled")
        sb.wait_leader(among=healthy)

        # Elect the short node again: freeze whichever healthy node leads until the
        # short one wins an election. Each time it must hand over again at once.
        won = False
        for rnd in range(20):
            cur = sb.wait_leader(among=healthy)
            other = next(i for i in healthy if i != cur)
            before = len(h.log_lines(log, "leader in term"))
            sb.sigstop(cur)
            try:
                h.wait_until(lambda: len(h.log_lines(log, "leader in term")) > before
                             or sb.leader_index(among=[other]) == other, 30,
                             f"a new leader with node {cur} frozen")
                won = len(h.log_lines(log, "leader in term")) > before
                if won:
                    took, txid = write_until_accepted(sb, other, 2 + rnd, 10,
                                                      f"after node {full} led again")
                    acked.append((2 + rnd, txid))
                    h.log(f"round {rnd}: node {full} led again while short of space; a "
                          f"write through node {other} accepted {took:.2f} s later")
                    check(took < 5, f"writes refused for {took:.1f} s while node {full} "
                                    f"led again with a full disk")
            finally:
                sb.sigcont(cur)
            if won:
                break
        check(won, f"node {full} never won an election again in 20 rounds")
        check(len(h.log_lines(log, "handing leadership over")) >= 2,
              f"node {full}'s log does not say it handed leadership over twice:\n"
              f"{h.tail(log, 40)}")
        # it may have just won another election and be handing over: bounded wait
        h.wait_until(lambda: sb.leader_index() in healthy, 10,
                     f"a healthy node to lead (node {full} is short of disk)")
        os.remove(filler)
        sb.wait_quiescent()
        h.check_records(sb, acked, range(3), msg=lambda k: f"{k}:probe")


if __name__ == "__main__":
    sys.exit(h.main([test_full_disk, test_disk_fills_under_load,
                     test_leader_disk_full_hands_over]))
