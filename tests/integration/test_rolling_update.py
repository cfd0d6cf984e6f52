#!/usr/bin/env python3
"""Rolling updates with real processes (docs/rolling-updates.md, issue 9 item 6).

- A 3-node service running code O is rolled to code N under continuous client
  writes by one proposal (add_code_id N successor_of O) and three N nodes added one
  at a time: the update reports its progress in GET /gov/service (mixed, with the N
  nodes still needed), deprecates O at the cut-over, transfers leadership away from
  the O leader, evicts every O node after the grace period (each exits 0 saying it
  was removed) and ends "done" with O retired. No acknowledged write is lost; the
  longest window in which no write was acknowledged is printed (goal: under 1 s).
  An O node that tries to join during the grace period is refused ("deprecated"),
  with the reason in its log and the leader's.
- With tolerate_failures 1 the eviction of O nodes is blocked: GET /gov/service says
  {"state": "blocked", "reason": "availability", "need": K}; adding K more N nodes
  resolves it and the update completes.
- A constitution whose admit_node says no leaves a new node Pending (it waits, and
  joins once transition_node_to_trusted passes); remove_node takes a node out (its
  consortd exits 0) and a removed node never comes back."""

import json
import os
import re
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check, log, wait_until  # noqa: E402


def new_module(env, tag):
    """A copy of the application module with bytes appended: same behaviour, another
    code id (docs/attestation.md: the code id covers the module's bytes)."""
    path = env.path(f"app-{tag}.so")
    shutil.copyfile(env.app, path)
    with open(path, "ab") as f:
        f.write(f"consort rolling update {tag}".encode())
    return path


def code_id(env, app):
    code, out = h.run_cli(env, "code", "id", "--node-binary", env.consortd, "--app", app)
    check(code == 0 and len(out.strip()) == 64, f"consort code id: {out}")
    return out.strip()


def update_of(sb, successor):
    for u in sb.gov_service()["updates"]:
        if u["code_id"] == successor:
            return u
    raise h.TestFailure(f"no update to {successor[:16]} in GET /gov/service")


def node_statuses(sb):
    return {n["node_id"]: (n["status"], n["code_id"]) for n in sb.gov_service()["nodes"]}


def add_n_node(sb, app, what):
    t0 = time.monotonic()
    code, out = sb.add_node(app=app, timeout=40)
    check(code == 0, f"adding {what}: {out}")
    node = json.loads(out)
    log(f"{what}: node {node['node_id']} joined in {time.monotonic() - t0:.1f} s")
    return node


def test_rolling_update_under_writes(env):
    with env.sandbox(nodes=3) as sb:
        old = code_id(env, env.app)
        app_n = new_module(env, "v2")
        new = code_id(env, app_n)
        check(old != new, "the new module must have another code id")
        o_nodes = [n["node_id"] for n in sb.nodes]
        load = h.WriteLoad(sb, threads=3, path="/app/log/public", prefix="ru").start()
        try:
            load.wait_progress(20, 60, "before the update")
            _, state = sb.pass_proposal({"actions": [{"name": "add_code_id", "args": {
                "code_id": new, "successor_of": old, "cutover_quorum": 3,
                "grace_period_s": 4, "tolerate_failures": 0}}]})
            check(state == "Accepted", f"the update proposal is {state}")
            u = wait_until(lambda: update_of(sb, new).get("state") == "mixed" and
                           update_of(sb, new), 10, "the update to report its progress")
            check(u["need"] == 3, f"3 N nodes are needed before the cut-over: {u}")
            for k in range(3):
                add_n_node(sb, app_n, f"N node {k + 1} of 3")
                if k < 2:
                    u = wait_until(lambda: update_of(sb, new).get("need") == 2 - k and
                                   update_of(sb, new), 10, f"need {2 - k}")
                    check(u["state"] == "mixed", f"after {k + 1} N nodes: {u}")
            u = wait_until(lambda: update_of(sb, new).get("deprecated") and update_of(sb, new),
                           10, "O to be deprecated at the cut-over")
            log(f"O deprecated: {u}")
            # an O node now: refused, during the grace period
            code, out = sb.add_node(timeout=8)
            check(code != 0, f"an O node joined after the deprecation: {out}")
            m = re.search(r"\(log (\S+)\)", out)
            joiner_log = open(m.group(1)).read() if m else ""
            check("deprecated" in out or "deprecated by the rolling update" in joiner_log,
                  f"the refusal does not say why: {out}")
            # the whole logs: under the write load a log's last lines are request lines
            # within a second, and the refusal was logged seconds before
            refusals = [i for i in range(sb.count)
                        if h.log_lines(sb.log_path(i), "join of", "refused: code id",
                                    "deprecated by the rolling update")]
            check(refusals, "no node logged the refusal of the O node")
            wait_until(lambda: update_of(sb, new).get("state") == "done", 60,
                       "the update to finish (every O node evicted)")
            load.wait_progress(20, 60, "after the update")
        finally:
            load.stop()
        statuses = node_statuses(sb)
        for nid in o_nodes:
            check(statuses[nid][0] == "Retired", f"O node {nid} is {statuses[nid]}")
        u = update_of(sb, new)
        check(sorted(u.get("evicted", [])) == sorted(o_nodes), f"evicted: {u}")
        codes = {c["code_id"]: c["status"] for c in sb.gov_service()["code_ids"]}
        check(codes[old] == "Retired" and codes[new] == "AllowedToJoin", f"code ids: {codes}")
        for i, n in enumerate(sb.nodes):
            if n["node_id"] in o_nodes:
                wait_until(lambda: not sb.alive(i), 20, f"evicted node {i} to exit")
                check(h.log_lines(sb.log_path(i), "removed from the service"),
                      f"node {i} did not say it was removed")
        # the driver never evicts the node that leads: each eviction is logged by
        # another node (leadership moves to an N node first if an O node leads)
        for nid in o_nodes:
            by = [i for i in range(sb.count)
                  if h.log_lines(sb.log_path(i), f"rolling update: evicting node {nid}")]
            own = next(i for i, n in enumerate(sb.nodes) if n["node_id"] == nid)
            check(by and own not in by, f"node {nid} evicted by {by} (itself: {own})")
        gap = load.longest_gap()
        log(f"rolling update: {load.count()} writes acknowledged, {load.failures} failed; "
            f"longest window without an acknowledged write: {gap * 1000:.0f} ms (goal < 1000)")
        check(gap < 5.0, f"writes stalled for {gap:.1f} s during the update")
        live = [i for i in range(sb.count) if sb.alive(i)]
        check(len(live) == 3, f"3 N nodes remain, not {live}")
        h.check_records(sb, load.acked, live, path="/app/log/public", msg=load.msg)


def test_blocked_then_resolved(env):
    with env.sandbox(nodes=3) as sb:
        old = code_id(env, env.app)
        app_n = new_module(env, "v3")
        new = code_id(env, app_n)
        _, state = sb.pass_proposal({"actions": [{"name": "add_code_id", "args": {
            "code_id": new, "successor_of": old, "cutover_quorum": 2, "grace_period_s": 0,
            "tolerate_failures": 1}}]})
        check(state == "Accepted", f"the update proposal is {state}")
        add_n_node(sb, app_n, "N node 1")
        add_n_node(sb, app_n, "N node 2")
        # 5 voters, 2 live N: evicting needs 2 * live_N >= n + 2 * tolerate, K = 5 + 2 - 4
        u = wait_until(lambda: update_of(sb, new).get("state") == "blocked" and
                       update_of(sb, new), 15, "the update to report it is blocked")
        check(u.get("reason") == "availability" and u.get("need") == 3, f"blocked: {u}")
        statuses = node_statuses(sb)
        check(all(s == "Trusted" for s, _ in statuses.values()),
              f"a node was evicted while blocked: {statuses}")
        for k in range(3):
            add_n_node(sb, app_n, f"N node {k + 3}")
            if k < 2:
                wait_until(lambda: update_of(sb, new).get("need") == 2 - k, 15,
                           f"the update to need {2 - k} more")
        wait_until(lambda: update_of(sb, new).get("state") == "done", 60, "the update to finish")
        statuses = node_statuses(sb)
        retired = sorted(s for s, c in statuses.values() if c == old)
        check(retired == ["Retired"] * 3, f"O nodes: {statuses}")


def test_pending_admission_and_removal(env):
    with env.sandbox(nodes=3) as sb:
        # a constitution that admits nobody on its own
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src",
                               "gov", "default_constitution.lua")) as f:
            script = f.read().replace("function admit_node(node)\n  return true",
                                      "function admit_node(node)\n  return false")
        check("return false" in script, "could not derive the test constitution")
        _, state = sb.pass_proposal({"actions": [{"name": "set_constitution",
                                                  "args": {"script": script}}]})
        check(state == "Accepted", f"set_constitution: {state}")
        result = {}

        def add():
            result["code"], result["out"] = sb.add_node(timeout=40)

        t = threading.Thread(target=add)
        t.start()
        pending = wait_until(lambda: [nid for nid, (s, _) in node_statuses(sb).items()
                                      if s == "Pending"], 30, "a Pending node")
        log(f"node {pending[0]} is Pending")
        _, state = sb.pass_proposal({"actions": [{"name": "transition_node_to_trusted",
                                                  "args": {"node_id": pending[0]}}]})
        check(state == "Accepted", f"transition_node_to_trusted: {state}")
        t.join(60)
        check(result.get("code") == 0, f"the trusted node did not join: {result}")
        check(json.loads(result["out"])["node_id"] == pending[0], f"{result}")
        # remove it again: it leaves raft and its consortd exits 0
        idx = next(i for i, n in enumerate(sb.nodes) if n["node_id"] == pending[0])
        _, state = sb.pass_proposal({"actions": [{"name": "remove_node",
                                                  "args": {"node_id": pending[0]}}]})
        check(state == "Accepted", f"remove_node: {state}")
        wait_until(lambda: not sb.alive(idx), 20, "the removed node to exit")
        check(node_statuses(sb)[pending[0]][0] == "Retired", "the removed node is not Retired")
        c = sb.client(sb.live_index())
        r = c.post_json("/app/log/public", {"id": 7, "msg": "still serving"})
        c.close()
        check(r.status == 200, f"the service after the removal: {r!r}")


if __name__ == "__main__":
    # the checks read the driver's and the evicted nodes' info lines (ctest's
    # environment may set a quieter level)
    os.environ["CONSORT_LOG"] = "info"
    sys.exit(h.main([test_rolling_update_under_writes, test_blocked_then_resolved,
                     test_pending_admission_and_removal]))
