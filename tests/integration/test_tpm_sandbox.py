#!/usr/bin/env python3
"""`consort sandbox --platform tpm --nodes 3`: every node on its own swtpm process.
The service becomes READY; every node's recorded evidence is a TPM quote that
`consort evidence verify` accepts under the sandbox's AK CA (and under no other
anchor); writes through the leader and a follower are readable on every node,
Committed, and their receipts verify offline; nodes killed with -9 (the leader,
then the same follower twice, so stale TPM objects pile up unless flushed)
restart from their TPM-sealed state and catch up; the ledgers agree and pass
`consort ledger verify`. Skipped only when swtpm is not installed."""

import base64
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402


def swtpm_installed():
    env = os.environ.get("CONSORT_SWTPM")
    if env:
        return os.access(env, os.X_OK)
    return shutil.which("swtpm") is not None


def check_tpm_files(sb):
    ca = os.path.join(sb.workspace, "tpm_ak_ca_cert.pem")
    check(os.path.isfile(ca), "the sandbox wrote no tpm_ak_ca_cert.pem")
    for i, n in enumerate(sb.nodes):
        check(n.get("tpm_tcti", "").startswith("swtpm:"), f"node {i}: tpm_tcti {n.get('tpm_tcti')!r}")
        check(h.pid_alive(n["tpm_pid"]), f"node {i}: its swtpm (pid {n['tpm_pid']}) is not running")
        with open(n["config"]) as f:
            cfg = json.load(f)
        check(cfg["platform"] == "tpm", f"node {i}: platform {cfg['platform']!r}")
        check("tpm_ak_ca_key" not in cfg, f"node {i} was given the AK CA's private key")
    check(len({n["tpm_tcti"] for n in sb.nodes}) == sb.count, "nodes share a TPM")
    return ca


def check_quotes(env, sb, ca):
    """Each node's evidence in /node/quotes verifies with the AK CA as the only anchor,
    binds that node's key, and fails under another CA."""
    doc = sb.client(0).get_json("/node/quotes")
    quotes = {q["node_id"]: q for q in doc["quotes"]}
    trust = env.path("trust")
    os.makedirs(trust, exist_ok=True)
    shutil.copy(ca, os.path.join(trust, "ak_ca.pem"))
    other = env.path("other_trust")
    os.makedirs(other, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", env.path("other_ca_key.pem"),
                    "-out", os.path.join(other, "other_ca.pem"), "-days", "1", "-subj",
                    "/CN=another AK CA", "-addext", "basicConstraints=critical,CA:TRUE"],
                   check=True, capture_output=True)
    code_ids = set()
    for i, n in enumerate(sb.nodes):
        q = quotes.get(n["node_id"])
        check(q is not None, f"/node/quotes has no evidence for node {i}")
        check(q["platform"] == "tpm", f"node {i}: evidence for platform {q['platform']!r}")
        path = env.path(f"node{i}.evidence")
        with open(path, "wb") as f:
            f.write(base64.b64decode(q["evidence"]))
        key = env.path(f"node{i}_pubk.pem")
        subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in",
                        os.path.join(n["data_dir"], "node_cert.pem"), "-out", key],
                       check=True, capture_output=True)
        code, out = h.run_cli(env, "evidence", "verify", path, "--platform", "tpm", "--trust",
                              trust, "--key", key)
        check(code == 0, f"node {i}: consort evidence verify exited {code}:\n{out}")
        claims = json.loads(out[out.index("{"):out.rindex("}") + 1])
        check(claims.get("platform") == "tpm", f"node {i}: claims {claims}")
        code_ids.add(claims.get("code_id"))
        code, out = h.run_cli(env, "evidence", "verify", path, "--platform", "tpm", "--trust",
                              other)
        check(code == 1 and "AK certificate" in out,
              f"node {i}: evidence accepted under another CA (exit {code}):\n{out}")
    check(len(code_ids) == 1, f"the nodes quote different code ids: {code_ids}")


def write(client, kind, rid, msg):
    r = client.post_json(f"/app/log/{kind}", {"id": rid, "msg": msg})
    check(r.status == 200 and r.txid, f"POST /app/log/{kind} id {rid} on {client.address}: {r!r}")
    return r.txid


def check_writes(env, sb):
    leader = sb.wait_leader()
    follower = next(i for i in range(sb.count) if i != leader)
    written = [(1, write(sb.client(leader), "private", 1, "via the leader")),
               (2, write(sb.client(follower), "private", 2, "via a follower"))]
    msgs = {1: "via the leader", 2: "via a follower"}
    sb.wait_caught_up(range(sb.count))
    h.check_records(sb, [(k, t) for k, t in written], range(sb.count), msg=lambda k: msgs[k])
    txid = write(sb.client(follower), "public", 3, "public via a follower")
    receipt = h.fetch_receipt(sb.client(0), txid)
    path = env.path("receipt.json")
    with open(path, "w") as f:
        json.dump(receipt, f)
    code, out = h.receipt_verify(env, path, sb.service_cert, "--txid", txid)
    check(code == 0, f"consort receipt verify exited {code}:\n{out}")


def test_tpm_sandbox_three_nodes(env):
    if not swtpm_installed():
        raise h.Skip("swtpm is not installed (scripts/install-deps installs it)")
    sb = env.sandbox(3, extra_args=("--platform", "tpm"))
    try:
        ca = check_tpm_files(sb)
        check_quotes(env, sb, ca)
        check_writes(env, sb)
        h.crash_and_recover(env, sb, [h.leader_only, h.a_follower, h.a_follower])
    finally:
        sb.stop()
    flushed = [i for i in range(sb.count)
               if "transient object(s) left by an earlier run" in open(sb.log_path(i)).read()]
    check(flushed, "no restarted node flushed the AK its killed predecessor left in the TPM")
    for i in range(sb.count):
        check(not h.pid_alive(sb.nodes[i]["tpm_pid"]), f"swtpm of node {i} still running after stop")
    entries = h.check_ledgers_agree(sb, range(sb.count))
    h.log(f"the 3 ledgers agree: {entries} entries each")
    for i in range(sb.count):
        code, out = h.ledger_verify(env, sb.ledger_dir(i), sb.service_cert)
        check(code == 0, f"node {i}: consort ledger verify exited {code}:\n{out}")


if __name__ == "__main__":
    sys.exit(h.main([test_tpm_sandbox_three_nodes]))
