#!/usr/bin/env python3
"""Composed services, end to end with real processes (docs/e2e.md "Calling
other services"): the composed sample's front-end (records.so) calls its
back-end (storage.so), two consort services with their own members. The
back-end's members register the front-end's service identity as a user; the
front-end's members bind the egress name "storage" to the back-end's address
and certificate. A client's write and read through the front-end reach the
back-end, and the answer's handling statement nests the back-end's, which
`consort e2e verify` checks hop by hop.

The attacks, each named: egress to an undeclared service (refused, 403);
a call whose name the members did not bind (no address: refused); a
statement replayed for another request; a binding to a service whose
certificate the code's pin does not match; a back-end on a code id the
client's policy does not allow; a back-end whose code carries no code
certificate when the client's policy wants one (an uncertified back-end:
refused, then accepted once the back-end's members log a certificate made
from its checked supply chain)."""

import base64
import json
import os
import secrets
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
import test_code_transparency as ct  # noqa: E402
from consort_harness import check  # noqa: E402


def sample(env, name):
    path = os.path.join(os.path.dirname(env.app), "composed", f"{name}.so")
    check(os.path.exists(path), f"the composed sample is not built: {path}")
    return path


def attested(client, method, path, body=None):
    nonce = secrets.token_hex(16)
    r = client.request(method, path, body=body, headers={"x-consort-attest": nonce})
    return nonce, r


def summary(client, method, path, policy, body=None):
    """An attested request asking for a summary statement under `policy`."""
    nonce = secrets.token_hex(16)
    text = json.dumps(policy).encode()
    r = client.request(method, path, body=body, headers={
        "x-consort-attest": nonce, "x-consort-attest-policy": base64.b64encode(text).decode()})
    return nonce, r


def verify(env, front, name, nonce, method, target, req_body, r, *extra):
    """`consort e2e verify` on r's statement against the front-end's certificate."""
    d = env.path(f"e2e-{name}")
    os.makedirs(d, exist_ok=True)
    paths = {k: os.path.join(d, k) for k in ("statement", "request", "response")}
    with open(paths["statement"], "w") as f:
        f.write(r.headers.get("x-consort-handling-statement", ""))
    with open(paths["request"], "wb") as f:
        f.write(req_body or b"")
    with open(paths["response"], "wb") as f:
        f.write(r.body)
    return h.run_cli(env, "e2e", "verify", "--service-cert", front.service_cert,
                     "--nonce", nonce, "--method", method, "--target", target,
                     "--request-body", paths["request"], "--status", str(r.status),
                     "--response-body", paths["response"], *extra, paths["statement"])


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + "{"):
            return int(float(line.rsplit(" ", 1)[1]))
    raise h.TestFailure(f"no metric {name}")


def policy_file(env, name, doc):
    path = env.path(f"policy-{name}.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def log_certificate(env, sb, sup, module, name, claims):
    """Certifies `module` from a recorded in-toto chain and has the members of
    `sb` (which runs it) log the certificate for its code id."""
    code_id = h.code_id(env.consortd, module)
    code, out, cert = ct.certify(env, sup, ct.record(sup, module, name), *claims)
    check(code == 0 and code_id in out, f"certify {name}: {out}")
    _, state = sb.pass_proposal({"actions": [{"name": "add_code_id", "args": {
        "code_id": code_id, "certificate": ct.b64(cert)}}]})
    check(state == "Accepted", f"logging {name}'s certificate: {state}")


def bind_storage(front, back):
    with open(back.service_cert) as f:
        pem = f.read()
    _, state = front.pass_proposal({"actions": [{"name": "set_egress_service", "args": {
        "name": "storage", "address": back.address(0), "service_certificate": pem}}]})
    check(state == "Accepted", f"set_egress_service: {state}")


CONCURRENT = 64


def concurrent_calls_reuse_connections(front, calls0, conns0):
    """64 clients writing at once, each with one request in flight: the
    front-end never has more than 64 calls out, so it never needs more than
    64 connections to the back-end. Before the pool kept 256 idle ones it
    kept 32, and above 32 calls at once about every other call made a TLS
    handshake (thousands for a few hundred writes)."""
    clients = [front.client(0) for _ in range(CONCURRENT)]
    start = threading.Barrier(CONCURRENT)
    failures = []

    def writer(i, c):
        start.wait()
        for k in range(8):
            body = json.dumps({"id": 1000 + i * 8 + k, "record": "r"}).encode()
            r = c.request("POST", "/app/records", body=body)
            if r.status != 200:
                failures.append(r)
    try:
        threads = [threading.Thread(target=writer, args=(i, c)) for i, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(not failures, f"concurrent writes failed: {failures[:3]!r}")
        m = clients[0].get("/node/metrics").body.decode()
        calls = metric(m, "consort_rpc_egress_calls_total") - calls0
        conns = metric(m, "consort_rpc_egress_connections_total") - conns0
        check(calls == CONCURRENT * 8 and conns <= CONCURRENT,
              f"{calls} calls from {CONCURRENT} clients at once opened {conns} connections "
              f"(at most {CONCURRENT} needed)")
        h.log(f"{calls} concurrent calls: {conns} new connections")
    finally:
        for c in clients:
            c.close()


def test_composed(env):
    with env.sandbox(nodes=1, name="storage", extra_args=["--app", sample(env, "storage")]) as back, \
         env.sandbox(nodes=1, name="records", extra_args=["--app", sample(env, "records")]) as front:
        # the back-end's members let the front-end's service identity in
        with open(front.service_cert) as f:
            _, state = back.pass_proposal({"actions": [{"name": "set_user",
                                                        "args": {"cert": f.read()}}]})
        check(state == "Accepted", f"set_user for the front-end: {state}")
        c = front.client(0)
        try:
            body = json.dumps({"id": 7, "record": "a medical record"}).encode()
            # no binding yet: the call has nowhere to go, and says why
            r = c.request("POST", "/app/records", body=body)
            check(r.status == 404 and "bound no address" in r.body.decode(),
                  f"a call before the members bound 'storage': {r!r}")
            # a binding the action refuses: not a numeric host:port
            with open(back.service_cert) as f:
                _, state = front.pass_proposal({"actions": [{"name": "set_egress_service",
                                                             "args": {"name": "storage",
                                                                      "address": "storage.example",
                                                                      "service_certificate": f.read()}}]})
            check(state != "Accepted", f"set_egress_service with a host name: {state}")
            bind_storage(front, back)

            # a write through the front-end, stored by the back-end
            nonce, r = attested(c, "POST", "/app/records", body)
            check(r.status == 200 and r.json().get("stored_by") == "storage",
                  f"POST /app/records: {r!r}")
            check(r.txid is not None, f"the front-end's audit write has no txid: {r.headers}")
            code, out = verify(env, front, "write", nonce, "POST", "/app/records", body, r)
            check(code == 0, f"the write's nested statement does not verify: {out}")
            said = json.loads(out[out.index("{"):])
            check(said["calls"] == 1 and len(said["hops"]) == 1, f"hops: {said}")
            hop = said["hops"][0]
            check(hop["service"] == "storage" and hop["depth"] == 1 and hop["written"],
                  f"the storage hop: {hop}")
            h.log(f"write {r.txid}: front-end statement nests storage's (wrote {hop['written']})")

            # the record is in the back-end's store
            bc = back.client(0)
            try:
                rb = bc.get("/app/fetch?id=7")
                check(rb.status == 200 and rb.json()["record"] == "a medical record",
                      f"storage holds: {rb!r}")
            finally:
                bc.close()

            # a read through the front-end (a read-only handler that calls)
            nonce_r, rr = attested(c, "GET", "/app/records?id=7")
            check(rr.status == 200 and rr.json()["record"] == "a medical record",
                  f"GET /app/records: {rr!r}")
            code, out = verify(env, front, "read", nonce_r, "GET", "/app/records?id=7", b"", rr)
            check(code == 0, f"the read's nested statement does not verify: {out}")
            r404 = c.get("/app/records?id=8")
            check(r404.status == 404, f"an unknown record relayed: {r404!r}")

            # calls reuse connections: far fewer TLS handshakes than calls
            m = c.get("/node/metrics").body.decode()
            calls = metric(m, "consort_rpc_egress_calls_total")
            conns = metric(m, "consort_rpc_egress_connections_total")
            check(calls >= 3 and conns < calls, f"egress: {calls} calls, {conns} connections")
            concurrent_calls_reuse_connections(front, calls, conns)

            # attack: egress to an undeclared service
            rx = c.get("/app/records/export?id=7")
            check(rx.status == 403 and "undeclared egress" in rx.body.decode(),
                  f"a call to an undeclared service: {rx!r}")

            # attack: the statement replayed for another request (its nonce)
            code, out = verify(env, front, "replay", secrets.token_hex(16), "POST",
                               "/app/records", body, r)
            check(code == 1 and "another request" in out, f"a replayed statement: {out}")

            # attack: a back-end on a code id the client does not allow
            front_codes = [x["code_id"] for x in said["code_ids"]]
            p = policy_file(env, "front-only", {"code_ids": front_codes})
            code, out = verify(env, front, "untrusted-backend", nonce, "POST", "/app/records",
                               body, r, "--policy", p)
            check(code == 1 and "storage" in out and "not one the policy allows" in out,
                  f"a back-end outside the policy: {out}")
            allowed = front_codes + [x["code_id"] for x in hop["code_ids"]]
            p = policy_file(env, "both", {"code_ids": allowed})
            code, out = verify(env, front, "both", nonce, "POST", "/app/records", body, r,
                               "--policy", p)
            check(code == 0, f"a policy naming both code ids: {out}")

            # attack: an uncertified back-end when the policy wants certificates.
            # The front-end's code is certified by the CI (an in-toto chain:
            # built, then tested) and its members log the certificate; the
            # back-end's is not, until its members log one too.
            ct.tools_or_skip()
            sup = ct.supply_chain(env)
            claims = ("--tested-by", "test", "--claim", "compliance=HIPAA")
            log_certificate(env, front, sup, sample(env, "records"), "records", claims)
            p = policy_file(env, "certified", {
                "issuers": [os.path.join(sup, "ci_cert.pem")],
                "claims": ["tested", "compliance=HIPAA"]})
            nonce, r = attested(c, "POST", "/app/records", body)
            check(r.status == 200, f"POST /app/records: {r!r}")
            code, out = verify(env, front, "uncertified", nonce, "POST", "/app/records", body, r,
                               "--policy", p)
            check(code == 1 and "storage" in out and "no code certificate" in out,
                  f"an uncertified back-end: {out}")
            # the same in summary mode (opaque topology): the client sends its
            # policy; records checks storage against it and names it by digest only
            with open(os.path.join(sup, "ci_cert.pem")) as f:
                ci_pem = f.read()
            sent_policy = {"issuers": [ci_pem], "claims": ["compliance=HIPAA", "tested"]}
            nonce_s, rs = summary(c, "GET", "/app/records?id=7", sent_policy)
            check(rs.status == 200, f"a summary-mode read: {rs!r}")
            code, out = verify(env, front, "summary-uncertified", nonce_s, "GET",
                               "/app/records?id=7", b"", rs, "--policy", p)
            check(code == 1 and "does not meet the policy" in out,
                  f"a summary naming an uncertified back-end: {out}")

            log_certificate(env, back, sup, sample(env, "storage"), "storage", claims)
            nonce, r = attested(c, "POST", "/app/records", body)
            code, out = verify(env, front, "certified", nonce, "POST", "/app/records", body, r,
                               "--policy", p)
            check(code == 0, f"both hops certified, tested, HIPAA: {out}")
            h.log("a HIPAA policy: refused with an uncertified back-end, met once it is certified")

            nonce_s, rs = summary(c, "GET", "/app/records?id=7", sent_policy)
            code, out = verify(env, front, "summary", nonce_s, "GET", "/app/records?id=7", b"",
                               rs, "--policy", p)
            check(code == 0, f"the summary statement: {out}")
            said = json.loads(out[out.index("{"):])
            check(said["mode"] == "summary" and said["hops"] == [] and said["calls"] == 1,
                  f"a summary names no hop: {said}")
            # held against a weaker policy than the one the front-end checked
            weaker = policy_file(env, "weaker", {"issuers": [os.path.join(sup, "ci_cert.pem")],
                                                 "claims": ["tested"]})
            code, out = verify(env, front, "summary-weaker", nonce_s, "GET",
                               "/app/records?id=7", b"", rs, "--policy", weaker)
            check(code == 1 and "another policy" in out, f"another policy's summary: {out}")
            # a malformed policy header is refused before anything runs
            bad = c.request("GET", "/app/records?id=7", headers={
                "x-consort-attest": secrets.token_hex(16),
                "x-consort-attest-policy": base64.b64encode(b'{"claims": ["tested"]}').decode()})
            check(bad.status == 400 and "without" in bad.body.decode(),
                  f"claims without issuers in the policy header: {bad!r}")
            h.log("summary statements: the client's policy checked by the front-end, "
                  "back-ends by digest")

            # without a statement asked for, the calls ask for none either
            r2 = c.request("POST", "/app/records", body=json.dumps(
                {"id": 8, "record": "another"}).encode())
            check(r2.status == 200 and "x-consort-handling-statement" not in r2.headers,
                  f"an unattested write: {r2!r}")

            # attack: the members (or whoever controls them) bind a name to a
            # service the code pinned another certificate for: refused before
            # anything is sent
            pinned_app = os.path.join(os.path.dirname(os.path.dirname(env.app)), "tests",
                                      "pinned_app.so")
            check(os.path.exists(pinned_app), f"not built: {pinned_app}")
            with env.sandbox(nodes=1, name="pinned", extra_args=["--app", pinned_app]) as pin:
                bind_storage(pin, back)
                pc = pin.client(0)
                try:
                    rp = pc.get("/app/pinned")
                finally:
                    pc.close()
                check(rp.status == 403 and "does not pin" in rp.body.decode(),
                      f"a call to a binding the code does not pin: {rp!r}")
                h.log("a pinned egress refuses the certificate the members bound instead")

            # the members can take egress away again
            _, state = front.pass_proposal({"actions": [{"name": "remove_egress_service",
                                                         "args": {"name": "storage"}}]})
            check(state == "Accepted", f"remove_egress_service: {state}")
            r3 = c.request("POST", "/app/records", body=body)
            check(r3.status == 404 and "bound no address" in r3.body.decode(),
                  f"a call after the binding was removed: {r3!r}")
        finally:
            c.close()


if __name__ == "__main__":
    sys.exit(h.main([test_composed]))
