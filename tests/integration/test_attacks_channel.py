#!/usr/bin/env python3
"""Host-attack catalogue, node-to-node channel (DESIGN.md "What the host may do": replay
or reorder node-to-node messages). The host owns the network between nodes, so it can
sit in the middle of a raft link: the test moves a follower's listening port (its
configuration is the host's) and puts a loopback proxy (consort_harness.TlsRecordProxy)
at the address the service knows it by, so the leader's raft channel to the follower
runs through it. The proxy replays, or reorders, one TLS record of that channel.

Each attack must fail closed: the follower's TLS layer refuses the record (TLS 1.3
protects each record with an AEAD whose nonce is its sequence number, RFC 8446 §5.3,
so a replayed or reordered record does not authenticate), closes the channel and logs
why; nothing the host injected is applied. And the service goes on: honest clients
writing through the leader and the other follower are served without a single failure
throughout, the leader reconnects, the follower catches up, and every node's ledger
is the same, byte for byte."""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

# The follower's log when the leader's channel fails to authenticate a record: one line
# with the leader's raft id, src/consensus/bridge.c's "connection closed", src/crypto/
# tls.c's "TLS read" and OpenSSL's reason for an AEAD failure, e.g.
#   raft peer 1707...: connection closed: TLS with 127.0.0.1:50176: TLS read:
#       error:0A000119:SSL routines::decryption failed or bad record mac
CHANNEL_CLOSED = ("raft peer {raft_id}: connection closed", "TLS read")
AEAD_FAILED = ("bad record mac", "decryption failed")
REFUSAL_TIMEOUT = 30  # s for the attack to happen and the follower to close the channel


def behind_proxy(env, sb, attack):
    """Restarts a follower listening on a new port, with a TlsRecordProxy doing `attack`
    at its old (registered) node_address. Returns (leader, follower, other, proxy)."""
    leader = sb.wait_leader()
    f = next(i for i in range(sb.count) if i != leader)
    other = next(i for i in range(sb.count) if i not in (leader, f))
    os.kill(sb.pid(f), signal.SIGTERM)
    h.wait_until(lambda: not sb.alive(f), 20, f"node {f} to stop")
    with open(sb.nodes[f]["config"]) as fh:
        cfg = json.load(fh)
    registered = cfg["node_address"]
    cfg["node_address"] = h.ANY_PORT
    with open(sb.nodes[f]["config"], "w") as fh:
        json.dump(cfg, fh, indent=1)
    moved = sb.restart(f, bound=True).node_address
    proxy = h.TlsRecordProxy(registered, moved, attack)
    check(proxy.address == registered, f"the proxy listens on {proxy.address}")
    h.log(f"node {f} now listens on {moved}; the host's proxy ({attack}) "
          f"sits at {registered}, where the leader (node {leader}) dials it")
    h.wait_until(lambda: sb.is_open(f), 60, f"node {f} to reopen")
    return leader, f, other, proxy


def channel_attack(env, attack):
    os.environ["CONSORT_LOG"] = "info"  # the bridge's "connection closed" line is info
    with env.sandbox(3) as sb:
        leader, f, other, proxy = behind_proxy(env, sb, attack)
        leader_raft_id = h.raft_id_of(sb, leader)
        check(leader_raft_id, f"node {leader}'s log does not give its raft id")
        try:
            log_start = h.file_size(sb.log_path(f))
            with h.HonestClients(sb, [leader, other]) as honest:
                h.wait_until(lambda: honest.count() >= 5, 30, "honest writes before the attack")
                proxy.arm()
                ev = h.wait_until(lambda: [e for e in proxy.tampered() if e["closed_at"]],
                                  REFUSAL_TIMEOUT,
                                  f"the proxy to {attack} a record and node {f} to close "
                                  f"the channel")[0]
                delay = ev["closed_at"] - ev["tampered_at"]
                h.log(f"{attack}: after {proxy.after} records on connection {ev['conn']}; "
                      f"node {f} closed the channel ({ev['how']}) {delay * 1000:.0f} ms later")
                check(delay < 5, f"node {f} kept the channel open {delay:.1f} s after the "
                                 f"{attack}ed record")

                words = [w.format(raft_id=leader_raft_id) for w in CHANNEL_CLOSED]

                def refusal():
                    lines = [l for l in h.log_lines(sb.log_path(f), *words, start=log_start)
                             if any(w in l for w in AEAD_FAILED)]
                    return lines
                lines = h.wait_until(refusal, 10, f"node {f} to log why it closed the channel")
                h.log(f"node {f}: {lines[0].strip()[:240]}")
                # the leader dials again (through the proxy, which now passes the bytes)
                conn = ev["conn"]
                h.wait_until(lambda: proxy.connections > conn, 30, "the leader to reconnect")
                base = honest.count()
                h.wait_until(lambda: honest.count() >= base + 10, 60,
                             "10 more honest writes after the reconnection")
            acked = honest.check(min_ops=20)
            sb.wait_caught_up([0, 1, 2])
            h.check_records(sb, acked, [f], msg=honest.msg)
            sb.wait_quiescent()
            n = h.check_ledgers_agree(sb, range(3))
            h.log(f"the three ledgers hold the same {n} entries, byte for byte")
        finally:
            proxy.close()


# The admitting node's log when a joiner's channel fails to authenticate a record:
#   attested channel: TLS refused: TLS with 127.0.0.1:43102: TLS read:
#       error:0A000119:SSL routines::decryption failed or bad record mac
JOIN_CHANNEL_REFUSED = ("attested channel", "TLS read")


def test_attack_join_messages_replayed(env):
    """A joining node reaches the leader through the host's proxy (its join target is
    the host's to configure); the proxy replays the joiner's third application record
    (after the handshake: its hello and join request). The leader refuses the record
    and closes the channel, the joiner says so and retries, and joins exactly once."""
    os.environ["CONSORT_LOG"] = "info"
    with env.sandbox(3) as sb:
        leader = sb.wait_leader()
        proxy = h.TlsRecordProxy(h.ANY_PORT, sb.nodes[leader]["node_address"], "replay",
                                 after=3)
        root = env.path("joiner")
        os.makedirs(root)
        with open(sb.nodes[1]["config"]) as f:
            platform_dir = json.load(f)["platform_dir"]  # node 1's host
        cfg = {"platform": "virtual", "platform_dir": platform_dir,
               "rpc_address": h.ANY_PORT, "node_address": h.ANY_PORT,
               "data_dir": os.path.join(root, "data"), "app": env.app,
               "join": {"target": proxy.address, "service_cert": sb.service_cert}}
        with open(os.path.join(root, "node.json"), "w") as f:
            json.dump(cfg, f)
        joiner_log = os.path.join(root, "consortd.log")
        log_start = h.file_size(sb.log_path(leader))
        joiner = None
        try:
            with h.HonestClients(sb, range(3)) as honest:
                proxy.arm()
                joiner = h.Consortd(env.consortd, os.path.join(root, "node.json"), joiner_log,
                                    cfg=cfg)
                ev = h.wait_until(lambda: [e for e in proxy.tampered() if e["closed_at"]],
                                  REFUSAL_TIMEOUT, "the proxy to replay a record of the join "
                                  "channel and the leader to close it")[0]
                delay = ev["closed_at"] - ev["tampered_at"]
                check(delay < 5, f"the leader kept the join channel open {delay:.1f} s after "
                                 f"the replayed record")
                lines = h.wait_until(lambda: [
                    l for l in h.log_lines(sb.log_path(leader), *JOIN_CHANNEL_REFUSED,
                                           start=log_start)
                    if any(w in l for w in AEAD_FAILED)], 10,
                    f"node {leader} to log why it closed the join channel")
                h.log(f"node {leader}: {lines[0].strip()[:240]}")
                retry = h.wait_until(lambda: h.log_lines(joiner_log, f"join via {proxy.address}",
                                                         "retrying"), 10,
                                     "the joiner to say it retries")
                h.log(f"joiner: {retry[0].strip()[:240]}")

                def joined():
                    c = h.Client(cfg["rpc_address"], sb.service_cert, sb.user_cert, sb.user_key,
                                 timeout=3)
                    try:
                        return c.get_json("/node/state").get("state") == "PartOfNetwork"
                    finally:
                        c.close()
                h.wait_until(joined, 60, "the joiner to join through the proxy")
            honest.check()
            c = sb.client(leader)
            try:
                nodes = c.get_json("/node/network")["nodes"]
            finally:
                c.close()
            listed = [n for n in nodes if n.get("rpc_address") == cfg["rpc_address"]]
            check(len(listed) == 1 and listed[0].get("status") == "Trusted",
                  f"the joiner is listed {len(listed)} times: {listed}")
            check(len(proxy.tampered()) == 1, f"attacks made: {proxy.tampered()}")
        finally:
            if joiner:
                joiner.stop()
            proxy.close()


def test_attack_node_messages_replayed(env):
    channel_attack(env, "replay")


def test_attack_node_messages_reordered(env):
    channel_attack(env, "reorder")


if __name__ == "__main__":
    sys.exit(h.main([test_attack_node_messages_replayed, test_attack_node_messages_reordered,
                     test_attack_join_messages_replayed]))
