#!/usr/bin/env python3
"""Disaster recovery with real processes (docs/recovery.md).

A 3-node sandbox service whose 3 members have encryption keys (recovery
threshold 2) writes private records and hands out a receipt. Every node is
stopped and every data directory deleted, but one copy of a ledger is kept.
A consortd in recover mode, on a new host, on that copy:

- restores the public state only and waits ("WaitingForRecoveryShares");
  the application answers 503 and the private records cannot be read;
- takes member 0's share through `consort recovery submit-share` and recovers
  nothing (one share short; state still waiting, records still unreadable);
  refuses member 0's share a second time;
- takes member 1's share: restores the private state, takes over under a new
  service identity endorsed by the old one, and waits for the members to open
  the service (application 503 ServiceNotOpen);
- is opened through governance (`consort gov propose` / `vote`), then serves
  the private records written before the disaster;
- serves the old receipt, which `consort receipt verify` accepts against the new
  service certificate through the identity chain (--identities) and refuses
  without it; `consort ledger verify` audits the recovered ledger the same way;
  the submitted shares appear nowhere in the new ledger."""

import base64
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

RECORDS = {1: "private before the disaster", 2: "another private record", 3: "a third one"}


def write(client, kind, rid, msg):
    r = client.post_json(f"/app/log/{kind}", {"id": rid, "msg": msg})
    check(r.status == 200, f"POST /app/log/{kind} id {rid}: {r!r}")
    return r.txid


def cli(env, *args, want=0, needle=None):
    code, out = h.run_cli(env, *args)
    check(code == want, f"consort {' '.join(args[:2])}: exit {code}, expected {want}:\n{out}")
    if needle is not None:
        check(needle in out, f"consort {' '.join(args[:2])}: no '{needle}' in:\n{out}")
    return out


def json_of(out):
    return json.loads(out[out.index("{"):out.rindex("}") + 1])


class RecoveryNode:
    """A consortd in recover mode on a fresh host (its own virtual platform)."""

    def __init__(self, env, prev_ledger, prev_cert):
        self.root = env.path("recovery")
        os.makedirs(self.root)
        platform = os.path.join(self.root, "platform")
        cli(env, "platform", "init", "--dir", platform)
        self.service_cert = os.path.join(self.root, "new_service_cert.pem")
        self.cfg = {"platform": "virtual", "platform_dir": platform,
                    "rpc_address": h.ANY_PORT, "node_address": h.ANY_PORT,
                    "data_dir": os.path.join(self.root, "data"), "app": env.app,
                    "sig_interval_ms": 50,
                    "recover": {"previous_ledger": prev_ledger,
                                "previous_service_cert": prev_cert,
                                "service_cert_out": self.service_cert}}
        self.config = os.path.join(self.root, "node.json")
        with open(self.config, "w") as f:
            json.dump(self.cfg, f, indent=1)
        self.log = os.path.join(self.root, "consortd.log")
        self.proc = h.Consortd(env.consortd, self.config, self.log, cfg=self.cfg)
        self.address = self.proc.rpc_address

    def client(self, cert=None, key=None):
        return h.Client(self.address, self.service_cert, cert, key)

    def state(self):
        c = self.client()
        try:
            return c.get_json("/node/state")["state"]
        finally:
            c.close()

    def wait_state(self, want, timeout=30):
        def reached():
            check(self.proc.alive(), f"the recovery node exited:\n{h.tail(self.log, 30)}")
            return self.state() == want
        h.wait_until(reached, timeout, f"the recovery node in state {want}")


def lose_the_service(env, sb):
    """Records written, a receipt kept, every node stopped, every data directory gone
    but one ledger copy. Returns (record txids, receipt path, ledger copy, old cert)."""
    c = sb.client(sb.wait_leader())
    txids = {rid: write(c, "private", rid, msg) for rid, msg in RECORDS.items()}
    write(c, "public", 9, "a public record")
    receipt = h.fetch_receipt(c, txids[1])
    receipt_path = env.path("old_receipt.json")
    with open(receipt_path, "w") as f:
        json.dump(receipt, f)
    code, out = h.receipt_verify(env, receipt_path, sb.service_cert)
    check(code == 0, f"the receipt does not verify before the disaster: {out}")
    sb.wait_quiescent()
    ledger = env.path("ledger_copy")
    shutil.copytree(sb.ledger_dir(0), ledger)
    prev_cert = env.path("previous_service_cert.pem")
    shutil.copyfile(sb.service_cert, prev_cert)
    sb.stop()
    for n in sb.nodes:
        shutil.rmtree(n["data_dir"])
    h.log(f"service lost: {len(sb.nodes)} nodes stopped, their data directories deleted; "
          f"a copy of node 0's ledger kept ({len(h.ledger_entries(ledger))} entries)")
    return txids, receipt_path, ledger, prev_cert


def member_args(ws, m, node):
    return ["--node", f"https://{node.address}", "--service-cert", node.service_cert,
            "--member-cert", os.path.join(ws, f"member{m}_cert.pem"),
            "--member-key", os.path.join(ws, f"member{m}_privk.pem")]


def check_unreadable(node, user):
    c = node.client(*user)
    try:
        r = c.get("/app/log/private?id=1")
        check(r.status == 503, f"a private record read while recovering: {r!r}")
    finally:
        c.close()


def open_service(env, ws, node):
    out = cli(env, "gov", "propose", *member_args(ws, 0, node),
              "--action", "transition_service_to_open", needle='"Open"')
    pid = json_of(out)["proposal_id"]
    cli(env, "gov", "vote", pid, "--accept", *member_args(ws, 0, node))
    cli(env, "gov", "vote", pid, "--accept", *member_args(ws, 1, node), needle='"Accepted"')


def check_receipts(env, node, txids, receipt_path):
    network = env.path("network.json")
    c = node.client()
    try:
        doc = c.get_json("/node/network")
    finally:
        c.close()
    with open(network, "w") as f:
        json.dump(doc, f)
    prev = doc["previous_identities"]
    check(len(prev) == 1, f"/node/network lists {len(prev)} previous identities")
    out = cli(env, "receipt", "verify", receipt_path, "--service-cert", node.service_cert,
              "--identities", network, needle="previous identity")
    h.log(f"the old receipt verifies through the identity chain: {out.strip().splitlines()[0]}")
    cli(env, "receipt", "verify", receipt_path, "--service-cert", node.service_cert, want=1,
        needle="does not chain")
    # the recovered node serves receipts for the old transactions, and they verify the same way
    served = env.path("served_receipt.json")
    c = node.client(*node.user)
    try:
        with open(served, "w") as f:
            json.dump(h.fetch_receipt(c, txids[2]), f)
    finally:
        c.close()
    cli(env, "receipt", "verify", served, "--service-cert", node.service_cert,
        "--identities", network, "--txid", txids[2])


def check_no_share_in_ledger(env, node, shares):
    data = b"".join(h.ledger_entries(os.path.join(node.cfg["data_dir"], "ledger")))
    for m, plain in shares.items():
        check(plain not in data, f"member {m}'s submitted share is in the new ledger in clear")


def plain_shares(env, ws, node):
    """What members 0 and 1 submit (decrypted here with the openssl command line, as
    docs/recovery.md shows): to check none of it lands in the ledger."""
    out = {}
    for m in (0, 1):
        c = node.client()
        mid = hashlib.sha256(_der(os.path.join(ws, f"member{m}_cert.pem"))).hexdigest()
        try:
            doc = c.get_json(f"/gov/recovery/share/{mid}")
        finally:
            c.close()
        enc = base64.b64decode(doc["encrypted_share"])
        tail = env.path(f"share{m}.bin")
        with open(tail, "wb") as f:
            f.write(enc[81:])
        p = subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey",
                              os.path.join(ws, f"member{m}_enc_privk.pem"), "-pkeyopt",
                              "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                              "-pkeyopt", "rsa_mgf1_md:sha256", "-in", tail],
                             capture_output=True, timeout=30)
        check(p.returncode == 0, f"openssl could not decrypt member {m}'s share: {p.stderr!r}")
        out[m] = p.stdout[81 + 32:]  # the share value y (after the header copy and check)
        check(len(out[m]) == 32, f"member {m}'s share value is {len(out[m])} bytes")
    return out


def _der(pem_path):
    with open(pem_path) as f:
        body = "".join(l for l in f.read().splitlines() if "-----" not in l)
    return base64.b64decode(body)


def test_recover_a_lost_service(env):
    t0 = time.monotonic()
    with env.sandbox(3) as sb:
        ws = sb.workspace
        user = (sb.user_cert, sb.user_key)
        txids, receipt_path, ledger, prev_cert = lose_the_service(env, sb)
    node = RecoveryNode(env, ledger, prev_cert)
    node.user = user
    try:
        h.wait_until(lambda: os.path.exists(node.service_cert), 30, "the new service certificate")
        node.wait_state("WaitingForRecoveryShares")
        check(open(node.service_cert).read() != open(prev_cert).read(),
              "the recovered service kept the old identity")
        check_unreadable(node, user)
        out = cli(env, "recovery", "status", "--node", f"https://{node.address}",
                  "--service-cert", node.service_cert, needle="WaitingForRecoveryShares")
        status = json_of(out)
        check(status["threshold"] == 2 and len(status["members_with_shares"]) == 3,
              f"recovery status: {status}")
        shares = plain_shares(env, ws, node)

        enc = lambda m: ["--encryption-key", os.path.join(ws, f"member{m}_enc_privk.pem")]
        out = cli(env, "recovery", "submit-share", *member_args(ws, 0, node), *enc(0))
        first = json_of(out)
        check(first["submitted"] == 1 and first["threshold"] == 2 and not first["recovered"],
              f"the first share: {first}")
        h.log(f"one share in: {first['message']}")
        check(node.state() == "WaitingForRecoveryShares", "one share recovered something")
        check_unreadable(node, user)
        cli(env, "recovery", "submit-share", *member_args(ws, 0, node), *enc(0), want=1,
            needle="ShareAlreadySubmitted")
        # member 2's key cannot open member 1's share
        cli(env, "recovery", "submit-share", *member_args(ws, 1, node), *enc(2), want=1,
            needle="decrypting the share")

        out = cli(env, "recovery", "submit-share", *member_args(ws, 1, node), *enc(1))
        second = json_of(out)
        check(second["recovered"] and second["submitted"] == 2, f"the second share: {second}")
        node.wait_state("PartOfNetwork")
        c = node.client(*user)
        try:
            r = c.get("/app/log/private?id=1")
            check(r.status == 503 and "ServiceNotOpen" in r.body.decode(),
                  f"the recovered service served before its members opened it: {r!r}")
        finally:
            c.close()

        open_service(env, ws, node)
        c = node.client(*user)
        try:
            def readable():
                r = c.get("/app/log/private?id=1")
                return r.status == 200
            h.wait_until(readable, 20, "the private records after opening")
            for rid, msg in RECORDS.items():
                r = c.get(f"/app/log/private?id={rid}")
                check(r.status == 200 and r.json().get("msg") == msg,
                      f"private record {rid} after the recovery: {r!r}")
            write(c, "private", 4, "written after the recovery")
        finally:
            c.close()
        check_receipts(env, node, txids, receipt_path)
        check_no_share_in_ledger(env, node, shares)
        # the recovered ledger audits offline through the same chain, and not without it
        led = os.path.join(node.cfg["data_dir"], "ledger")
        cli(env, "ledger", "verify", led, "--service-cert", node.service_cert,
            "--identities", env.path("network.json"), needle="ledger verified")
        cli(env, "ledger", "verify", led, "--service-cert", node.service_cert, want=1,
            needle="does not chain")
    finally:
        code = node.proc.stop()
    check(code == 0, f"the recovered node exited {code}:\n{h.tail(node.log, 20)}")
    h.log(f"recovered in {time.monotonic() - t0:.1f} s (sandbox start included)")


if __name__ == "__main__":
    sys.exit(h.main([test_recover_a_lost_service]))
