#!/usr/bin/env python3
"""`consort sandbox kill` / `restart` on a running 3-node sandbox, `consort
sandbox --background` / `stop`, and `consort ledger show` on the ledger such
a service wrote.

kill: the node dies, nodes.json says so (running false, role stopped, its pid
kept), and the command returns only once the others agree on a leader, so a
write sent to a surviving node straight after is answered 200. restart: the
sandbox starts it again as its child, nodes.json names the new pid, and the
node has caught up when the command returns. Bad requests are refused with
the reason.

--background: the command returns 0 once the service is READY (the READY
line on its standard output), the service keeps running, and `sandbox stop`
returns once the sandbox and every node are gone; a second stop, or a
background start into a used workspace, fails with the reason.

ledger show: the public writes made through the application appear with
their values, the private ones only as sizes and digests (their plaintext is
in no output), --from/--to/--table select exactly what they say, signature
entries and governance transactions are marked, and bad arguments or a
malformed ledger give exit status 2 or 1 with the reason."""

import base64
import json
import os
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

SECRET = "the private plaintext 7f3a never in clear"
PUBLIC = "the public record 51c2 in clear"


def nodes_json(sb):
    with open(os.path.join(sb.workspace, "nodes.json")) as f:
        return json.load(f)


def cli_json(env, *args, timeout=120):
    code, out = h.run_cli(env, *args, timeout=timeout)
    check(code == 0, f"consort {' '.join(args)}: exit {code}: {out}")
    return json.loads(out.strip().splitlines()[-1])


def test_kill_and_restart(env):
    with env.sandbox(nodes=3) as sb:
        ws = sb.workspace
        leader = sb.wait_leader()
        # the roles are in nodes.json from READY on
        doc = nodes_json(sb)
        check([n["role"] for n in doc].count("leader") == 1, f"nodes.json at READY: {doc}")
        check(doc[leader]["role"] == "leader" and all(n["running"] for n in doc),
              f"nodes.json before the kill: {doc}")
        old_pid = doc[leader]["pid"]

        # kill the leader: the command waits for a new one, so a write right after works
        ans = cli_json(env, "sandbox", "kill", "--workspace", ws, "--node", str(leader))
        check(ans["node"] == leader and ans["pid"] == old_pid, f"kill answer {ans}")
        new_leader = ans["leader"]
        check(isinstance(new_leader, int) and new_leader != leader, f"new leader {ans}")
        check(not h.pid_alive(old_pid), f"node {leader} (pid {old_pid}) still runs")
        other = next(i for i in range(3) if i not in (leader, new_leader))
        r = sb.client(other).post_json("/app/log/private", {"id": 1, "msg": "after the kill"})
        check(r.status == 200, f"write through node {other} right after the kill: {r!r}")
        doc = nodes_json(sb)
        check(doc[leader]["running"] is False and doc[leader]["role"] == "stopped" and
              doc[leader]["pid"] == old_pid, f"nodes.json after the kill: {doc[leader]}")
        check(doc[new_leader]["role"] == "leader", f"nodes.json names the new leader: {doc}")

        # refused: killing a dead node, restarting a live one, a node that does not exist
        code, out = h.run_cli(env, "sandbox", "kill", "--workspace", ws, "--node", str(leader))
        check(code == 1 and f"node {leader} is not running" in out, f"kill again: {code} {out}")
        code, out = h.run_cli(env, "sandbox", "restart", "--workspace", ws, "--node", str(other))
        check(code == 1 and f"node {other} is running" in out, f"restart live: {code} {out}")
        code, out = h.run_cli(env, "sandbox", "restart", "--workspace", ws, "--node", "7")
        check(code == 1 and "no node 7" in out, f"restart node 7: {code} {out}")
        code, out = h.run_cli(env, "sandbox", "kill", "--workspace", ws)
        check(code == 2 and "--node N is required" in out, f"kill without --node: {code} {out}")
        code, out = h.run_cli(env, "sandbox", "kill", "--workspace", sb.workspace + "-none",
                              "--node", "0")
        check(code == 1 and "not the workspace of a running sandbox" in out,
              f"kill in a missing workspace: {code} {out}")

        # restart: a new pid, recorded; it has caught up when the command returns
        ans = cli_json(env, "sandbox", "restart", "--workspace", ws, "--node", str(leader))
        check(ans["node"] == leader and ans["pid"] != old_pid and h.pid_alive(ans["pid"]),
              f"restart answer {ans}")
        check(ans["rpc_address"] == doc[leader]["rpc_address"], f"same address: {ans}")
        r = sb.client(leader).get_json("/app/log/private?id=1")
        check(r.get("msg") == "after the kill", f"the restarted node reads the write: {r}")
        doc = nodes_json(sb)
        check(doc[leader]["pid"] == ans["pid"] and doc[leader]["running"] is True and
              doc[leader]["role"] in ("follower", "leader"), f"nodes.json after restart: {doc}")

        # a node killed from outside the sandbox (kill -9): nodes.json follows
        victim = other
        h.kill9(doc[victim]["pid"])
        h.wait_until(lambda: nodes_json(sb)[victim]["running"] is False, 10,
                     "nodes.json to say the killed node is not running")
        h.wait_until(lambda: nodes_json(sb)[victim]["role"] == "stopped", 5,
                     "nodes.json to say the killed node is stopped")
        ans = cli_json(env, "sandbox", "restart", "--workspace", ws, "--node", str(victim))
        check(nodes_json(sb)[victim]["pid"] == ans["pid"], "nodes.json names the new pid")
        # --no-wait: back at once, no leader named; the node is down all the same
        ans = cli_json(env, "sandbox", "kill", "--workspace", ws, "--node", str(victim),
                       "--no-wait")
        check(ans["leader"] is None and not h.pid_alive(ans["pid"]) and
              nodes_json(sb)[victim]["running"] is False, f"kill --no-wait: {ans}")
        # the sandbox stops the nodes it restarted (the harness checks a clean exit)
        sb.stop()
        for n in nodes_json(sb):
            check(not h.pid_alive(n["pid"]), f"node pid {n['pid']} outlived the sandbox")


def test_background_and_stop(env):
    ws = env.workspace("bg")
    argv = [env.consort, "sandbox", "--nodes", "2", "--workspace", ws, "--consortd", env.consortd,
            "--app", env.app, "--background"]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=180)
    out, err = p.stdout.decode(), p.stderr.decode()
    check(p.returncode == 0 and out.startswith("READY 127.0.0.1:"),
          f"--background: exit {p.returncode}, stdout {out!r}, stderr {err[-2000:]}")
    check("runs in the background" in err and "is part of the network" in err,
          f"--background relays the sandbox's messages: {err[-1000:]}")
    with open(os.path.join(ws, "sandbox.pid")) as f:
        sandbox_pid = int(f.read())
    try:
        nodes = json.load(open(os.path.join(ws, "nodes.json")))
        check(h.pid_alive(sandbox_pid) and all(h.pid_alive(n["pid"]) for n in nodes),
              "the sandbox and its nodes run on after the command returned")
        # the service answers, after the command that started it is gone
        c = h.Client(nodes[1]["rpc_address"], os.path.join(ws, "service_cert.pem"),
                     os.path.join(ws, "user0_cert.pem"), os.path.join(ws, "user0_privk.pem"))
        r = c.post_json("/app/log/public", {"id": 1, "msg": "from the background"})
        check(r.status == 200, f"a write to the background service: {r!r}")
        # a second sandbox into the same workspace: refused, with the reason
        p2 = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        check(p2.returncode == 1 and b"is not empty" in p2.stderr and p2.stdout == b"",
              f"a second --background: exit {p2.returncode} {p2.stderr[-500:]!r}")
        ans = cli_json(env, "sandbox", "stop", "--workspace", ws)
        check(ans == {"pid": sandbox_pid, "stopped": True}, f"stop answer {ans}")
        check(not h.pid_alive(sandbox_pid) and not any(h.pid_alive(n["pid"]) for n in nodes),
              "stop returns once the sandbox and its nodes are gone")
        with open(os.path.join(ws, "sandbox.log")) as f:
            check("asked to stop" in f.read(), "the sandbox's log after it detached")
        code, out = h.run_cli(env, "sandbox", "stop", "--workspace", ws)
        check(code == 1 and f"(pid {sandbox_pid}) is not running" in out,
              f"a second stop: {code} {out}")
    finally:
        if h.pid_alive(sandbox_pid):
            os.kill(sandbox_pid, 15)


def show(env, ledger, *args):
    code, out = h.run_cli(env, "ledger", "show", ledger, "--json", *args)
    check(code == 0, f"ledger show {args}: exit {code}: {out}")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_ledger_show(env):
    with env.sandbox(nodes=3) as sb:
        c = sb.client(sb.wait_leader())
        r = c.post_json("/app/log/private", {"id": 1, "msg": SECRET})
        check(r.status == 200, f"private write: {r!r}")
        private_seqno = int(r.txid.split(".")[1])
        r = c.post_json("/app/log/public", {"id": 2, "msg": PUBLIC})
        check(r.status == 200, f"public write: {r!r}")
        public_txid = r.txid
        public_seqno = int(public_txid.split(".")[1])
        for k in range(3, 8):
            check(c.post_json("/app/log/public", {"id": k, "msg": f"more {k}"}).status == 200,
                  "writes")
        sb.wait_quiescent()
        ledger = sb.ledger_dir(0)
        copy = env.path("ledger-copy")
        shutil.copytree(ledger, copy)  # a stable copy while the service runs
    env_ledger = copy

    entries = show(env, env_ledger)
    seqnos = [e["seqno"] for e in entries]
    check(seqnos == list(range(1, len(seqnos) + 1)), f"every entry, in order: {seqnos}")
    by_seqno = {e["seqno"]: e for e in entries}

    # the public write, with its value; its key (the id, 8 bytes) in base64
    pub = by_seqno[public_seqno]
    check(pub["txid"] == public_txid and pub["kind"] == "transaction", f"public entry {pub}")
    check(pub["writes"] == [{"table": "public:records",
                             "key_base64": base64.b64encode(struct.pack(">Q", 2)).decode(),
                             "value": PUBLIC}], f"public writes: {pub['writes']}")
    check(pub["private"] is None, f"no private writes in the public entry: {pub}")

    # the private write: its size and digest, not its plaintext
    priv = by_seqno[private_seqno]
    check(priv["writes"] == [] and priv["private"]["bytes"] > 0 and
          len(priv["private"]["sha256"]) == 64, f"private entry {priv}")
    for form in (["--json"], []):
        code, out = h.run_cli(env, "ledger", "show", env_ledger, *form)
        check(code == 0 and SECRET not in out, f"the private plaintext leaks ({form})")
        check(SECRET.encode().hex() not in out and
              base64.b64encode(SECRET.encode()).decode()[:20] not in out,
              f"the private plaintext leaks encoded ({form})")
    code, out = h.run_cli(env, "ledger", "show", env_ledger)
    check(PUBLIC in out and "SIGNATURE" in out and "[governance]" in out,
          f"the text form: {out[-2000:]}")

    # signature entries and governance transactions are marked
    sigs = [e for e in entries if e["kind"] == "signature"]
    check(sigs and all(len(s["signature"]["node_id"]) == 16 and
                       s["signature"]["tree_size"] == s["seqno"] - 1 for s in sigs),
          f"signature entries: {sigs[:2]}")
    check(all("signature" not in e for e in entries if e["kind"] != "signature"),
          "only signature entries carry a signature")
    gov = [e for e in entries if e["governance"]]
    check(gov and all(any(w["table"].startswith("public:consort.gov.") for w in e["writes"])
                      for e in gov), f"governance entries: {gov[:1]}")
    check(all(not e["governance"] for e in entries
              if not any(w["table"].startswith("public:consort.gov.") for w in e["writes"])),
          "only governance writes mark an entry as governance")

    # --from / --to (seqno or txid), inclusive
    lo, hi = public_seqno - 2, public_seqno + 1
    got = [e["seqno"] for e in show(env, env_ledger, "--from", str(lo), "--to", str(hi))]
    check(got == list(range(lo, hi + 1)), f"--from {lo} --to {hi}: {got}")
    got = [e["seqno"] for e in show(env, env_ledger, "--from", public_txid, "--to", public_txid)]
    check(got == [public_seqno], f"--from/--to {public_txid}: {got}")
    got = [e["seqno"] for e in show(env, env_ledger, "--from", str(seqnos[-1]))]
    check(got == [seqnos[-1]], f"--from the last: {got}")

    # --table: only entries writing that map, and only those writes
    recs = show(env, env_ledger, "--table", "public:records")
    want = [e["seqno"] for e in entries if any(w["table"] == "public:records" for w in e["writes"])]
    check([e["seqno"] for e in recs] == want and len(want) == 6, f"--table public:records: {recs}")
    check(all(w["table"] == "public:records" for e in recs for w in e["writes"]), "other tables")
    got = show(env, env_ledger, "--table", "public:consort.signatures")
    check([e["seqno"] for e in got] == [s["seqno"] for s in sigs], "--table of the signatures")
    got = show(env, env_ledger, "--table", "public:consort.gov.proposals")
    check(got and all(w["table"] == "public:consort.gov.proposals" for e in got
                      for w in e["writes"]) and all(e["governance"] for e in got),
          f"--table public:consort.gov.proposals: {got[:1]}")

    # bad arguments: exit 2 with the reason
    for args, reason in ((["--table", "records"], "only public maps"),
                         (["--from", "9", "--to", "3"], "is after --to"),
                         (["--from", "abc"], "expected a seqno"),
                         (["--to", "0"], "expected a seqno"),
                         (["--frobnicate"], "frobnicate")):
        code, out = h.run_cli(env, "ledger", "show", env_ledger, *args)
        check(code == 2 and reason in out, f"ledger show {args}: exit {code}: {out}")
    code, out = h.run_cli(env, "ledger", "show")
    check(code == 2 and "DIR is missing" in out, f"no DIR: {code} {out}")
    # not a ledger: exit 1 with the reason
    code, out = h.run_cli(env, "ledger", "show", env.path("nowhere"))
    check(code == 1 and "nowhere" in out, f"a missing directory: {code} {out}")
    empty = env.path("empty")
    os.makedirs(empty)
    code, out = h.run_cli(env, "ledger", "show", empty)
    check(code == 1 and "no ledger chunk files" in out, f"an empty directory: {code} {out}")
    # a malformed entry: named by file, offset and seqno
    first = sorted(n for n in os.listdir(env_ledger) if n.startswith("ledger_"))[0]
    path = os.path.join(env_ledger, first)
    with open(path, "r+b") as f:
        f.seek(4)  # the first entry's magic
        f.write(b"XXXX")
    code, out = h.run_cli(env, "ledger", "show", env_ledger)
    check(code == 1 and first in out and "offset 0" in out and "seqno 1" in out,
          f"a malformed first entry: {code} {out}")


if __name__ == "__main__":
    h.main([test_kill_and_restart, test_background_and_stop, test_ledger_show])
