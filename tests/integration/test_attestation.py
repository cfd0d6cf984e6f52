#!/usr/bin/env python3
"""Host-attack catalogue, evidence (DESIGN.md "What the host may do": forge, replay or
bit-flip evidence; present evidence for another key; join with an untrusted or retired
code id; plant a debug-evidence switch in a node's files). Attestation between real
processes: a node is trusted only with genuine evidence, for its own TLS key on this
very connection, of a code id the service trusts, from a platform it trusts, not
debuggable unless the service's policy says so.

- A consortd whose application module differs (so another code id) tries to join:
  it is refused, never becomes part of the network, and learns nothing.
- A hostile host speaks the attested-channel protocol with forged hellos
  (tests/util/attack_hello.c, signing with the node's own virtual platform key as
  only a host can): evidence for another key, replayed from another connection,
  for an untrusted code id, or with a bit flipped in the report; or signed by a
  platform key the service does not trust (forged); or honest but debuggable, after
  the host set "allow_debug_evidence": true in every node's configuration. The node
  refuses each and logs the precise reason; the same helper with honest evidence is
  accepted: the node's admission layer reads a frame from it and answers over the
  channel (the positive control of every test).
- The members trust a code id, then retire it: a consortd with that module is refused.
Honest clients writing through every node are served throughout, and the service still
lists exactly its nodes."""

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
    joiner_refused(env, sb, app, "intruder",
                   CODE_ID_NOT_TRUSTED_AS.format(code_id(env.consortd, app)))


def joiner_refused(env, sb, app, name, reason, watch=5):
    """A consortd running `app` joins node 0 from node 1's host (its platform directory):
    node 0 must refuse it saying `reason`, it must never serve with a certificate of the
    service nor be listed, and it must hold nothing of the service afterwards."""
    root = env.path(name)
    os.makedirs(root, exist_ok=True)
    with open(sb.nodes[1]["config"]) as f:
        node1 = json.load(f)
    cfg = {
        "platform": "virtual",
        "platform_dir": node1["platform_dir"],  # the same host as node 1
        "rpc_address": h.ANY_PORT,
        "node_address": h.ANY_PORT,
        "data_dir": os.path.join(root, "data"),
        "app": app,
        "join": {"target": sb.nodes[0]["node_address"], "service_cert": sb.service_cert},
    }
    cfg_path = os.path.join(root, "node.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    log_path = os.path.join(root, "consortd.log")
    before = len(refusals(sb.log_path(0)))
    proc = h.Consortd(env.consortd, cfg_path, log_path, cfg=cfg, may_exit=True)

    def serves():
        rpc = h.Client(cfg["rpc_address"], sb.service_cert, sb.user_cert, sb.user_key,
                       timeout=3)
        try:
            rpc.get("/node/state")
            return True
        except OSError:
            return False
        finally:
            rpc.close()

    try:
        h.wait_until(lambda: len(refusals(sb.log_path(0))) > before or not proc.alive(), 30,
                     f"node 0 to refuse the {name} joiner")
        deadline = time.monotonic() + watch  # time to try again: it must never get in
        while time.monotonic() < deadline:
            check(not serves(), f"the {name} joiner serves clients with a service-issued "
                                f"certificate")
            check(trusted_count(sb) == sb.count, f"the {name} joiner is listed as trusted")
            time.sleep(0.5)
        new = refusals(sb.log_path(0))[before:]
        check(any(reason in line for line in new),
              f"node 0 did not refuse the {name} joiner saying '{reason}'; its refusals: "
              f"{new}\njoiner log:\n{h.tail(log_path, 20)}")
        h.log(f"{name} joiner refused: {[l for l in new if reason in l][0].strip()[:220]}")
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
    check(not leaked, f"the refused {name} joiner received {leaked}")


# The node's refusal of each forged hello (its 'attested channel ... refused: REASON'
# line; src/attest/evidence.c, virtual_verify.c, policy.c, node_join_policy.c):
DOES_NOT_BIND = "does not bind the given key and nonce"
UNKNOWN_PLATFORM = "which none of the"  # "... trusted platform certificates holds"
DEBUG_REFUSED = "debug is enabled and the policy does not allow debug"
CODE_ID_NOT_TRUSTED_AS = "code id {} is not trusted"  # retired ones too: the channel's
# policy holds only the code ids allowed to join (public:consort.code_ids: AllowedToJoin)
# a bit flipped at report byte N (virtual.h layout) and the words of its refusal
BITFLIPS = [
    (0, "virtual report: magic"),                   # magic
    (8, "virtual report: version"),                 # version
    (12, "virtual report"),                         # flags: the debug bit, unsigned
    (40, "virtual report"),                         # code id: the signature no longer holds
    (60, "virtual report"),                         # report data
    (130, UNKNOWN_PLATFORM),                        # platform key id
    (160, "virtual report"),                        # signature r
    (215, "virtual report"),                        # signature s
]


def helper_path(env):
    helper = os.path.join(os.environ.get("CONSORT_BINARY_DIR",
                                         os.path.join(os.path.dirname(env.consort), "..")),
                          "tests", "attack_hello")
    if not os.access(helper, os.X_OK):
        raise h.TestFailure(f"test helper {helper} is not built (target attack_hello)")
    return helper


def hello(env, sb, mode, offset=None, platform_dir=None, code_id_hex=None, node=0):
    """attack_hello against node `node`'s node_address; returns (its RESULT line, the
    node's new refusal lines). A refused hello's line is waited for (bounded)."""
    if platform_dir is None:
        with open(sb.nodes[node]["config"]) as f:
            platform_dir = json.load(f)["platform_dir"]
    argv = [helper_path(env), "--target", sb.nodes[node]["node_address"], "--platform-dir",
            platform_dir, "--code-id", code_id_hex or code_id(env.consortd, env.app),
            "--mode", mode, "--wait-ms", "3000"]
    if offset is not None:
        argv += ["--offset", str(offset)]
    log_path = sb.log_path(node)
    before = len(refusals(log_path))
    p = subprocess.run(argv, capture_output=True, timeout=30)
    out = p.stdout.decode().strip()
    check(p.returncode == 0, f"attack_hello {mode}: exit {p.returncode}: {p.stderr.decode()}")
    if out.startswith("RESULT closed"):  # the node logs its reason as it closes
        h.wait_until(lambda: len(refusals(log_path)) > before, 5,
                     f"node {node} to log why it refused the {mode} hello")
    return out, refusals(log_path)[before:]


def honest_control(env, sb, node=0):
    """The positive control: both hellos verified, the node's admission layer reads the
    helper's frame and answers over the channel (attack_hello.c, honest mode)."""
    out, new = hello(env, sb, "honest", node=node)
    check(not new, f"honest evidence from the helper was refused: {new}")
    check(out.startswith("RESULT answered") and "expected a join request" in out,
          f"the honest hello did not open a channel that carries data both ways ({out})")
    h.log(f"honest hello: accepted, the node answered after the hellos ({out})")


def refused(env, sb, what, reason, node=0, **kw):
    """One forged hello: the node closes the channel and says `reason`."""
    mode = kw.pop("mode")
    out, new = hello(env, sb, mode, node=node, **kw)
    check(out.startswith("RESULT closed"), f"{what}: the node kept the channel open ({out})")
    check(any(reason in line for line in new),
          f"{what}: the node's refusal does not say '{reason}': {new}")
    h.log(f"{what}: refused: {[l for l in new if reason in l][0].strip()[:240]}")


def hello_attack(env, attempts):
    """A 3-node service; honest clients write through every node while the positive
    control and each (what, reason, kwargs) forged hello run against node 0."""
    with env.sandbox(3) as sb:
        with h.HonestClients(sb, range(3)) as honest:
            honest_control(env, sb)
            for what, reason, kw in attempts:
                refused(env, sb, what, reason, **kw)
        honest.check()
        check(trusted_count(sb) == sb.count, f"/node/network no longer lists {sb.count} nodes")


def test_attack_forged_evidence(env):
    """Evidence signed by a platform key the service does not trust (a platform the host
    made): the host can sign anything with a key it holds, never with the genuine one."""
    rogue = env.path("rogue-platform")
    code, out = h.run_cli(env, "platform", "init", "--dir", rogue)
    check(code == 0, f"consort platform init: {out}")
    hello_attack(env, [("evidence from a platform the service does not trust",
                        UNKNOWN_PLATFORM, {"mode": "honest", "platform_dir": rogue})])


def test_attack_replayed_evidence(env):
    hello_attack(env, [("evidence replayed from another connection", DOES_NOT_BIND,
                        {"mode": "replay"})])


def test_attack_evidence_for_another_key(env):
    hello_attack(env, [("evidence binding another key than the TLS key", DOES_NOT_BIND,
                        {"mode": "other-key"})])


def test_attack_bit_flipped_evidence(env):
    hello_attack(env, [(f"a bit flipped at report byte {off}", reason,
                        {"mode": "bitflip", "offset": off}) for off, reason in BITFLIPS])


def test_attack_join_untrusted_code_id(env):
    """A forged hello for an untrusted code id, then a real consortd whose module differs
    (another code id) joining from node 1's host."""
    with env.sandbox(3) as sb:
        with h.HonestClients(sb, range(3)) as honest:
            honest_control(env, sb)
            untrusted = hashlib.sha256(bytes.fromhex(code_id(env.consortd, env.app))).hexdigest()
            refused(env, sb, "hello for an untrusted code id",
                    CODE_ID_NOT_TRUSTED_AS.format(untrusted), mode="code-id")
            intruder_with_other_code(env, sb)
        honest.check()
        check_still_serving(sb, 3)


def test_attack_join_retired_code_id(env):
    """The members trust a second code id, then retire it; a consortd running that
    module joins: the service refuses it (retired code ids are never trusted again)."""
    with env.sandbox(3) as sb:
        root = env.path("retired")
        os.makedirs(root)
        app = os.path.join(root, "logging-retired.so")
        shutil.copyfile(env.app, app)
        with open(app, "ab") as f:
            f.write(b"\0consort test: a build the members trusted, then retired\0")
        retired = code_id(env.consortd, app)
        for action in ("add_code_id", "retire_code_id"):
            _, state = sb.pass_proposal({"actions": [{"name": action,
                                                      "args": {"code_id": retired}}]})
            check(state == "Accepted", f"{action} {retired[:16]}...: {state}")
        ids = {c["code_id"]: c["status"] for c in sb.gov_service()["code_ids"]}
        check(ids.get(retired) == "Retired", f"/gov/service code ids: {ids}")
        h.log(f"code id {retired[:16]}... trusted, then retired by the members")
        with h.HonestClients(sb, range(3)) as honest:
            honest_control(env, sb)
            refused(env, sb, "hello for a retired code id",
                    CODE_ID_NOT_TRUSTED_AS.format(retired), mode="honest", code_id_hex=retired)
            joiner_refused(env, sb, app, "retired", CODE_ID_NOT_TRUSTED_AS.format(retired))
        honest.check()
        check_still_serving(sb, 4)


def test_attack_debug_evidence_switch_planted(env):
    """The host sets "allow_debug_evidence": true in every node's configuration and
    restarts each node in turn: debuggable evidence is still refused, because once the
    service exists the policy is the one in its store (public:consort.policy)."""
    with env.sandbox(3) as sb:
        for i in range(3):
            with open(sb.nodes[i]["config"]) as f:
                cfg = json.load(f)
            cfg["allow_debug_evidence"] = True
            with open(sb.nodes[i]["config"], "w") as f:
                json.dump(cfg, f, indent=1)
            h.stop_node(sb, i)
            sb.wait_leader(among=[j for j in range(3) if j != i])
            h.restart_and_catch_up(sb, i)
        h.log("every node runs with \"allow_debug_evidence\": true in its configuration")
        with h.HonestClients(sb, range(3)) as honest:
            honest_control(env, sb)
            for i in range(3):
                refused(env, sb, f"debuggable evidence to node {i}", DEBUG_REFUSED,
                        mode="debug", node=i)
        honest.check()
        check(trusted_count(sb) == sb.count, f"/node/network no longer lists {sb.count} nodes")


if __name__ == "__main__":
    sys.exit(h.main([test_attack_forged_evidence, test_attack_replayed_evidence,
                     test_attack_evidence_for_another_key, test_attack_bit_flipped_evidence,
                     test_attack_join_untrusted_code_id, test_attack_join_retired_code_id,
                     test_attack_debug_evidence_switch_planted]))
