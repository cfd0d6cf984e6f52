#!/usr/bin/env python3
"""Code ids v2 between real processes (docs/attestation.md "What a code id covers,
per platform"): a node's code id names the module bytes it loaded and every
executable object it maps, and the host cannot change either unnoticed.

- `consortd --code-id` predicts exactly what every running node reports, in
  /node/quotes and in its log (also with --config, and on the tpm platform when
  swtpm is installed).
- The host rewrites the application module file in place after the nodes started:
  the running nodes are unaffected (they run the sealed bytes they hashed, and still
  serve and replicate). The node the host restarts loads the new bytes: its code id
  changes, and its sealed store refuses it (not the code that sealed it, nor a
  successor governance approved: POLICY) and it stays out;
  brought back as a fresh joiner it is refused by the service ("code id ... is not
  trusted"). With the genuine module back, the same node unseals and rejoins.
- The host puts another build of a library consortd links (libjansson with one byte
  appended) first on LD_LIBRARY_PATH: the code id changes, and a node started that way
  is refused by the service, which never lists it."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402


def code_id_of(env, app=None, config=None, extra_env=None, platform=None, tcti=None):
    """`consortd --code-id ...`: the hex code id it prints (checked), and its stderr."""
    argv = [env.consortd, "--code-id"]
    if config:
        argv += ["--config", config]
    if app:
        argv += ["--app", app]
    if platform:
        argv += ["--platform", platform]
    if tcti:
        argv += ["--tcti", tcti]
    e = dict(os.environ)
    e.update(extra_env or {})
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, env=e)
    out = p.stdout.decode().strip()
    check(p.returncode == 0 and len(out) == 64 and all(c in "0123456789abcdef" for c in out),
          f"{' '.join(argv)}: exit {p.returncode}, stdout {out!r}, stderr "
          f"{p.stderr.decode(errors='replace')[-800:]}")
    return out, p.stderr.decode(errors="replace")


def independent_code_id(pid):
    """The code id of a running node recomputed from its /proc/<pid>/maps, every object
    read through /proc/<pid>/map_files (docs/attestation.md, the Python given there);
    None if map_files cannot be opened here (it needs CAP_SYS_ADMIN)."""
    st = os.stat(f"/proc/{pid}/exe")
    exe_obj = (f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}", str(st.st_ino))
    seen, exe, module, libs = set(), None, bytes(32), set()
    with open(f"/proc/{pid}/maps") as f:
        lines = f.readlines()
    for line in lines:
        rng, perms, _, dev, ino, *path = line.split(maxsplit=5)
        if "x" not in perms or ino == "0" or (dev, ino) in seen:
            continue
        seen.add((dev, ino))
        try:
            with open(f"/proc/{pid}/map_files/{rng}", "rb") as obj:
                d = hashlib.sha256(obj.read()).digest()
        except PermissionError:
            return None
        if (dev, ino) == exe_obj:
            exe = d
        elif path and path[0].startswith("/memfd:consort-app"):
            module = d
        else:
            libs.add(d)
    check(exe is not None, f"pid {pid}: the executable is not mapped executable")
    return hashlib.sha256(b"consort code id v2" + exe + module
                          + hashlib.sha256(b"".join(sorted(libs))).digest()).hexdigest()


def quoted_code_ids(sb, i=0):
    """{node id: code id} from /node/quotes on node i."""
    doc = sb.client(i).get_json("/node/quotes")
    return {q["node_id"]: q["code_id"] for q in doc["quotes"]}


def refusals(log_path, start=0):
    """The 'attested channel ... refused: reason' lines of a node log, from byte `start`."""
    return h.log_lines(log_path, "attested channel", "refused", start=start)


def trusted_nodes(sb):
    doc = sb.client(0).get_json("/node/network")
    return [n["node_id"] for n in doc["nodes"] if n["status"] == "Trusted"]


def restart_logged(sb, i):
    """sb.restart(i), logging at info level whatever CONSORT_LOG says (ctest says warn):
    the node's "code id ..." line is an info line."""
    check(not sb.alive(i), f"node {i} is still running")
    p = h.Process([sb.env.consortd, "--config", sb.nodes[i]["config"]], sb.log_path(i),
                  env=dict(os.environ, CONSORT_LOG="info"))
    sb.restarted[i] = p
    h.log(f"restarted node {i} (pid {p.pid})")
    return p


def write(sb, i, rid, msg):
    r = sb.client(i).post_json("/app/log/private", {"id": rid, "msg": msg})
    check(r.status == 200, f"write {rid} through node {i}: {r!r}")
    return r.txid


def start_joiner(env, sb, name, app, extra_env=None):
    """A consortd joining node 0 from node 1's host (its platform directory), with a
    fresh data directory: what a host does to bring a node back. Returns
    (process, log path, node id once known or None)."""
    root = env.path(name)
    os.makedirs(root)
    with open(sb.nodes[1]["config"]) as f:
        node1 = json.load(f)
    cfg = {
        "platform": "virtual",
        "platform_dir": node1["platform_dir"],
        "rpc_address": h.ANY_PORT,
        "node_address": h.ANY_PORT,
        "data_dir": os.path.join(root, "data"),
        "app": app,
        "join": {"target": sb.nodes[0]["node_address"], "service_cert": sb.service_cert},
    }
    cfg_path = os.path.join(root, "node.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    e = dict(os.environ, CONSORT_LOG="info")  # its "code id ..." line is an info line
    e.update(extra_env or {})
    log_path = os.path.join(root, "consortd.log")
    return (h.Consortd(env.consortd, cfg_path, log_path, env=e, may_exit=True), log_path,
            cfg_path)


def check_joiner_refused(env, sb, proc, log_path, code_id, before):
    """Node 0 refuses the joiner for its code id, and it never becomes a member."""
    want = f"code id {code_id} is not trusted"
    try:
        h.wait_until(lambda: any(want in l for l in refusals(sb.log_path(0), before))
                     or not proc.alive(), 40, "node 0 to refuse the joiner")
        time.sleep(3)  # time to try again: it must never get in
        new = refusals(sb.log_path(0), before)
        check(any(want in l for l in new),
              f"node 0 did not refuse code id {code_id}; its refusals: {new}\n"
              f"joiner log:\n{h.tail(log_path, 20)}")
        h.log(f"joiner refused: {[l for l in new if want in l][0].strip()[:240]}")
        check(h.log_lines(log_path, f"code id {code_id}"),
              f"the joiner's log does not state its code id {code_id}:\n{h.tail(log_path, 20)}")
        check(len(trusted_nodes(sb)) == sb.count, "the refused node is listed as trusted")
    finally:
        proc.stop()
    data = os.path.join(os.path.dirname(log_path), "data")
    check(not os.path.exists(os.path.join(data, "node_cert.pem")),
          "the refused joiner received a node certificate")


# ---------------------------------------------------------------- tests

def test_consortd_code_id_is_what_nodes_report(env):
    want, _ = code_id_of(env, app=env.app)
    none, _ = code_id_of(env)
    check(want != none, "the module does not change the code id")
    with env.sandbox(2) as sb:
        ids = quoted_code_ids(sb)
        check(len(ids) == 2 and set(ids.values()) == {want},
              f"/node/quotes: {ids}, expected every node at {want}")
        for i in range(2):
            cfg_id, _ = code_id_of(env, config=sb.nodes[i]["config"])
            check(cfg_id == want, f"consortd --code-id --config node{i}: {cfg_id} != {want}")
            check(not h.log_lines(sb.log_path(i), "refusing to attest"),
                  f"node {i} refused to attest")
            # the formula, recomputed from outside the process (while it runs)
            outside = independent_code_id(sb.pid(i))
            if outside is None:
                h.skip_part("no access to /proc/<pid>/map_files here (needs CAP_SYS_ADMIN): "
                            "the independent recomputation of the code id was not run")
            else:
                check(outside == want, f"node {i}: recomputed from its maps {outside} != {want}")
        h.log(f"consortd --code-id = /node/quotes = recomputed from /proc = {want}")


def test_attack_module_swapped(env):
    module_dir = env.path("module")
    os.makedirs(module_dir)
    module = os.path.join(module_dir, "logging.so")
    shutil.copyfile(env.app, module)
    with open(module, "rb") as f:
        genuine_bytes = f.read()
    genuine, _ = code_id_of(env, app=module)
    with env.sandbox(3, extra_args=("--app", module)) as sb:
        check(set(quoted_code_ids(sb).values()) == {genuine}, "nodes report another code id")
        t1 = write(sb, 0, 1, "before the swap")

        # The host rewrites the module file in place (same inode), with another build.
        ino = os.stat(module).st_ino
        with open(module, "wb") as f:
            f.write(genuine_bytes + b"\0consort test: a swapped module\0")
        check(os.stat(module).st_ino == ino, "the module was not rewritten in place")
        swapped, _ = code_id_of(env, app=module)
        check(swapped != genuine, "the swapped module has the genuine code id")
        h.log(f"module rewritten in place: code id {genuine[:16]}... -> {swapped[:16]}...")

        # The running nodes run the sealed bytes they hashed: unaffected.
        t2 = write(sb, 0, 2, "after the swap")
        sb.wait_caught_up([0, 1, 2])
        h.check_records(sb, [(1, t1), (2, t2)], range(3))
        check(set(quoted_code_ids(sb).values()) == {genuine}, "a running node's code id changed")
        for i in range(3):
            check(not h.log_lines(sb.log_path(i), "refusing to attest"),
                  f"node {i} refused to attest after the file changed")

        # The host restarts node 1: it loads the new bytes, so another code id, and its
        # sealed state (bound to the genuine code id) does not open for it.
        sb.kill9(1)
        start = h.file_size(sb.log_path(1))
        p = restart_logged(sb, 1)
        h.wait_until(lambda: not p.alive(), 60, "the restarted node 1 to give up")
        check(p.popen.returncode == 1, f"node 1 exited {p.popen.returncode}, expected 1")
        check(h.log_lines(sb.log_path(1), f"code id {swapped}", start=start),
              f"node 1 does not state its new code id {swapped}:\n{h.tail(sb.log_path(1))}")
        unseal = h.log_lines(sb.log_path(1), "POLICY", f"opener code {swapped[:16]}",
                             start=start)
        check(unseal, f"node 1 did not refuse its sealed state:\n{h.tail(sb.log_path(1))}")
        h.log(f"node 1 restarted on the swapped module: {unseal[0].strip()[:200]}")
        check(not sb.is_open(1), "node 1 serves on the swapped module")
        t3 = write(sb, 0, 3, "two of three nodes")

        # Brought back as a fresh node with the swapped module: the service refuses it,
        # and serves honest clients on its two nodes meanwhile.
        h.wait_until(lambda: all(sb.state(i).get("leader_rpc_address") for i in (0, 2)), 30,
                     "nodes 0 and 2 to know the leader")
        before = h.file_size(sb.log_path(0))
        with h.HonestClients(sb, [0, 2]) as honest:
            proc, log_path, _ = start_joiner(env, sb, "joiner-swapped", module)
            check_joiner_refused(env, sb, proc, log_path, swapped, before)
        honest.check()

        # The genuine module back: node 1 unseals, rejoins and reports the genuine id.
        with open(module, "wb") as f:
            f.write(genuine_bytes)
        start = h.file_size(sb.log_path(1))
        restart_logged(sb, 1)
        h.wait_until(lambda: sb.is_open(1), 90, "node 1 to be back with the genuine module")
        check(h.log_lines(sb.log_path(1), f"code id {genuine}", start=start),
              "node 1 does not state the genuine code id")
        sb.wait_caught_up([0, 1, 2])
        h.check_records(sb, [(1, t1), (2, t2), (3, t3)], range(3))


def linked_library(consortd, stem):
    """(needed name, path) of the library consortd links whose name starts with `stem`."""
    out = subprocess.run(["ldd", consortd], capture_output=True, timeout=30).stdout.decode()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].startswith(stem) and parts[1] == "=>":
            return parts[0], parts[2]
    raise h.Skip(f"consortd does not link {stem}* (ldd: {out[:300]!r})")


def test_attack_library_swapped(env):
    needed, path = linked_library(env.consortd, "libjansson.so")
    libdir = env.path("other-build")
    os.makedirs(libdir)
    copy = os.path.join(libdir, needed)
    shutil.copyfile(path, copy)
    with open(copy, "ab") as f:
        f.write(b"\0consort test: another build of this library\0")
    evil_env = {"LD_LIBRARY_PATH": libdir, "CONSORT_LOG": "debug"}
    genuine, _ = code_id_of(env, app=env.app)
    evil, err = code_id_of(env, app=env.app, extra_env=evil_env)
    check(evil != genuine, "a replaced library does not change the code id")
    check(f"code id covers library {copy}" in err,
          f"consortd --code-id did not measure {copy}:\n{err[-1500:]}")
    h.log(f"{needed} from {libdir}: code id {genuine[:16]}... -> {evil[:16]}...")
    with env.sandbox(2) as sb:
        before = h.file_size(sb.log_path(0))
        with h.HonestClients(sb, [0, 1]) as honest:
            proc, log_path, _ = start_joiner(env, sb, "joiner-library", env.app, evil_env)
            check_joiner_refused(env, sb, proc, log_path, evil, before)
        honest.check()
        check(h.log_lines(log_path, f"code id covers library {copy}"),
              "the joiner's log does not show it mapped the other build")
        write(sb, 0, 1, "still serving")


def swtpm_installed():
    e = os.environ.get("CONSORT_SWTPM")
    return os.access(e, os.X_OK) if e else shutil.which("swtpm") is not None


def test_tpm_code_id_is_what_the_node_reports(env):
    if not swtpm_installed():
        raise h.Skip("swtpm is not installed")
    with env.sandbox(1, extra_args=("--platform", "tpm")) as sb:
        with open(sb.nodes[0]["config"]) as f:
            tcti = json.load(f)["tpm_tcti"]
        want, _ = code_id_of(env, app=env.app, platform="tpm", tcti=tcti)
        by_cfg, _ = code_id_of(env, config=sb.nodes[0]["config"])
        virtual, _ = code_id_of(env, app=env.app)
        ids = quoted_code_ids(sb)
        check(set(ids.values()) == {want} and by_cfg == want,
              f"tpm: /node/quotes {ids}, consortd --code-id {want}, --config {by_cfg}")
        # the TCTI library tss2 loads is part of a tpm node's code
        check(want != virtual, "the tpm code id does not cover the TCTI library")
        check(not h.log_lines(sb.log_path(0), "refusing to attest"), "the tpm node refused to attest")
        h.log(f"tpm: consortd --code-id = /node/quotes = {want}")


if __name__ == "__main__":
    sys.exit(h.main([test_consortd_code_id_is_what_nodes_report, test_attack_module_swapped,
                     test_attack_library_swapped, test_tpm_code_id_is_what_the_node_reports]))
