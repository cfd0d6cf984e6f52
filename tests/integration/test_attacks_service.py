#!/usr/bin/env python3
"""Host-attack catalogue, the service's own answers (DESIGN.md "What the host may do":
present a receipt from another service; vote as someone who is not a member).

- receipt from another service: two services (one node each) that both commit a
  transaction with the same id; the receipt the other service signed for that id is
  presented as proof of this service's transaction. `consort receipt verify`, pinned to
  this service's certificate, refuses it saying its node certificate does not chain to
  the pinned service certificate; this service's own receipt verifies, and the other
  receipt verifies under its own service's certificate (the controls).
- vote as a non-member: a ballot signed by a key and certificate that are not a
  member's, for an open proposal: refused with NotAMember (HTTP 403), the proposal
  keeps only the members' ballots and its state; a member's ballot then passes it.
Honest clients are served throughout."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

# `consort receipt verify`'s refusal of a receipt signed under another service
# (tools/consort/cmd_receipt.c, src/store/receipt_verify.c):
NOT_THIS_SERVICE = "node certificate does not chain to the service certificate"
NOT_A_MEMBER = "NotAMember"


def one_receipt(sb, k):
    c = sb.client(0)
    try:
        r = c.post_json("/app/log/private", {"id": k, "msg": f"record {k}"})
        check(r.status == 200 and r.txid, f"write {k}: {r!r}")
        return r.txid, h.fetch_receipt(c, r.txid)
    finally:
        c.close()


# A signature entry after every transaction and none on a timer: both services then
# give the k-th write the same transaction id, whatever the timing.
SIGN_EACH_TX = ("--node-option", "sig_interval_tx=1", "--node-option", "sig_interval_ms=3600000")


def test_attack_receipt_from_other_service(env):
    with env.sandbox(1, SIGN_EACH_TX, name="ours") as ours, \
            env.sandbox(1, SIGN_EACH_TX, name="theirs") as theirs:
        # the same transaction id in both services (each was created the same way)
        pairs = {}
        for k in range(1, 40):
            t1, rec1 = one_receipt(ours, k)
            t2, rec2 = one_receipt(theirs, k)
            if t1 == t2:
                pairs[t1] = (rec1, rec2)
                break
        check(pairs, "the two services never committed the same transaction id")
        txid, (genuine, foreign) = next(iter(pairs.items()))
        gp, fp = env.path("genuine.json"), env.path("foreign.json")
        for path, doc in ((gp, genuine), (fp, foreign)):
            with open(path, "w") as f:
                json.dump(doc, f)
        with h.HonestClients(ours, [0]) as honest:
            code, out = h.receipt_verify(env, gp, ours.service_cert, "--txid", txid)
            check(code == 0, f"this service's own receipt for {txid} does not verify: {out}")
            code, out = h.receipt_verify(env, fp, ours.service_cert, "--txid", txid)
            check(code == 1 and NOT_THIS_SERVICE in out,
                  f"the other service's receipt for {txid} was not refused with "
                  f"'{NOT_THIS_SERVICE}': exit {code}: {out}")
            h.log(f"receipt for {txid} from the other service refused: {out.strip()[:240]}")
            code, out = h.receipt_verify(env, fp, theirs.service_cert, "--txid", txid)
            check(code == 0, f"the other service's receipt does not verify under its own "
                             f"certificate (the refusal above would prove nothing): {out}")
        honest.check()


def stranger(env):
    key, cert = env.path("stranger_privk.pem"), env.path("stranger_cert.pem")
    code, out = h.run_cli(env, "keygen", "--priv", key, "--pub", env.path("stranger_pubk.pem"))
    check(code == 0, f"keygen: {out}")
    p = subprocess.run(["openssl", "req", "-x509", "-new", "-key", key, "-subj",
                        "/CN=member0", "-days", "2", "-out", cert], capture_output=True)
    check(p.returncode == 0, f"openssl: {p.stderr!r}")
    return cert, key


def test_attack_vote_as_non_member(env):
    with env.sandbox(3) as sb:
        proposal = env.path("proposal.json")
        with open(proposal, "w") as f:
            json.dump({"actions": [{"name": "set_gov_request_window",
                                    "args": {"seconds": 600}}]}, f)
        code, out = sb.gov(0, "propose", proposal)
        check(code == 0, f"propose: {out}")
        pid = json.loads(out)["proposal_id"]
        cert, key = stranger(env)  # a certificate that even claims a member's name
        node = ["--node", f"https://{sb.address(sb.live_index())}", "--service-cert",
                sb.service_cert]
        with h.HonestClients(sb, range(3)) as honest:
            for vote in ("accept", "reject"):
                ballot = env.path(f"ballot-{vote}.cose")
                code, out = h.run_cli(env, "gov", "sign", "--type", "ballot", "--proposal-id",
                                      pid, "--vote", vote, "--out", ballot, "--member-cert",
                                      cert, "--member-key", key)
                check(code == 0, f"gov sign: {out}")
                code, out = h.run_cli(env, "gov", "submit", ballot, *node)
                check(code == 1 and NOT_A_MEMBER in out,
                      f"a non-member's ballot ({vote}) was not refused with {NOT_A_MEMBER}: "
                      f"exit {code}: {out}")
                h.log(f"non-member ballot ({vote}) refused: {out.strip()[:200]}")
            code, out = sb.gov(0, "show", pid)
            check(code == 0, f"gov show {pid}: {out}")
            doc = json.loads(out)
            check(doc.get("state") == "Open", f"the proposal is no longer Open: {doc}")
            check(not doc.get("ballots"), f"the proposal holds ballots: {doc.get('ballots')}")
            # the control: two members' ballots pass it
            for m in (0, 1):
                code, out = sb.gov(m, "vote", pid, "--accept")
                check(code == 0, f"member{m} voting: {out}")
            check(json.loads(out)["state"] == "Accepted", f"the members' votes: {out}")
        honest.check()


if __name__ == "__main__":
    sys.exit(h.main([test_attack_receipt_from_other_service, test_attack_vote_as_non_member]))
