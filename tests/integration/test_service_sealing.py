#!/usr/bin/env python3
"""Sealing in the service's scope with real processes: the replicated counter backend
(include/consort/app.h CONSORT_APP_SEALING, docs/migration.md §3 "replicated").

The nodes run samples/sealing built as sealing_service.so (CONSORT_SEALING_SERVICE):
counters live in the service's store, blobs are sealed under the service's root.

- a blob sealed through one node opens through every node, also after the node that
  sealed it (the leader) was killed; a counter incremented through one node is read
  on every node; an older counter-bound blob is refused (409 ROLLBACK) once a newer one
  was sealed;
- the host puts a whole machine back as it was before the newer seal (data directory,
  sealed store and the virtual platform's counter: what a host that controls the
  platform can copy), and the restored node, started again, is the one the client
  talks to: the older blob is still refused, because the counter lives on a majority
  of the service, not on that machine. (With the node scope and the virtual platform's
  file counter, the same restore would roll the node's counters back: docs/migration.md
  §3 table.)
- 16 counters incremented by one request (one transaction).
The refusals in read-only endpoints are tests/unit/node/test_app_svcseal.c.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check, log, wait_until  # noqa: E402

SECRET = b"state the whole service keeps"


def service_sealing_env(env):
    env.app = os.path.join(os.path.dirname(env.app), "sealing_service.so")
    check(os.path.exists(env.app), f"no service-scope sealing sample at {env.app}")
    return env


def request(sb, i, method, path, body=None):
    c = sb.client(i)
    try:
        return c.request(method, path, body=body)
    finally:
        c.close()


def seal(sb, i, data, counter=None):
    q = "policy=lineage" + (f"&counter={counter}" if counter else "")
    r = request(sb, i, "POST", f"/app/sealing/seal?{q}", data)
    check(r.status == 200, f"seal through node {i}: {r!r}")
    return r.body


def unseal(sb, i, blob):
    return request(sb, i, "POST", "/app/sealing/unseal", blob)


def counter_on(sb, i, name):
    r = request(sb, i, "GET", f"/app/sealing/counter?name={name}")
    check(r.status == 200, f"counter {name} on node {i}: {r!r}")
    return r.json()["value"]


def wait_counter(sb, nodes, name, value):
    for i in nodes:
        wait_until(lambda: counter_on(sb, i, name) == value, 30,
                   f"counter {name} = {value} on node {i}")


def test_blobs_and_counters_belong_to_the_service(env):
    service_sealing_env(env)
    with env.sandbox(nodes=3) as sb:
        leader = sb.wait_leader()
        follower = next(i for i in range(3) if i != leader)
        blob = seal(sb, follower, SECRET, counter="notes")
        wait_counter(sb, range(3), "notes", 1)
        for i in range(3):
            r = unseal(sb, i, blob)
            check(r.status == 200 and r.body == SECRET, f"the blob through node {i}: {r!r}")
        # read-only endpoints: reading is fine, incrementing is not
        r = request(sb, follower, "GET", "/app/sealing/counter?name=notes")
        check(r.status == 200 and r.json()["value"] == 1, f"GET counter: {r!r}")
        # the node that sealed (the leader) dies: the blob and the counter live on
        sb.kill9(leader)
        rest = [i for i in range(3) if i != leader]
        new_leader = sb.wait_leader(among=rest)
        log(f"leader {leader} killed, node {new_leader} leads")
        for i in rest:
            r = wait_until(lambda: (lambda r: r if r.status == 200 else None)(
                unseal(sb, i, blob)), 30, f"the blob through node {i} after the kill")
            check(r.body == SECRET, f"the blob through node {i}: {r!r}")
        newer = seal(sb, rest[0], b"newer", counter="notes")
        wait_counter(sb, rest, "notes", 2)
        r = unseal(sb, rest[1], blob)
        check(r.status == 409 and b"ROLLBACK" in r.body, f"the older blob: {r!r}")
        r = unseal(sb, rest[1], newer)
        check(r.status == 200 and r.body == b"newer", f"the newer blob: {r!r}")
        # batched increments: one request, one transaction, 16 counters
        r = request(sb, rest[0], "POST", "/app/sealing/counter?name=batch&count=16")
        check(r.status == 200 and r.json()["value"] == 1, f"16 counters at once: {r!r}")
        wait_counter(sb, rest, "batch/15", 1)


def test_restoring_a_whole_machine_rolls_nothing_back(env):
    service_sealing_env(env)
    with env.sandbox(nodes=3) as sb:
        victim = sb.wait_leader()
        old = seal(sb, victim, b"old", counter="c")
        wait_counter(sb, range(3), "c", 1)
        h.stop_node(sb, victim)
        saved = env.path("victim-machine")
        os.makedirs(saved)
        h.save_machine(sb, victim, saved)
        h.restart_and_catch_up(sb, victim)
        others = [i for i in range(3) if i != victim]
        seal(sb, others[0], b"new", counter="c")
        wait_counter(sb, range(3), "c", 2)
        # the host puts the whole machine back as it was before the newer seal
        h.stop_node(sb, victim)
        h.restore_machine(sb, victim, saved)
        sb.restart(victim)
        wait_until(lambda: sb.is_open(victim), 60, f"node {victim} open again")
        # (503 "no leader is known" until it heard from the leader)
        r = wait_until(lambda: (lambda r: r if r.status != 503 else None)(
            unseal(sb, victim, old)), 30, f"an answer from node {victim}")
        check(r.status == 409 and b"ROLLBACK" in r.body,
              f"the older blob through the restored node: {r!r}")
        # and the restored node caught up: its own reads see the counter's value
        wait_counter(sb, [victim], "c", 2)


if __name__ == "__main__":
    sys.exit(h.main([test_blobs_and_counters_belong_to_the_service,
                     test_restoring_a_whole_machine_rolls_nothing_back]))
