#!/usr/bin/env python3
"""Sealed state and fork-free migration with real processes (docs/migration.md, issue 14).

The nodes run the sealing sample (samples/sealing: blobs sealed for the node, named
monotonic counters). Each node is its own host with its own virtual platform; the
sandbox prepares spare hosts, which stand for the machines a node moves to.

- a node moves to another machine with `consort migrate`: it rejoins at the same
  addresses, opens what it sealed before, its counters go on from where they were; the
  blob does not open on another node; the source, started again, refuses (fork), and so
  does the source's store from before the migration put back (rollback);
- a crash (kill -9) of either side before every durable write of every step, and of
  the driver between every pair of steps: running `consort migrate` again finishes, and
  exactly one instance is live, with the state;
- a destination running code governance did not approve is refused, and the source
  stays live;
- an approved code update (add_code_id successor_of): the node restarted with the new
  code opens its sealed state and its lineage blobs; blobs sealed for the exact old code
  id are refused (POLICY); code that no governance decision names cannot open the store.
"""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check, log, wait_until  # noqa: E402

# the checks read the nodes' info lines (approved successors listed): ctest says warn
os.environ["CONSORT_LOG"] = "info"

SECRET = b"what node 2 keeps for itself"
STEPS = ("nonce", "offer", "answer", "accept", "confirm", "finish")


def load_json(path):
    with open(path) as f:
        return json.load(f)


def sealing_env(env):
    env.app = os.path.join(os.path.dirname(env.app), "sealing.so")
    check(os.path.exists(env.app), f"no sealing sample at {env.app}")
    return env


def user_client(sb, i):
    return h.Client(sb.address(i), sb.service_cert, sb.user_cert, sb.user_key)


def seal(sb, i, data, policy="lineage", counter=None):
    q = f"policy={policy}" + (f"&counter={counter}" if counter else "")
    r = user_client(sb, i).request("POST", f"/app/sealing/seal?{q}", body=data)
    check(r.status == 200, f"seal on node {i}: {r!r}")
    return r.body


def unseal(sb, i, blob):
    return user_client(sb, i).request("POST", "/app/sealing/unseal", body=blob)


def counter(sb, i, name, increment=False):
    c = user_client(sb, i)
    r = c.request("POST" if increment else "GET", f"/app/sealing/counter?name={name}")
    check(r.status == 200, f"counter {name} on node {i}: {r!r}")
    return r.json()["value"]


def dest_config(sb, i, host, tag, app=None):
    """Node i's configuration on another host (a spare of the sandbox's), with a fresh
    data directory."""
    with open(sb.nodes[i]["config"]) as f:
        cfg = json.load(f)
    d = os.path.join(sb.workspace, f"node{i}-{tag}")
    os.makedirs(d, exist_ok=True)
    cfg["data_dir"] = os.path.join(d, "data")
    cfg["platform_dir"] = os.path.join(sb.workspace, f"node{host}", "platform")
    if app:
        cfg["app"] = app
    path = os.path.join(d, "node.json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    return path


def migrate(env, src, dst, extra_env=None, args=(), timeout=180):
    e = dict(os.environ, **(extra_env or {}))
    p = subprocess.run([env.consort, "migrate", "--from", src, "--to", dst, "--node-binary",
                        env.consortd, *args], capture_output=True, text=True, timeout=timeout,
                       env=e)
    return p.returncode, p.stdout, p.stderr


def status(env, cfg):
    p = subprocess.run([env.consort, "migrate", "--status", cfg, "--node-binary", env.consortd],
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"consort migrate --status {cfg}: {p.stderr}")
    return json.loads(p.stdout)


def step(env, cfg, name, *files, extra_env=None):
    e = dict(os.environ, **(extra_env or {}))
    return subprocess.run([env.consortd, "--config", cfg, "--migrate", name, *files],
                          capture_output=True, text=True, timeout=60, env=e)


def expect_refusal(env, cfg, words, what):
    """consortd started on `cfg` exits 1 without serving, saying all of `words`."""
    p = subprocess.run([env.consortd, "--config", cfg], capture_output=True, text=True,
                       timeout=60)
    out = p.stdout + p.stderr
    check(p.returncode == 1 and all(w in out for w in words),
          f"{what}: consortd exited {p.returncode}, expected 1 and {words}:\n{out[-1500:]}")
    line = next(ln for ln in out.splitlines() if all(w in ln for w in words))
    log(f"{what}: refused: {line.strip()[:240]}")


def move_node(sb, i, dst_cfg):
    """Node i runs from now on from `dst_cfg` (test-owned process): started, caught up."""
    sb.nodes[i]["config"] = dst_cfg
    h.restart_and_catch_up(sb, i)


def test_migrate_a_node_with_its_sealed_state(env):
    sealing_env(env)
    with env.sandbox(nodes=3) as sb:
        blob = seal(sb, 2, SECRET, counter="notes")
        code_blob = seal(sb, 2, b"exact code only", policy="code")
        check(counter(sb, 2, "notes") == 1, "the seal incremented its counter")
        committed = sb.commit_seqno(0)
        src = sb.nodes[2]["config"]
        h.stop_node(sb, 2)
        before = env.path("node2-sealed-before")
        shutil.copytree(os.path.join(sb.data_dir(2), "sealed"), before)
        # the destination's configuration written by consort migrate itself
        dst = os.path.join(sb.workspace, "node2-moved.json")
        code, out, err = migrate(env, src, dst, args=(
            "--platform-dir", os.path.join(sb.workspace, "node5", "platform"),
            "--data-dir", os.path.join(sb.workspace, "node2-moved")))
        check(code == 0, f"consort migrate: {code}\n{err}")
        check(load_json(dst)["rpc_address"] == load_json(src)["rpc_address"] and
              load_json(dst)["data_dir"].endswith("node2-moved"), f"{dst}: {load_json(dst)}")
        result = json.loads(out)
        log(f"migrated: {result}")
        check(result["source"]["state"] == "retired" and
              result["destination"]["state"] == "live" and
              result["source"]["peer"] == result["destination"]["instance"],
              f"after the migration: {result}")
        move_node(sb, 2, dst)
        check(sb.commit_seqno(2) >= committed, "the moved node caught up")
        r = unseal(sb, 2, blob)
        check(r.status == 200 and r.body == SECRET, f"the blob on the moved node: {r!r}")
        r = unseal(sb, 2, code_blob)
        check(r.status == 200, f"a code-policy blob on the moved node (same code): {r!r}")
        check(counter(sb, 2, "notes") == 1, "the counter moved with the node")
        check(counter(sb, 2, "notes", increment=True) == 2, "the counter goes on")
        r = unseal(sb, 2, blob)
        check(r.status == 409 and b"ROLLBACK" in r.body, f"a blob behind its counter: {r!r}")
        r = unseal(sb, 0, seal(sb, 2, SECRET))
        check(r.status == 400 and b"BAD_TAG" in r.body, f"node 2's blob on node 0: {r!r}")
        # fork: the source started again on its machine (its own addresses there), while
        # the destination runs
        fork = env.path("node2-source-again.json")
        with open(fork, "w") as f:
            json.dump(dict(load_json(src), rpc_address="127.0.0.1:0",
                           node_address="127.0.0.1:0"), f)
        expect_refusal(env, fork, ["moved to instance", result["destination"]["instance"]],
                       "the source after the migration")
        # idempotent: running it again changes nothing
        code, out, err = migrate(env, src, dst)
        check(code == 0 and "live already" in err, f"consort migrate again: {code} {err}")
        # rollback: the source's store from before the migration put back
        shutil.rmtree(os.path.join(load_json(src)["data_dir"], "sealed"))
        shutil.copytree(before, os.path.join(load_json(src)["data_dir"], "sealed"))
        expect_refusal(env, fork, ["ROLLBACK", "older copy"], "the source's store rolled back")


def test_crash_at_every_step(env):
    """kill -9 of a step before each of its durable writes, and of the driver between
    every pair of steps; `consort migrate` run again finishes. The node moves host to
    host through every case; at the end it starts and its state is intact."""
    sealing_env(env)
    with env.sandbox(nodes=3) as sb:
        blob = seal(sb, 1, SECRET, counter="c")
        h.stop_node(sb, 1)
        src = sb.nodes[1]["config"]
        cases = [(s, n) for s in ("answer", "accept", "confirm", "finish") for n in range(10)]
        cases += [("between", k) for k in range(1, len(STEPS))]
        for k, (where, n) in enumerate(cases):
            dst = dest_config(sb, 1, host=3 + k % 2, tag=f"m{k}")
            if where == "between":
                # the driver dies after k steps: run them by hand, then the driver
                work = env.path(f"between{k}")
                os.makedirs(work)
                msgs = {m: os.path.join(work, m) for m in
                        ("nonce", "offer", "answer", "confirm", "done")}
                plan = [(src, "nonce", msgs["nonce"]),
                        (dst, "offer", msgs["nonce"], msgs["offer"]),
                        (src, "answer", msgs["offer"], msgs["answer"]),
                        (dst, "accept", msgs["answer"], msgs["confirm"]),
                        (src, "confirm", msgs["confirm"], msgs["done"])]
                for cfg, name, *files in plan[:n]:
                    p = step(env, cfg, name, *files)
                    check(p.returncode == 0, f"step {name}: {p.stderr[-600:]}")
                what = f"the driver killed after {n} steps"
            else:
                code, _, err = migrate(env, src, dst, {"CONSORT_TEST_CRASH": f"{where}:{n}"})
                what = f"{where} killed before durable write {n}"
                if code == 0:  # the step has fewer durable writes: nothing crashed
                    log(f"{what}: no such write, the migration completed")
            s, d = status(env, src)["state"], status(env, dst)["state"]
            check(not (s == "live" and d == "live"), f"{what}: two live instances")
            check(s in ("live", "frozen", "retired") and d in ("none", "pending", "live"),
                  f"{what}: source {s}, destination {d}")
            code, out, err = migrate(env, src, dst)
            check(code == 0, f"{what}: consort migrate again: {err[-800:]}")
            r = json.loads(out)
            check(r["source"]["state"] == "retired" and r["destination"]["state"] == "live",
                  f"{what}: then {r}")
            log(f"{what}: was source {s} / destination {d}; finished: exactly one live")
            src = dst
        move_node(sb, 1, src)
        r = unseal(sb, 1, blob)
        check(r.status == 200 and r.body == SECRET,
              f"after {len(cases)} migrations the blob opens: {r!r}")
        check(counter(sb, 1, "c") == 1, "the counter survived every migration")


def test_untrusted_destination_refused(env):
    sealing_env(env)
    with env.sandbox(nodes=3) as sb:
        blob = seal(sb, 2, SECRET)
        src = sb.nodes[2]["config"]
        h.stop_node(sb, 2)
        other = env.path("untrusted.so")
        shutil.copyfile(env.app, other)
        with open(other, "ab") as f:
            f.write(b"code governance never approved")
        dst = dest_config(sb, 2, host=6, tag="untrusted", app=other)
        code, _, err = migrate(env, src, dst)
        check(code != 0 and "POLICY" in err, f"to untrusted code: {code} {err[-800:]}")
        log(f"refused: {err.strip().splitlines()[-1][:240]}")
        check(status(env, src)["state"] == "live", "an inadmissible offer froze the source")
        h.restart_and_catch_up(sb, 2)
        r = unseal(sb, 2, blob)
        check(r.status == 200 and r.body == SECRET, f"the source still serves: {r!r}")


def test_approved_code_update_keeps_sealed_state(env):
    sealing_env(env)
    with env.sandbox(nodes=3) as sb:
        lineage_blob = seal(sb, 1, SECRET)
        code_blob = seal(sb, 1, b"for this exact code", policy="code")
        new_app = env.path("sealing-v2.so")
        shutil.copyfile(env.app, new_app)
        with open(new_app, "ab") as f:
            f.write(b"consort sealing sample v2")
        rogue_app = env.path("sealing-rogue.so")
        shutil.copyfile(env.app, rogue_app)
        with open(rogue_app, "ab") as f:
            f.write(b"nobody approved this")
        old, new = cli_code_id(env, env.app), cli_code_id(env, new_app)
        _, state = sb.pass_proposal({"actions": [{"name": "add_code_id", "args": {
            "code_id": new, "successor_of": old}}]})
        check(state == "Accepted", f"add_code_id: {state}")
        # every node re-seals its store listing the successor once it applied this
        wait_until(lambda: all("listed" in node_successor_log(sb, i) for i in range(3)), 30,
                   "the nodes to list the approved successor in their sealed stores")
        cfg_path = sb.nodes[1]["config"]
        h.stop_node(sb, 1)
        cfg = load_json(cfg_path)
        rogue = dict(cfg, app=rogue_app)
        rogue_path = env.path("node1-rogue.json")
        with open(rogue_path, "w") as f:
            json.dump(rogue, f)
        expect_refusal(env, rogue_path, ["POLICY"], "code no governance decision names")
        with open(cfg_path, "w") as f:
            json.dump(dict(cfg, app=new_app), f)
        node_id = sb.nodes[1]["node_id"]
        h.restart_and_catch_up(sb, 1)
        check(sb.state(1)["node_id"] == node_id, "the same node after the update")
        r = unseal(sb, 1, lineage_blob)
        check(r.status == 200 and r.body == SECRET, f"a lineage blob after the update: {r!r}")
        r = unseal(sb, 1, code_blob)
        check(r.status == 403 and b"POLICY" in r.body,
              f"a blob sealed for the exact old code after the update: {r!r}")


def cli_code_id(env, app):
    code, out = h.run_cli(env, "code", "id", "--node-binary", env.consortd, "--app", app)
    check(code == 0 and len(out.strip()) == 64, f"consort code id: {out}")
    return out.strip()


def node_successor_log(sb, i):
    """The lines of node i's log saying its sealed store lists approved successors."""
    return "".join(ln for ln in h.tail(sb.log_path(i), 400).splitlines(True)
                   if "approved successor" in ln)


if __name__ == "__main__":
    sys.exit(h.main([test_migrate_a_node_with_its_sealed_state, test_crash_at_every_step,
                     test_untrusted_destination_refused,
                     test_approved_code_update_keeps_sealed_state]))
