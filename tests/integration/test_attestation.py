#!/usr/bin/env python3
"""Attestation between real processes: a node is trusted only with genuine evidence,
for its own TLS key on this very connection, of a trusted code id.

- A consortd whose application module differs (so another code id) tries to join:
  it is refused, never becomes part of the network, and learns nothing.
- A hostile host speaks the attested-channel protocol with forged hellos
  (tests/util/attack_hello.c, signing with the node's own virtual platform key as
  only a host can): evidence for another key, replayed from another connection,
  for an untrusted code id, or with a bit flipped in the report. The node refuses
  each and logs the precise reason; the same helper with honest evidence is accepted: the
  node's admission layer reads a frame from it and answers over the channel.
The service keeps serving writes throughout and still lists exactly its nodes."""

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402


def code_id(consortd, app):
    """The code id a node with this module reports (src/attest/code_id.h, v2: it covers
    the process's libraries too, so only consortd can measure it)."""
    p = subprocess.run([consortd, "--code-id", "--app", app], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60, check=True)
    return p.stdout.decode().strip()


def refusals(log_path):
    """The 'attested channel ... refused: reason' lines of a node log."""
    try:
        with open(log_path, errors="replace") as f:
            return [line for line in f if "attested channel" in line and "refused" in line]
    except OSError:
        return []


def trusted_count(sb):
    doc = sb.client(0).get_json("/node/network")
    return sum(1 for n in doc["nodes"] if n["status"] == "Trusted")


def check_still_serving(sb, rid):
    r = sb.client(0).post_json("/app/log/private", {"id": rid, "msg": "still serving"})
    check(r.status == 200, f"the service stopped accepting writes: {r!r}")
    check(trusted_count(sb) == sb.count, f"/node/network no longer lists {sb.count} nodes")


def intruder_with_other_code(env, sb):
    """consortd with a modified app module joins from node 1's host: refused by policy."""
    root = env.path("intruder")
    os.makedirs(root)
    app = os.path.join(root, "logging-modified.so")
    shutil.copyfile(env.app, app)
    with open(app, "ab") as f:
        f.write(b"\0consort test: one more byte, another code id\0")
    check(code_id(env.consortd, app) != code_id(env.consortd, env.app), "same code id")
    with open(sb.nodes[1]["config"]) as f:
        node1 = json.load(f)
    cfg = {
        "platform": "virtual",
        "platform_dir": node1["platform_dir"],  # the same host as node 1
        "rpc_address": f"127.0.0.1:{h.free_port()}",
        "node_address": f"127.0.0.1:{h.free_port()}",
        "data_dir": os.path.join(root, "data"),
        "app": app,
        "join": {"target": sb.nodes[0]["node_address"], "service_cert": sb.service_cert},
    }
    cfg_path = os.path.join(root, "node.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    log_path = os.path.join(root, "consortd.log")
    before = len(refusals(sb.log_path(0)))
    proc = h.Process([env.consortd, "--config", cfg_path], log_path)
    try:
        h.wait_until(lambda: len(refusals(sb.log_path(0))) > before or not proc.alive(), 30,
                     "node 0 to refuse the intruder")
        time.sleep(5)  # time to try again (or give up): it must never get in
        new = refusals(sb.log_path(0))[before:]
        check(any("is not trusted" in line for line in new),
              f"node 0 did not refuse the intruder's code id; its refusals: {new}\n"
              f"intruder log:\n{h.tail(log_path, 20)}")
        h.log(f"intruder refused: {new[0].strip()[:200]}")
        check(trusted_count(sb) == sb.count, "the intruder is listed as a trusted node")
        rpc = h.Client(cfg["rpc_address"], sb.service_cert, sb.user_cert, sb.user_key, timeout=3)
        try:
            rpc.get("/node/state")
            served = True
        except OSError:
            served = False
        check(not served, "the intruder serves clients with a service-issued certificate")
    finally:
        proc.stop()
    # It holds only what it brought: its own sealed key and the pinned (public)
    # service certificate; no node certificate, no ledger, no raft log, no snapshot.
    data = os.path.join(root, "data")
    leaked = [p for p in ("node_cert.pem",) if os.path.exists(os.path.join(data, p))]
    for sub in ("ledger", "raft", "snapshots"):
        d = os.path.join(data, sub)
        if os.path.isdir(d) and os.listdir(d):
            leaked.append(f"{sub}/{os.listdir(d)}")
    check(not leaked, f"the refused intruder received {leaked}")


ATTACKS = [
    # mode, words the node's refusal must contain (attested.h step 3)
    ("other-key", "does not bind"),
    ("replay", "does not bind"),
    ("code-id", "is not trusted"),
    ("bitflip", "virtual report"),
]


def forged_hellos(env, sb):
    helper = os.path.join(os.environ.get("CONSORT_BINARY_DIR",
                                         os.path.join(os.path.dirname(env.consort), "..")),
                          "tests", "attack_hello")
    if not os.access(helper, os.X_OK):
        raise h.TestFailure(f"test helper {helper} is not built (target attack_hello)")
    target = sb.nodes[0]["node_address"]
    with open(sb.nodes[0]["config"]) as f:
        platform_dir = json.load(f)["platform_dir"]
    trusted = code_id(env.consortd, env.app)

    def attack(mode, offset=None):
        argv = [helper, "--target", target, "--platform-dir", platform_dir, "--code-id", trusted,
                "--mode", mode, "--wait-ms", "3000"]
        if offset is not None:
            argv += ["--offset", str(offset)]
        before = len(refusals(sb.log_path(0)))
        p = subprocess.run(argv, capture_output=True, timeout=30)
        out = p.stdout.decode().strip()
        check(p.returncode == 0, f"attack_hello {mode}: exit {p.returncode}: "
                                 f"{p.stderr.decode()}")
        time.sleep(0.2)  # the node logs before it closes; leave a margin for the write
        return out, refusals(sb.log_path(0))[before:]

    # the positive control: both hellos verified, the node's admission layer reads
    # the helper's frame and answers over the channel (attack_hello.c, honest mode)
    out, new = attack("honest")
    check(not new, f"honest evidence from the helper was refused: {new}")
    check(out.startswith("RESULT answered") and "expected a join request" in out,
          f"the honest hello did not open a channel that carries data both ways ({out})")
    h.log(f"honest hello: accepted, the node answered after the hellos ({out})")
    for mode, reason in ATTACKS:
        out, new = attack(mode)
        check(out.startswith("RESULT closed"), f"{mode}: the node kept the channel open ({out})")
        check(any(reason in line for line in new),
              f"{mode}: the node's refusal does not say '{reason}': {new}")
        h.log(f"{mode}: refused: {new[0].strip()[:220]}")
    for offset in (0, 8, 12, 60, 130, 160, 215):  # magic, version, flags, report data, key id, sig
        out, new = attack("bitflip", offset)
        check(out.startswith("RESULT closed") and new,
              f"a bit flipped at report byte {offset} was not refused ({out}, {new})")


def test_attestation_refusals(env):
    with env.sandbox(3) as sb:
        check_still_serving(sb, 1)
        forged_hellos(env, sb)
        check_still_serving(sb, 2)
        intruder_with_other_code(env, sb)
        check_still_serving(sb, 3)


if __name__ == "__main__":
    sys.exit(h.main([test_attestation_refusals]))
