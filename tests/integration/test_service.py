#!/usr/bin/env python3
"""A 3-node service through `consort sandbox`: the files it writes, private and
public records written through the leader and through a follower and read on
every node, client authentication, transaction status, and receipts: one
verifies offline, one with any byte changed or from another service does not."""

import base64
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402


def check_sandbox_files(sb):
    ws = sb.workspace
    for name in ("service_cert.pem", "user0_cert.pem", "user0_privk.pem", "member0_cert.pem",
                 "member0_privk.pem", "nodes.json"):
        check(os.path.isfile(os.path.join(ws, name)), f"the sandbox did not write {name}")
    for name in ("user0_privk.pem", "member0_privk.pem"):
        mode = os.stat(os.path.join(ws, name)).st_mode & 0o777
        check(mode == 0o600, f"{name} has mode {oct(mode)}, expected 0600")
    ids = set()
    for i, n in enumerate(sb.nodes):
        check(re.fullmatch(r"[0-9a-f]{16}", n["node_id"]) is not None,
              f"node {i}: node_id {n['node_id']!r}")
        check(re.fullmatch(r"127\.0\.0\.1:\d+", n["rpc_address"]) is not None,
              f"node {i}: rpc_address {n['rpc_address']!r}")
        check(h.pid_alive(n["pid"]), f"node {i}: pid {n['pid']} is not running")
        check(os.path.isdir(n["data_dir"]), f"node {i}: data_dir {n['data_dir']} missing")
        ids.add(n["node_id"])
    check(len(ids) == sb.count, f"node ids are not distinct: {ids}")
    check(sb.ready_address in [n["rpc_address"] for n in sb.nodes],
          f"READY names {sb.ready_address}, not a node's rpc_address")


def check_network(sb):
    doc = sb.client(0).get_json("/node/network")
    listed = {n["node_id"]: n for n in doc["nodes"]}
    for n in sb.nodes:
        check(n["node_id"] in listed, f"/node/network does not list {n['node_id']}")
        check(listed[n["node_id"]]["status"] == "Trusted",
              f"node {n['node_id']} is {listed[n['node_id']]['status']}")
    with open(sb.service_cert) as f:
        pinned = f.read().strip()
    check(doc["service_certificate"].strip() == pinned,
          "/node/network serves another service certificate than service_cert.pem")


def write(client, kind, rid, msg):
    r = client.post_json(f"/app/log/{kind}", {"id": rid, "msg": msg})
    check(r.status == 200, f"POST /app/log/{kind} id {rid} on {client.address}: {r!r}")
    check(r.txid and re.fullmatch(r"\d+\.\d+", r.txid), f"no x-consort-txid: {r.headers}")
    return r.txid


def check_readable_everywhere(sb, kind, rid, msg):
    for i in range(sb.count):
        c = sb.client(i)

        def read():
            r = c.get(f"/app/log/{kind}?id={rid}")
            return r.status == 200 and r.json().get("msg") == msg

        h.wait_until(read, 20, f"node {i} to serve {kind} record {rid}")
        c.close()


def check_auth(env, sb):
    anon = sb.client(0, cert=False)
    r = anon.post_json("/app/log/private", {"id": 99, "msg": "anonymous"})
    check(r.status == 401, f"a write without a client certificate: {r!r}")
    check("error" in r.json() and "code" in r.json()["error"], f"not a JSON error: {r!r}")
    key, cert = env.path("stranger_privk.pem"), env.path("stranger_cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=stranger"], check=True, capture_output=True)
    stranger = h.Client(sb.address(0), sb.service_cert, cert, key)
    r = stranger.post_json("/app/log/private", {"id": 99, "msg": "stranger"})
    check(r.status == 403, f"a write with an unregistered certificate: {r!r}")
    r = sb.client(0).get("/app/log/private?id=99")
    check(r.status == 404, f"a refused write was stored: {r!r}")
    r = sb.client(0).get("/app/no/such/endpoint")
    check(r.status == 404, f"unknown path: {r!r}")
    r = sb.client(0).post_json("/app/log/private", {"id": "x"})
    check(r.status == 400, f"bad body: {r!r}")


def test_three_nodes(env):
    with env.sandbox(3) as sb:
        check_sandbox_files(sb)
        check_network(sb)
        leader = sb.wait_leader()
        follower = next(i for i in range(3) if i != leader)
        h.log(f"leader is node {leader}; writing through it and through node {follower}")
        lc, fc = sb.client(leader), sb.client(follower)
        t1 = write(lc, "private", 1, "private via the leader")
        t2 = write(fc, "private", 2, "private via a follower")
        t3 = write(fc, "public", 3, "public via a follower")
        check_readable_everywhere(sb, "private", 1, "private via the leader")
        check_readable_everywhere(sb, "private", 2, "private via a follower")
        check_readable_everywhere(sb, "public", 3, "public via a follower")
        for i in range(3):
            c = sb.client(i)
            for t in (t1, t2, t3):
                h.wait_until(lambda: c.tx_status(t) == "Committed", 20,
                             f"{t} Committed on node {i}")
            st = c.tx_status("1.999999")  # checks the code goes with the status
            check(st in ("Unknown", "Invalid"), f"a future txid: {st}")
            r = c.get("/node/tx?transaction_id=banana")
            check(r.status == 400, f"a malformed txid: {r!r}")
        check_auth(env, sb)


def mutations(receipt):
    """(description, mutated receipt) for one changed byte in every part of a receipt."""
    cose = base64.b64decode(receipt["cose_receipt"])
    for pos in range(len(cose)):
        b = bytearray(cose)
        b[pos] ^= 0x01
        m = json.loads(json.dumps(receipt))
        m["cose_receipt"] = base64.b64encode(bytes(b)).decode()
        yield f"cose_receipt byte {pos}", m
    lc = receipt["leaf_components"]
    for field in ("write_set_digest", "claims_digest"):
        for pos in (0, 31, 63):
            m = json.loads(json.dumps(receipt))
            v = lc[field]
            m["leaf_components"][field] = v[:pos] + ("0" if v[pos] != "0" else "1") + v[pos + 1:]
            yield f"{field} digit {pos}", m
    ce = lc["commit_evidence"]
    for pos in (len(ce) - 1, len(ce) - 40, ce.index(":") + 1):
        m = json.loads(json.dumps(receipt))
        m["leaf_components"]["commit_evidence"] = (ce[:pos] + ("1" if ce[pos] != "1" else "2")
                                                   + ce[pos + 1:])
        yield f"commit_evidence character {pos}", m
    pem = receipt["node_certificate"]
    body = "".join(pem.strip().splitlines()[1:-1])
    der = base64.b64decode(body)
    for pos in (len(der) // 3, len(der) // 2, len(der) - 10):
        b = bytearray(der)
        b[pos] ^= 0x01
        text = base64.b64encode(bytes(b)).decode()
        lines = [text[i:i + 64] for i in range(0, len(text), 64)]
        m = json.loads(json.dumps(receipt))
        m["node_certificate"] = ("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines)
                                 + "\n-----END CERTIFICATE-----\n")
        yield f"node_certificate DER byte {pos}", m


def test_receipts(env):
    with env.sandbox(3) as sb:
        c = sb.client(sb.wait_leader())
        txid = write(c, "private", 7, "a record with a receipt")
        receipt = h.fetch_receipt(c, txid)
        check(receipt["txid"] == txid, f"receipt for {receipt['txid']}, asked {txid}")
        path = env.path("receipt.json")
        with open(path, "w") as f:
            json.dump(receipt, f)
        code, out = h.receipt_verify(env, path, sb.service_cert, "--txid", txid)
        check(code == 0, f"the receipt does not verify (exit {code}): {out}")
        # every follower serves a receipt for it too, and it verifies
        for i in range(sb.count):
            r = h.fetch_receipt(sb.client(i), txid)
            p = env.path(f"receipt{i}.json")
            with open(p, "w") as f:
                json.dump(r, f)
            code, out = h.receipt_verify(env, p, sb.service_cert, "--txid", txid)
            check(code == 0, f"node {i}'s receipt does not verify: {out}")
        code, out = h.receipt_verify(env, path, sb.service_cert, "--txid", "1.1")
        check(code == 1, f"a receipt checked against another txid: exit {code}: {out}")

        n = 0
        for what, m in mutations(receipt):
            p = env.path("mutated.json")
            with open(p, "w") as f:
                json.dump(m, f)
            code, out = h.receipt_verify(env, p, sb.service_cert)
            check(code == 1, f"a receipt with {what} changed: exit {code}, expected 1: {out}")
            n += 1
        h.log(f"{n} receipts with one byte changed: each rejected")

        # a receipt from another service fails against this one's certificate, and back
        with env.sandbox(1, name="other") as other:
            oc = other.client(0)
            otx = write(oc, "private", 7, "a record with a receipt")
            oreceipt = h.fetch_receipt(oc, otx)
            op = env.path("other_receipt.json")
            with open(op, "w") as f:
                json.dump(oreceipt, f)
            code, out = h.receipt_verify(env, op, other.service_cert)
            check(code == 0, f"the other service's receipt does not verify there: {out}")
            code, out = h.receipt_verify(env, op, sb.service_cert)
            check(code == 1, f"another service's receipt accepted: exit {code}: {out}")
            code, out = h.receipt_verify(env, path, other.service_cert)
            check(code == 1, f"this receipt accepted by another service's cert: {out}")


if __name__ == "__main__":
    sys.exit(h.main([test_three_nodes, test_receipts]))
