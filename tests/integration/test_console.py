"""The web console (docs/operating.md "Web console") on a 3-node sandbox.

Part one, over HTTPS with python: /console serves exactly the files of
console/ compiled into consortd, with their Content-Type, a strict
Content-Security-Policy, cache validators (ETag, 304 on If-None-Match) and
nothing else: unknown paths, traversal attempts and other methods are
refused. GET /node/overview lists the three nodes with their Raft roles,
the leader, platform, code id and verified evidence, agreeing with
/node/network, /node/quotes and /node/state.

Part two, in headless Chromium driven over the DevTools protocol (cdp.py):
the browser trusts only the service certificate's key
(--ignore-certificate-errors-spki-list, with its own profile); it opens
/console and must list the three nodes with their roles, then open a
proposal that two members voted on (one accept, one reject) from the
proposal list and show both votes, each view rendered by the console's
JavaScript under its CSP with no violation and no script error. Screenshots
are kept in <build dir>/test-artifacts/console/ (the path is printed).
Chromium runs with --no-sandbox when the test runs as root: its own sandbox
refuses to start as root. Without Chromium installed, part two is skipped
with its reason (CONSORT_NO_SKIP=1 makes that a failure; scripts/install-deps
installs the Debian package `chromium`).
"""

import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402
import consort_harness as h  # noqa: E402

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "console")
FILES = {  # what console_assets.cmake embeds, and the Content-Type of each
    "index.html": "text/html; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def artifacts_dir(env):
    """<build dir>/test-artifacts/console (the build dir: two levels above consortd)."""
    build = os.path.dirname(os.path.dirname(env.consortd))
    d = os.path.join(build, "test-artifacts", "console")
    os.makedirs(d, exist_ok=True)
    return d


def source_bytes(name):
    with open(os.path.join(SOURCE, name), "rb") as f:
        return f.read()


def check_files(c):
    etags = {}
    for name, ctype in FILES.items():
        want = source_bytes(name)
        for path in [f"/console/{name}"] + (["/console", "/console/"] if name == "index.html"
                                            else []):
            r = c.get(path)
            h.check(r.status == 200, f"GET {path}: {r!r}")
            h.check(r.body == want, f"GET {path}: the body is not console/{name} "
                                    f"({len(r.body)} bytes, the file {len(want)})")
            h.check(r.headers.get("content-type") == ctype,
                    f"GET {path}: Content-Type {r.headers.get('content-type')!r}, want {ctype!r}")
            h.check(r.headers.get("content-security-policy") == CSP,
                    f"GET {path}: CSP {r.headers.get('content-security-policy')!r}")
            h.check(r.headers.get("x-content-type-options") == "nosniff", f"{path}: nosniff")
            h.check(r.headers.get("cache-control") == "no-cache", f"{path}: Cache-Control")
            etag = r.headers.get("etag", "")
            h.check(len(etag) == 34 and etag.startswith('"') and etag.endswith('"'),
                    f"GET {path}: ETag {etag!r}")
            etags[name] = etag
    h.check(len(set(etags.values())) == len(FILES), f"one ETag per file: {etags}")
    # a revalidation: 304 without a body for the current tag (also in a list,
    # and weak), 200 for another
    js = "/console/console.js"
    for inm in [etags["console.js"], f'"0000", {etags["console.js"]}', "W/" + etags["console.js"],
                "*"]:
        r = c.request("GET", js, headers={"If-None-Match": inm})
        h.check(r.status == 304 and r.body == b"", f"If-None-Match {inm}: {r!r}")
        h.check(r.headers.get("etag") == etags["console.js"], f"304 ETag: {r.headers}")
        h.check(r.headers.get("content-security-policy") == CSP, f"304 CSP: {r.headers}")
    for inm in [etags["index.html"], '"' + "0" * 32 + '"', "garbage"]:
        r = c.request("GET", js, headers={"If-None-Match": inm})
        h.check(r.status == 200 and r.body == source_bytes("console.js"),
                f"If-None-Match {inm} (not console.js's tag): {r!r}")
    # only the table's files: no file system behind /console
    for path in ["/console/nope.js", "/console/index.htm", "/console/INDEX.HTML",
                 "/console/../node/state", "/console/%2e%2e/node/state",
                 "/console/..%2fnode%2fstate", "/console//index.html", "/console/./console.js",
                 "/console/console.js/", "/console/console.js%00.html",
                 "/console/../../../../etc/passwd", "/console/CMakeLists.txt",
                 "/consolex", "/console.js"]:
        r = c.get(path)
        h.check(r.status == 404 and r.json()["error"]["code"] == "ResourceNotFound",
                f"GET {path}: {r!r}")
        h.check(b"<html" not in r.body.lower(), f"GET {path} served a page: {r!r}")
    for method in ["POST", "PUT", "DELETE"]:
        r = c.request(method, "/console/console.js", body=b"x")
        h.check(r.status == 405 and r.headers.get("allow") == "GET", f"{method} console.js: {r!r}")


def check_overview(sb):
    c = sb.client(0, cert=False)
    try:
        ov = c.get_json("/node/overview")
        network = c.get_json("/node/network")
        quotes = {q["node_id"]: q for q in c.get_json("/node/quotes")["quotes"]}
    finally:
        c.close()
    ids = sorted(n["node_id"] for n in network["nodes"])
    h.check(sorted(n["node_id"] for n in ov["nodes"]) == ids and len(ids) == 3,
            f"/node/overview nodes {ov['nodes']} vs /node/network {ids}")
    leader = sb.wait_leader()
    lc = sb.client(leader, cert=False)
    try:
        leader_id = lc.get_json("/node/state")["node_id"]
    finally:
        lc.close()
    h.check(ov["leader_id"] == leader_id, f"leader_id {ov['leader_id']}, /node/state {leader_id}")
    h.check(isinstance(ov["raft_term"], int) and ov["raft_term"] >= 1, f"raft_term: {ov}")
    for n in ov["nodes"]:
        q = quotes[n["node_id"]]
        h.check(n["raft_role"] == "voter", f"{n['node_id']}: role {n['raft_role']}")
        h.check(n["is_leader"] == (n["node_id"] == leader_id), f"is_leader: {n}")
        h.check(n["status"] == "Trusted", f"status: {n}")
        h.check(n["platform"] == q["platform"] == "virtual", f"platform: {n} vs {q['platform']}")
        h.check(n["code_id"] == q["code_id"], f"code id: {n} vs {q['code_id']}")
        a = n["attestation"]
        h.check(a["verified"] is True and a["debug"] is False and
                isinstance(a["security_version"], int),
                f"{n['node_id']}: attestation {a}")
    return ov, leader_id


def start_update(sb):
    """An accepted rolling update from the nodes' code id O to a code id N no node
    runs yet: it stays "mixed", needing 3 N voters (cutover_quorum 3)."""
    c = sb.client(0, cert=False)
    try:
        old = c.get_json("/node/quotes")["quotes"][0]["code_id"]
    finally:
        c.close()
    new = hashlib.sha256(b"test_console: a code id no node runs").hexdigest()
    pid, state = sb.pass_proposal({"actions": [{"name": "add_code_id", "args": {
        "code_id": new, "successor_of": old, "cutover_quorum": 3, "grace_period_s": 30,
        "tolerate_failures": 0}}]})
    h.check(state == "Accepted", f"the update proposal {pid}: {state}")
    update = h.wait_until(lambda: [u for u in sb.gov_service()["updates"]
                                   if u["code_id"] == new and u.get("state") == "mixed"],
                          30, "the update to be mixed")[0]
    return new, old, update


def open_proposal(sb):
    """A proposal member0 made, member0 accepted and member1 rejected: still Open
    (the default constitution needs a majority of the 3 members)."""
    path = os.path.join(os.path.dirname(sb.workspace), "console-proposal.json")
    with open(path, "w") as f:
        json.dump({"actions": [{"name": "set_gov_request_window", "args": {"seconds": 900}}]}, f)
    code, out = sb.gov(0, "propose", path)
    h.check(code == 0, f"propose: {out}")
    pid = json.loads(out)["proposal_id"]
    votes = {}
    for member, accept in [(0, True), (1, False)]:
        code, out = sb.gov(member, "vote", pid, "--accept" if accept else "--reject")
        h.check(code == 0, f"member{member} voting on {pid}: {out}")
        votes[member] = accept
    c = sb.client(0, cert=False)
    try:
        doc = c.get_json(f"/gov/proposals/{pid}")
    finally:
        c.close()
    h.check(doc["state"] == "Open" and len(doc["ballots"]) == 2, f"proposal: {doc}")
    ballots = {b["member_id"]: b["vote"] for b in doc["ballots"]}
    return pid, ballots, doc["seqno"]


INSTALL_CSP_PROBE = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""

ROWS = "Array.from(document.querySelectorAll('{sel}')).map((r) => r.dataset.{key})"


def check_browser(env, sb, ov, leader_id, pid, ballots, pid_seqno, new_code, old_code):
    spki = cdp.spki_sha256_b64(sb.service_cert)
    out = artifacts_dir(env)
    base = f"https://{sb.address(0)}"
    # the browser checks certificates: without the service key it refuses the node
    with cdp.Browser(log_path=os.path.join(out, "chromium-untrusting.log")) as b:
        try:
            b.navigate(base + "/console")
            refused = None
        except cdp.CdpError as e:
            refused = str(e)
        h.check(refused is not None and "ERR_CERT" in refused,
                f"a browser without the service key opened the console: {refused}")
    with cdp.Browser(trust_spki=[spki], log_path=os.path.join(out, "chromium.log")) as b:
        b.call("Page.addScriptToEvaluateOnNewDocument", source=INSTALL_CSP_PROBE)
        b.navigate(base + "/console")
        rows = b.wait_for(f"(() => {{ const r = {ROWS.format(sel='#nodes tbody tr', key='nodeId')};"
                          " return r.length === 3 ? r : null; })()", 60, "three nodes listed")
        h.check(sorted(rows) == sorted(n["node_id"] for n in ov["nodes"]),
                f"the console lists {rows}")
        leader_cell = b.evaluate(
            f"document.querySelector('#nodes tr[data-node-id=\"{leader_id}\"] .badge').textContent")
        h.check(leader_cell == "leader", f"the leader's row shows {leader_cell!r}")
        roles = b.evaluate("Array.from(document.querySelectorAll('#nodes tbody tr td:nth-child(3)'))"
                           ".map((td) => td.textContent)")
        h.check(sum("voter" in r for r in roles) == 3, f"roles shown: {roles}")
        shot = b.screenshot(os.path.join(out, "console-network.png"))
        h.log(f"screenshot: {shot}")

        # the proposal list, then the proposal opened from it with a click
        b.evaluate("location.hash = '#proposals'")
        b.wait_for(f"!!document.querySelector('#proposals tr[data-proposal-id=\"{pid}\"] a')", 30,
                   "the proposal listed")
        b.evaluate(f"document.querySelector('#proposals tr[data-proposal-id=\"{pid}\"] a').click()")
        shown = b.wait_for(
            f"(() => {{ const r = {ROWS.format(sel='#ballots tbody tr', key='memberId')};"
            " return r.length === 2 ? r : null; })()", 30, "the proposal's two votes")
        h.check(b.evaluate("location.hash") == f"#proposal/{pid}", "the link opened the proposal")
        h.check(sorted(shown) == sorted(ballots), f"votes shown for {shown}, cast by {list(ballots)}")
        for member_id, vote in ballots.items():
            text = b.evaluate(f"document.querySelector('#ballots tr[data-member-id=\"{member_id}\"]"
                              " td:nth-child(2)').textContent")
            h.check(text == ("accept" if vote else "reject"),
                    f"member {member_id} voted {vote}, the console shows {text!r}")
        state = b.evaluate("document.getElementById('proposal-state').textContent")
        h.check(state == "Open", f"proposal state shown: {state!r}")
        shot = b.screenshot(os.path.join(out, "console-proposal.png"))
        h.log(f"screenshot: {shot}")

        # the other views render from their endpoints too
        b.evaluate("location.hash = '#members'")
        members = b.wait_for(
            f"(() => {{ const r = {ROWS.format(sel='#members tbody tr', key='memberId')};"
            " return r.length ? r : null; })()", 30, "the members view")
        c = sb.client(0, cert=False)
        try:
            want = sorted(m["id"] for m in c.get_json("/gov/members")["members"])
        finally:
            c.close()
        h.check(sorted(members) == want and len(want) == 3, f"members shown: {members}, {want}")
        b.evaluate("location.hash = '#updates'")
        sel = f"dl.update[data-code-id=\"{new_code}\"]"
        b.wait_for(f"!!document.querySelector('{sel}')", 30, "the update listed")
        progress = b.evaluate(f"(() => {{ const p = document.querySelector('{sel} progress');"
                              " return [p.value, p.max]; })()")
        h.check(progress == [0, 3], f"update progress shown {progress}: 0 of 3 nodes on N")
        text = b.evaluate(f"document.querySelector('{sel}').textContent")
        h.check("mixed" in text and old_code in text and "3 on the old" in text,
                f"the update view shows {text!r}")
        shot = b.screenshot(os.path.join(out, "console-updates.png"))
        h.log(f"screenshot: {shot}")
        # the ledger grows: ten writes, and the ledger view must show the last one
        # committed
        w = sb.client(0)
        try:
            for i in range(10):
                r = w.post_json("/app/log/private", {"id": i, "msg": f"console {i}"})
                h.check(r.status == 200 and r.txid, f"write {i}: {r!r}")
            last = int(r.txid.split(".")[1])
        finally:
            w.close()
        h.check(last > pid_seqno, f"the writes ({last}) come after the proposal ({pid_seqno})")
        b.evaluate("location.hash = '#ledger'")
        committed = b.wait_for(
            "(() => { const e = document.getElementById('ledger-committed');"
            f" return e && Number(e.textContent.split('.')[1]) >= {last} ? e.textContent : null;"
            " })()", 30, f"the ledger view to show seqno {last} committed")
        h.check(committed.count(".") == 1, f"the ledger view's last committed {committed!r}")
        # the growth chart: samples taken since the page loaded, while the test wrote
        points = b.wait_for("(() => { const p = document.querySelector('svg.chart polyline');"
                            " return p && p.getAttribute('points').split(' ').length >= 3 ?"
                            " p.getAttribute('points') : null; })()", 30, "the growth chart")
        h.log(f"ledger chart points: {points}")
        h.check(b.evaluate("document.getElementById('error').hidden") is True,
                "the console shows an error: " + str(b.evaluate(
                    "document.getElementById('error').textContent")))
        shot = b.screenshot(os.path.join(out, "console-ledger.png"))
        h.log(f"screenshot: {shot}")

        violations = b.evaluate("window.__csp")
        h.check(violations == [], f"CSP violations: {violations}")
        errors = [e for e in b.log_entries() if e[0] == "error"]
        h.check(errors == [], f"errors in the page: {errors}")


def test_console(env):
    with env.sandbox(nodes=3) as sb:
        c = sb.client(0, cert=False)
        try:
            check_files(c)
        finally:
            c.close()
        ov, leader_id = check_overview(sb)
        # first the update: trusting a new code id drops the proposals still open
        new_code, old_code, _ = start_update(sb)
        pid, ballots, pid_seqno = open_proposal(sb)
        if cdp.find_chromium() is None:
            h.skip_part("the browser part: Chromium is not installed (Debian package chromium; "
                        "scripts/install-deps installs it)")
            return
        check_browser(env, sb, ov, leader_id, pid, ballots, pid_seqno, new_code, old_code)


if __name__ == "__main__":
    sys.exit(h.main([test_console]))
