#!/usr/bin/env python3
"""Handling statements, end to end with real processes (docs/e2e.md): a
client that sends x-consort-attest gets the service's signed statement of
its request, its response, the code ids the service trusted and the
transaction it wrote, from whichever node answers (the leader, a follower
serving a read, a follower relaying a forwarded write), and `consort e2e
verify` accepts it. Each attack on it fails: a statement replayed for
another request (nonce), a statement held against another request body or
response, one checked against another service's certificate, and a service
whose code id carries no code certificate when the client's policy wants
one (an uncertified back-end). A malformed attest header is refused before
anything runs; without the header no statement is made."""

import json
import os
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402


def attested(client, method, path, body=None):
    nonce = secrets.token_hex(16)
    r = client.request(method, path, body=body, headers={"x-consort-attest": nonce})
    return nonce, r


def verify(env, sb, name, nonce, method, target, req_body, r, *extra, cert=None):
    """`consort e2e verify` on r's statement; returns (exit code, output)."""
    d = env.path(f"e2e-{name}")
    os.makedirs(d, exist_ok=True)
    paths = {k: os.path.join(d, k) for k in ("statement", "request", "response")}
    with open(paths["statement"], "w") as f:
        f.write(r.headers.get("x-consort-handling-statement", ""))
    with open(paths["request"], "wb") as f:
        f.write(req_body)
    with open(paths["response"], "wb") as f:
        f.write(r.body)
    return h.run_cli(env, "e2e", "verify", "--service-cert", cert or sb.service_cert,
                     "--nonce", nonce, "--method", method, "--target", target,
                     "--request-body", paths["request"], "--status", str(r.status),
                     "--response-body", paths["response"], *extra, paths["statement"])


def test_handling_statements(env):
    with env.sandbox(nodes=3) as sb:
        leader = sb.wait_leader()
        follower = next(i for i in range(3) if i != leader)
        body = json.dumps({"id": 7, "msg": "a medical record"}).encode()
        c = sb.client(leader)
        f = sb.client(follower)
        try:
            # a write answered by the leader
            nonce, r = attested(c, "POST", "/app/log/private", body)
            check(r.status == 200 and "x-consort-handling-statement" in r.headers,
                  f"no statement on the write: {r!r} {r.headers}")
            code, out = verify(env, sb, "write", nonce, "POST", "/app/log/private", body, r)
            check(code == 0, f"the write's statement does not verify: {out}")
            said = json.loads(out[out.index("{"):])
            check(said["written"] == r.txid, f"statement says written {said['written']}, the "
                                             f"answer {r.txid}")
            check(said["code_ids"] and not said["code_ids"][0]["certified"], f"{said}")
            h.log(f"write {r.txid}: statement by node {said['node']} verifies")

            # attacks: replay, other body, other response, another service's certificate
            code, out = verify(env, sb, "replay", secrets.token_hex(16), "POST",
                               "/app/log/private", body, r)
            check(code == 1 and "another request" in out, f"a replayed statement: {out}")
            code, out = verify(env, sb, "body", nonce, "POST", "/app/log/private",
                               body.replace(b"medical", b"student"), r)
            check(code == 1 and "request digest" in out, f"another request body: {out}")
            code, out = verify(env, sb, "target", nonce, "POST", "/app/log/public", body, r)
            check(code == 1 and "request digest" in out, f"another target: {out}")
            r_forged = h.Response(r.status, r.headers, b'{"forged": true}')
            code, out = verify(env, sb, "response", nonce, "POST", "/app/log/private", body,
                               r_forged)
            check(code == 1 and "response digest" in out, f"another response: {out}")
            code, out = verify(env, sb, "service", nonce, "POST", "/app/log/private", body, r,
                               cert=sb.user_cert)
            check(code == 1 and "another service" in out, f"another service's cert: {out}")

            # a read served by a follower, and a write it relays to the leader
            h.wait_until(lambda: f.get(f"/app/log/private?id=7").status == 200, 30,
                         "the follower to apply the write")
            nonce, r = attested(f, "GET", "/app/log/private?id=7")
            code, out = verify(env, sb, "read", nonce, "GET", "/app/log/private?id=7", b"", r)
            check(r.status == 200 and code == 0, f"the follower's read: {r!r}: {out}")
            check(json.loads(out[out.index("{"):])["node"] != said["node"],
                  "the follower's statement names the leader")
            body2 = json.dumps({"id": 8, "msg": "relayed"}).encode()
            nonce, r = attested(f, "POST", "/app/log/private", body2)
            code, out = verify(env, sb, "relayed", nonce, "POST", "/app/log/private", body2, r)
            check(r.status == 200 and code == 0, f"the relayed write: {r!r}: {out}")

            # a policy that wants certified code: this service's code id has none
            pol = env.path("e2e-policy.json")
            with open(pol, "w") as fh:
                json.dump({"issuers": [sb.service_cert], "claims": ["tested"]}, fh)
            code, out = verify(env, sb, "relayed-policy", nonce, "POST", "/app/log/private",
                               body2, r, "--policy", pol)
            check(code == 1 and "has no code certificate" in out,
                  f"an uncertified code id passed a policy that wants certificates: {out}")
            with open(pol, "w") as fh:
                json.dump({"code_ids": ["00" * 32]}, fh)
            code, out = verify(env, sb, "relayed-ids", nonce, "POST", "/app/log/private", body2,
                               r, "--policy", pol)
            check(code == 1 and "not one the policy allows" in out, f"code id policy: {out}")

            # a malformed attest header: refused before anything runs; none: no statement
            r = c.request("POST", "/app/log/private", body=json.dumps({"id": 9, "msg": "x"}),
                          headers={"x-consort-attest": "not hex"})
            check(r.status == 400 and r.txid is None, f"a bad attest header: {r!r}")
            r = c.request("GET", "/app/log/private?id=7")
            check(r.status == 200 and "x-consort-handling-statement" not in r.headers,
                  f"a statement nobody asked for: {r.headers}")
        finally:
            c.close()
            f.close()


if __name__ == "__main__":
    sys.exit(h.main([test_handling_statements]))
