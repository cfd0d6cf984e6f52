#!/usr/bin/env python3
"""Governance refusals with real processes (docs/governance.md): a 3-node sandbox
(opened by its members through governance) refuses a non-member's proposal, a
replayed ballot and a stale request, each with its own error code; a constitution
that loops forever or allocates without bound is refused when proposed (the
proposal Fails saying why) and a proposal whose validation runs away is refused
with a clear error. After each, the nodes still serve writes and governance still
works."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check, log  # noqa: E402

TAIL = ("function resolve(p, a, v, m)\n"
        "  local n = 0 for _, b in ipairs(v) do if b.vote then n = n + 1 end end\n"
        "  if 2 * n > #m then return 'Accepted' end return 'Open' end\n"
        "function apply(p, id) for _, a in ipairs(p.actions) do actions[a.name](a.args) end end\n")


def still_serving(sb, k):
    c = sb.client(sb.live_index())
    try:
        r = c.post_json("/app/log/public", {"id": k, "msg": f"after {k}"})
        check(r.status == 200, f"a write after refusal {k}: {r!r}")
    finally:
        c.close()


def refused(code, out, error):
    check(code == 1 and error in out, f"expected {error}: exit {code}: {out}")


def test_refusals(env):
    with env.sandbox(nodes=3) as sb:
        ws = sb.workspace
        check(sb.gov_service()["service_status"] == "Open", "the sandbox did not open the service")
        # a stranger signs a proposal
        stranger_key, stranger_cert = env.path("stranger_privk.pem"), env.path("stranger_cert.pem")
        code, out = h.run_cli(env, "keygen", "--priv", stranger_key, "--pub",
                              env.path("stranger_pubk.pem"))
        check(code == 0, f"keygen: {out}")
        p = h.subprocess.run(["openssl", "req", "-x509", "-new", "-key", stranger_key, "-subj",
                              "/CN=stranger", "-days", "2", "-out", stranger_cert],
                             capture_output=True)
        check(p.returncode == 0, f"openssl: {p.stderr!r}")
        proposal = env.path("open.json")
        with open(proposal, "w") as f:
            json.dump({"actions": [{"name": "set_gov_request_window",
                                    "args": {"seconds": 600}}]}, f)
        i = sb.live_index()
        code, out = h.run_cli(env, "gov", "propose", proposal, "--node",
                              f"https://{sb.address(i)}", "--service-cert", sb.service_cert,
                              "--member-cert", stranger_cert, "--member-key", stranger_key)
        refused(code, out, "NotAMember")
        still_serving(sb, 1)
        # a ballot replayed
        code, out = sb.gov(0, "propose", proposal)
        check(code == 0, f"propose: {out}")
        pid = json.loads(out)["proposal_id"]
        ballot = env.path("ballot.cose")
        code, out = h.run_cli(env, "gov", "sign", "--type", "ballot", "--proposal-id", pid,
                              "--vote", "reject", "--out", ballot, "--workspace", ws,
                              "--as", "member2")
        check(code == 0, f"gov sign: {out}")
        node = ["--node", f"https://{sb.address(sb.live_index())}", "--service-cert",
                sb.service_cert]
        code, out = h.run_cli(env, "gov", "submit", ballot, *node)
        check(code == 0 and '"Open"' in out, f"the first ballot: {out}")
        code, out = h.run_cli(env, "gov", "submit", ballot, *node)
        refused(code, out, "ReplayedRequest")
        still_serving(sb, 2)
        # a stale request: signed an hour ago
        stale = env.path("stale.cose")
        code, out = h.run_cli(env, "gov", "sign", "--type", "ballot", "--proposal-id", pid,
                              "--vote", "accept", "--out", stale, "--workspace", ws, "--as",
                              "member1", "--created-at", str(int(time.time()) - 3600))
        check(code == 0, f"gov sign: {out}")
        code, out = h.run_cli(env, "gov", "submit", stale, *node)
        refused(code, out, "StaleRequest")
        still_serving(sb, 3)
        # constitutions that loop or allocate without bound: refused when proposed
        for k, (body, why) in enumerate([
                ("function validate(p) while true do end end\n", "instruction budget"),
                ("function validate(p) local t = {} local i = 0 while true do i = i + 1 "
                 "t[i] = string.rep('x', 4096) .. i end end\n", "memory limit")]):
            _, state = sb.pass_proposal({"actions": [{"name": "set_constitution",
                                                      "args": {"script": body + TAIL}}]})
            check(state == "Failed", f"a runaway constitution was {state}")
            code, out = sb.gov(0, "list")
            show = [p for p in json.loads(out)["proposals"] if p["state"] == "Failed"]
            check(len(show) == k + 1, f"failed proposals: {out}")
            still_serving(sb, 10 + k)
        # one that runs away only on set_user proposals is installed ...
        script = ("function validate(p)\n if p.actions[1].name == 'set_user' then\n"
                  "  while true do end end\n return true end\n" + TAIL)
        _, state = sb.pass_proposal({"actions": [{"name": "set_constitution",
                                                  "args": {"script": script}}]})
        check(state == "Accepted", f"the selective constitution was {state}")
        bad = env.path("set_user.json")
        with open(bad, "w") as f:
            json.dump({"actions": [{"name": "set_user", "args": {"cert": "x"}}]}, f)
        t0 = time.monotonic()
        code, out = sb.gov(0, "propose", bad)
        refused(code, out, "ProposalInvalid")
        check("instruction budget" in out, f"the refusal does not say why: {out}")
        log(f"a runaway validate was refused in {time.monotonic() - t0:.2f} s")
        still_serving(sb, 20)
        # ... and governance can still replace it
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src",
                               "gov", "default_constitution.lua")) as f:
            default = f.read()
        _, state = sb.pass_proposal({"actions": [{"name": "set_constitution",
                                                  "args": {"script": default}}]})
        check(state == "Accepted", f"restoring the default constitution: {state}")
        code, out = sb.gov(0, "constitution")
        check(code == 0 and out.strip() == default.strip(), "the default is not back")


if __name__ == "__main__":
    sys.exit(h.main([test_refusals]))
