"""The Python client against a live 3-node sandbox: HTTPS pinned to the
service certificate as user and member, writes on the leader and a
follower, waiting for commit, receipts verified by the package and by
`consort receipt verify` (the same verdict on every tampered variant),
handling statements from live nodes (single and batch-signed) against
`consort e2e verify`, and governance signed in Python (propose, vote,
withdraw) accepted by the service.

    python3 python/tests/test_live_client.py --consort build/tools/consort \\
        --consortd build/tools/consortd --app build/samples/logging.so
"""

import concurrent.futures
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

import agreement
from consort import (Client, ConsortError, HttpError, Member, cbor, e2e, gov, receipt,
                     x509util)

sys.path.insert(0, os.path.join(os.path.dirname(agreement.HERE), "..", "tests", "integration"))
import consort_harness as h  # noqa: E402

ARGS, UNITTEST_ARGV = agreement.parse_args() if __name__ == "__main__" else (None, None)


class Live(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ.setdefault("CONSORT_LOG", "warn")
        cls.env = h.Env(ARGS, "python-client")
        cls.sb = cls.env.sandbox(nodes=3)
        cls.ws = cls.sb.workspace
        cls.c = agreement.CVerifier(ARGS.consort, tempfile.mkdtemp(dir=cls.env.root))
        with open(cls.sb.service_cert) as f:
            cls.service_pem = f.read()
        cls.leader = cls.sb.wait_leader()
        cls.follower = next(i for i in range(3) if i != cls.leader)

    @classmethod
    def tearDownClass(cls):
        failed = any(not r for r in getattr(cls, "_results", []))
        cls.sb.stop(check_clean=not failed)
        if not failed and not ARGS.keep:
            shutil.rmtree(cls.env.root, ignore_errors=True)
        else:
            print(f"files kept in {cls.env.root}", file=sys.stderr)

    def run(self, result=None):
        result = super().run(result)
        type(self)._results = getattr(type(self), "_results", []) + [
            result.wasSuccessful() if result else True]
        return result

    def wait_applied(self, client, txid):
        """Until the node of `client` has committed and applied txid (GET /node/commit)."""
        seqno = receipt.parse_txid(txid)[1]
        h.wait_until(lambda: receipt.parse_txid(client.commit())[1] >= seqno, 30,
                     f"{client.address} applying {txid}")

    def client(self, i, identity="user0"):
        return Client.from_workspace(self.ws, identity, node=i)

    # ------------------------------------------------------------ HTTPS

    def test_https_pinned_as_user_and_member(self):
        anyone = self.client(0, None)
        self.assertEqual(anyone.get_json("/node/state")["state"], "PartOfNetwork")
        net = anyone.get_json("/node/network")
        self.assertEqual(x509util.load_certificate(net["service_certificate"]),
                         x509util.load_certificate(self.service_pem))
        # the application refuses a caller without certificate, and a member is no user
        self.assertEqual(anyone.request("GET", "/app/log/private?id=1").status, 401)
        member = self.client(0, "member0")
        self.assertEqual(member.request("GET", "/app/log/private?id=1").status, 403)
        # a client pinning another service's certificate does not talk to this one
        other = tempfile.mkdtemp(dir=self.env.root)
        import fakeservice
        with open(os.path.join(other, "svc.pem"), "w") as f:
            f.write(fakeservice.Service().pem)
        wrong = Client(self.sb.address(0), os.path.join(other, "svc.pem"))
        with self.assertRaises(ConsortError) as cm:
            wrong.get_json("/node/state")
        self.assertEqual(cm.exception.kind, "BAD_CERTIFICATE", str(cm.exception))

    def test_write_wait_for_commit_and_read_on_every_node(self):
        for i, msg_id in ((self.leader, 101), (self.follower, 102)):
            r = self.client(i).post_json("/app/log/private", {"id": msg_id, "msg": f"m{msg_id}"})
            self.assertEqual(r.status, 200)
            receipt.parse_txid(r.txid)
            self.assertEqual(self.client(i, None).wait_for_commit(r.txid), "Committed")
            for j in range(3):
                got = self.client(j).call("GET", f"/app/log/private?id={msg_id}",
                                          headers={"x-consort-min-txid": r.txid}).json()
                self.assertEqual(got["msg"], f"m{msg_id}")
        # a transaction id past the end may still commit: waiting for it times out
        term, seqno = receipt.parse_txid(self.client(0, None).commit())
        with self.assertRaises(ConsortError) as cm:
            self.client(0, None).wait_for_commit(f"{term}.{seqno + 1000}", timeout=3)
        self.assertEqual(cm.exception.kind, "TIMEOUT", str(cm.exception))
        # one whose seqno holds another term's entry never will: the wait ends at once
        t0 = time.monotonic()
        with self.assertRaises(ConsortError) as cm:
            self.client(0, None).wait_for_commit(f"{term + 7}.{seqno}", timeout=20)
        self.assertEqual(cm.exception.kind, "POLICY", str(cm.exception))
        self.assertIn("Invalid", str(cm.exception))
        self.assertLess(time.monotonic() - t0, 10)

    # ------------------------------------------------------------ receipts

    def test_receipts_agree_with_the_c_verifier(self):
        texts = []
        for k in range(3):
            node = (self.leader, self.follower, self.leader)[k]
            r = self.client(node).post_json("/app/log/public", {"id": 200 + k, "msg": f"r{k}"})
            text = self.client((node + 1) % 3).receipt(r.txid)
            rc = receipt.verify_receipt(text, self.service_pem, txid=r.txid)
            self.assertEqual(rc.txid, r.txid)
            texts.append(text)
        # a verified receipt from the client itself, with the expectations
        got = self.client(0).verified_receipt(json.loads(texts[0])["txid"],
                                              claims_digest=bytes(32))
        self.assertEqual(got.claims_digest, bytes(32))
        other_nodes = {json.loads(t)["node_certificate"] for t in texts}
        import fakeservice
        other_service = fakeservice.Service().pem
        checked = 0
        for text in texts:
            doc = json.loads(text)
            ok, why = self.c.receipt(text, self.service_pem)
            self.assertTrue(ok, why)
            self.assertTrue(agreement.py_receipt(text, self.service_pem)[0])
            for name, pem, kw in (("another service", other_service, {}),
                                  ("its txid", self.service_pem, {"txid": doc["txid"]}),
                                  ("another txid", self.service_pem, {"txid": "1.1"}),
                                  ("other claims", self.service_pem,
                                   {"claims_digest": "11" * 32})):
                self.assertEqual(self.c.receipt(text, pem, **kw)[0],
                                 agreement.py_receipt(text, pem, **kw)[0], name)
            node_pem = next((p for p in other_nodes if p != doc["node_certificate"]), None)
            for name, variant in agreement.receipt_variants(text, node_pem):
                cv, cwhy = self.c.receipt(variant, self.service_pem)
                pv, pwhy = agreement.py_receipt(variant, self.service_pem)
                self.assertEqual(pv, cv, f"{name}: python {pv} ({pwhy}), C {cv} ({cwhy})")
                checked += 1
        self.assertGreater(checked, 600)

    # ------------------------------------------------------------ handling statements

    def test_handling_statements_agree_with_the_c_verifier(self):
        code_id = self.client(0, None).get_json("/gov/service")["code_ids"][0]["code_id"]
        exchanges = []
        for i, (method, target, body) in enumerate((
                ("POST", "/app/log/private", b'{"id": 301, "msg": "attested"}'),
                ("GET", "/app/log/private?id=301", b""),
                ("GET", "/app/log/private?id=999999", b""))):
            node = (self.follower, self.leader, self.follower)[i]  # the write relayed
            r, nonce, stmt = self.client(node).attested_request(
                method, target, body or None,
                content_type="application/json" if body else None,
                headers={"x-consort-min-txid": self.client(0, None).commit()})
            self.assertIsNotNone(stmt, f"{method} {target}: no statement")
            exchanges.append(agreement.Exchange(e2e.statement_bytes(stmt), nonce, method,
                                                target, r.status, body, r.body))
        self.assertEqual(exchanges[2].status, 404)
        # batch-signed: concurrent requests answered in one turn of a node's loop
        # share a signature; ask until one statement names a batch of 2 or more
        batched = None
        cl = self.client(self.follower)
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            for _ in range(20):
                results = list(pool.map(lambda k: cl.attested_request(
                    "GET", f"/app/log/private?id={k}"), range(16)))
                for (r, nonce, stmt), k in zip(results, range(16)):
                    cose = e2e.statement_bytes(stmt)
                    if agreement.cose_parts(cose)[1][-70002][0] > 1:
                        batched = agreement.Exchange(cose, nonce, "GET",
                                                     f"/app/log/private?id={k}", r.status,
                                                     b"", r.body)
                        break
                if batched:
                    break
        self.assertIsNotNone(batched, "no batch of two or more statements in 320 requests")
        exchanges.append(batched)
        policies = (None, {"code_ids": [code_id]}, {"code_ids": ["00" * 32]})
        checked = 0
        for x in exchanges:
            ok, why = self.c.statement(x.stmt, self.service_pem, *x.args())
            self.assertTrue(ok, why)
            for p in policies:
                self.assertEqual(
                    self.c.statement(x.stmt, self.service_pem, *x.args(), policy=p)[0],
                    agreement.py_statement(x.stmt, self.service_pem, *x.args(), policy=p)[0],
                    f"policy {p}")
            for name, v in agreement.statement_variants(x):
                cv, cwhy = self.c.statement(v.stmt, self.service_pem, *v.args())
                pv, pwhy = agreement.py_statement(v.stmt, self.service_pem, *v.args())
                self.assertEqual(pv, cv, f"{name}: python {pv} ({pwhy}), C {cv} ({cwhy})")
                checked += 1
        self.assertGreater(checked, 800)
        # the client's one-call form
        r, report = self.client(0).verified_request("GET", "/app/log/private?id=301",
                                                    policy={"code_ids": [code_id]})
        self.assertEqual(report["code_ids"][0]["code_id"], code_id)
        self.assertEqual(report["mode"], "nested")

    # ------------------------------------------------------------ governance

    def test_governance_signed_in_python(self):
        m0 = Member.from_workspace(self.ws, "member0", node=self.follower)
        m1 = Member.from_workspace(self.ws, "member1", node=self.leader)
        before = self.client(0, None).get_json("/gov/service")["gov_request_window_s"]
        window = before + 60
        p = m0.propose([{"name": "set_gov_request_window", "args": {"seconds": window}}])
        self.assertEqual(p["state"], "Open")
        pid = p["proposal_id"]
        # the id is SHA-256(seqno || signature): it names this ledger position
        self.assertRegex(pid, r"^[0-9a-f]{64}$")
        self.assertEqual(m0.vote(pid, True)["state"], "Open")
        accepted = m1.vote(pid, True)
        self.assertEqual(accepted["state"], "Accepted")
        # a follower reads its own applied state: wait until it applied the ballot
        svc = self.client(self.follower, None)
        self.wait_applied(svc, accepted["transaction_id"])
        self.assertEqual(svc.get_json("/gov/service")["gov_request_window_s"], window)
        shown = m0.proposal(pid)  # m0 talks to the same follower
        self.assertEqual(shown["state"], "Accepted")
        self.assertEqual(sorted(b["member_id"] for b in shown["ballots"]),
                         sorted([m0.id, m1.id]))
        # a proposal withdrawn by its proposer; then no ballot is taken
        q = m1.propose({"actions": [{"name": "set_gov_request_window",
                                     "args": {"seconds": window + 1}}]})
        self.assertEqual(m1.withdraw(q["proposal_id"])["state"], "Withdrawn")
        with self.assertRaises(HttpError) as cm:
            m0.vote(q["proposal_id"], True)
        self.assertEqual(cm.exception.response.error_code(), "ProposalNotOpen")
        # the service's refusals of requests it must not take
        signed = gov.sign_request(m0.key, m0.cert, "proposal",
                                  {"actions": [{"name": "set_gov_request_window",
                                                "args": {"seconds": window + 2}}]})
        r = m0.submit(signed, "proposal")
        # the proposal id is SHA-256(seqno || signature), computed here from what was signed
        seqno = receipt.parse_txid(r["transaction_id"])[1]
        self.assertEqual(gov.proposal_id(seqno, cbor.loads(signed).value[3]), r["proposal_id"])
        signed = gov.sign_request(m0.key, m0.cert, "ballot", b'{"vote":true}', r["proposal_id"])
        m0.submit(signed, "ballot", r["proposal_id"])
        with self.assertRaises(HttpError) as cm:
            m0.submit(signed, "ballot", r["proposal_id"])  # the same request again
        self.assertEqual(cm.exception.response.error_code(), "ReplayedRequest")
        stale = gov.sign_request(m0.key, m0.cert, "ballot", b'{"vote":false}', r["proposal_id"],
                                 created_at=int(time.time()) - 2 * window)
        with self.assertRaises(HttpError) as cm:
            m0.submit(stale, "ballot", r["proposal_id"])
        self.assertEqual(cm.exception.response.error_code(), "StaleRequest")
        with self.assertRaises(HttpError) as cm:
            m1.withdraw(r["proposal_id"])
        self.assertEqual(cm.exception.response.error_code(), "NotProposer")
        # signed with member1's key under member0's id: refused
        forged = gov.sign_request(m1.key, m1.cert, "withdrawal", b"", r["proposal_id"])
        forged = forged.replace(m1.id.encode(), m0.id.encode())
        with self.assertRaises(HttpError) as cm:
            m0.submit(forged, "withdrawal", r["proposal_id"])
        self.assertEqual(cm.exception.response.error_code(), "InvalidSignature")
        # the C CLI decodes what Python signed and checks its signature
        path = os.path.join(self.env.root, "signed.cose")
        with open(path, "wb") as f:
            f.write(gov.sign_request(m0.key, m0.cert, "withdrawal", b"", r["proposal_id"]))
        code, out = h.run_cli(self.env, "gov", "submit", path, "--dry-run", "--member-cert",
                              os.path.join(self.ws, "member0_cert.pem"))
        self.assertEqual(code, 0, out)
        self.assertIn(r["proposal_id"], out)

    # ------------------------------------------------------------ composed services

    def test_nested_and_summary_statements_of_composed_services(self):
        """The composed sample (docs/e2e.md): storage and records, wired by
        their members through governance signed in Python; a write through
        records comes back with a statement nesting storage's, and a read with a
        summary statement; both verifiers agree on them and their variants."""
        app_dir = os.path.dirname(ARGS.app)
        apps = {n: os.path.join(app_dir, "composed", f"{n}.so") for n in ("storage", "records")}
        for path in apps.values():
            self.assertTrue(os.path.exists(path), f"the composed sample is not built: {path}")
        back = self.env.sandbox(nodes=1, name="storage", extra_args=["--app", apps["storage"]])
        try:
            front = self.env.sandbox(nodes=1, name="records",
                                     extra_args=["--app", apps["records"]])
            try:
                self.composed(back, front)
            finally:
                front.stop()
        finally:
            back.stop()

    def pass_in_python(self, sb, actions):
        m0 = Member.from_workspace(sb.workspace, "member0")
        m1 = Member.from_workspace(sb.workspace, "member1")
        pid = m0.propose(actions)["proposal_id"]
        m0.vote(pid, True)
        self.assertEqual(m1.vote(pid, True)["state"], "Accepted")

    def composed(self, back, front):
        with open(back.service_cert) as f:
            back_pem = f.read()
        with open(front.service_cert) as f:
            front_pem = f.read()
        self.pass_in_python(back, [{"name": "set_user", "args": {"cert": front_pem}}])
        self.pass_in_python(front, [{"name": "set_egress_service",
                                     "args": {"name": "storage", "address": back.address(0),
                                              "service_certificate": back_pem}}])
        ids = [Client.from_workspace(sb.workspace, None).get_json("/gov/service")
               ["code_ids"][0]["code_id"] for sb in (front, back)]
        c = Client.from_workspace(front.workspace)
        body = b'{"id": 7, "record": "a medical record"}'
        r, nonce, stmt = c.attested_request("POST", "/app/records", body,
                                            content_type="application/json")
        self.assertEqual(r.status, 200, r)
        x = agreement.Exchange(e2e.statement_bytes(stmt), nonce, "POST", "/app/records", 200,
                               body, r.body)
        report = e2e.verify_statement(x.stmt, front_pem, *x.args(), policy={"code_ids": ids})
        self.assertEqual([hop["service"] for hop in report["hops"]], ["storage"])
        for name, policy, want in (("both code ids", {"code_ids": ids}, True),
                                   ("the front-end's only", {"code_ids": ids[:1]}, False),
                                   ("no policy", None, True)):
            self.assertEqual(self.c.statement(x.stmt, front_pem, *x.args(), policy=policy)[0],
                             want, name)
            self.assertEqual(agreement.py_statement(x.stmt, front_pem, *x.args(),
                                                    policy=policy)[0], want, name)
        # a summary: the front-end checks storage against the client's policy itself
        import base64
        policy = {"code_ids": ids}
        rs, nonce_s, stmt_s = c.attested_request(
            "GET", "/app/records?id=7",
            headers={"x-consort-attest-policy": base64.b64encode(json.dumps(policy).encode())
                     .decode()})
        self.assertEqual(rs.status, 200, rs)
        xs = agreement.Exchange(e2e.statement_bytes(stmt_s), nonce_s, "GET", "/app/records?id=7",
                                200, b"", rs.body)
        self.assertEqual(e2e.verify_statement(xs.stmt, front_pem, *xs.args(),
                                              policy=policy)["mode"], "summary")
        self.assertFalse(self.c.statement(xs.stmt, front_pem, *xs.args(),
                                          policy={"code_ids": ids[::-1] + ["00" * 32]})[0])
        checked = 0
        for xx, p in ((x, {"code_ids": ids}), (xs, policy)):
            for name, v in agreement.statement_variants(xx, max_flips=400):
                cv, cwhy = self.c.statement(v.stmt, front_pem, *v.args(), policy=p)
                pv, pwhy = agreement.py_statement(v.stmt, front_pem, *v.args(), policy=p)
                self.assertEqual(pv, cv, f"{name}: python {pv} ({pwhy}), C {cv} ({cwhy})")
                checked += 1
        self.assertGreater(checked, 600)

    # ------------------------------------------------------------ docs/python.md

    def test_the_examples_of_docs_python_md(self):
        """Every ```python block of docs/python.md (not those marked no-run), in
        order and in one namespace, with this sandbox's workspace for /tmp/svc."""
        import contextlib
        import io
        import re
        doc = os.path.join(os.path.dirname(agreement.HERE), "..", "docs", "python.md")
        with open(doc) as f:
            blocks = re.findall(r"^```python\n(.*?)^```", f.read(), re.S | re.M)
        self.assertGreaterEqual(len(blocks), 6)
        ns = {}
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            for code in blocks:
                exec(compile(code.replace("/tmp/svc", self.ws), doc, "exec"), ns)
        text = out.getvalue()
        for want in ("PartOfNetwork", "Committed", "BAD_SIGNATURE", "Accepted", "Withdrawn"):
            self.assertIn(want, text)
        self.assertTrue(os.path.exists(os.path.join(self.ws, "proposal.cose")))
        code, out = h.run_cli(self.env, "gov", "submit", os.path.join(self.ws, "proposal.cose"),
                              "--workspace", self.ws)
        self.assertEqual(code, 0, out)
        self.assertIn('"Open"', out)


if __name__ == "__main__":
    agreement.run_tests(UNITTEST_ARGV)
