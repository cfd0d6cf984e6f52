#!/usr/bin/env python3
"""Where a write's CPU goes: reads `perf script -F comm,tid,ip,sym,dso` output of
consortd processes recorded with DWARF call graphs (scripts/profile-writes.sh) and
attributes every sample to one stage of the write path (issue "Performance", item 1).

A sample belongs to the stage of the innermost frame that names one: malloc inside
the KV store counts as the KV store, an fsync inside a ledger append as fsync, the
kernel's TCP send under SSL_write as TLS. Stages are matched on function names
(consort's own, libraft's, OpenSSL's) or, where a library has no symbols, on the
shared object. TLS reads cannot be told apart by connection from the stack (the TLS
stream decrypts before it hands the bytes to HTTP or to raft), so client and
node-to-node TLS records are one stage; their writes are split by the caller.

Usage: perf-stages.py SCRIPT_OUTPUT [--cpu-us-per-write X] [--markdown]
"""

import collections
import re
import sys

# (stage, predicate on (symbol, dso)), tried on each frame from the innermost out.
# Order matters only within one frame (the first rule that names the frame wins).
RULES = [
    ("fsync (ledger files)", lambda s, d: s in ("fsync", "__GI_fsync", "fdatasync")
     or s.startswith("do_fsync") or s.startswith("ext4_sync_file")),
    ("signature entries: make and check", lambda s, d: s.startswith(
        ("node_exec_signature", "replica_check_signature", "cs_ledger_sig_"))),
    ("receipts", lambda s, d: s.startswith(("node_replica_receipt", "cs_receipt_"))),
    ("AEAD (private write sets)", lambda s, d: s.startswith(("cs_aead_", "cs_ledger_keys_"))),
    ("leaf hash and Merkle tree", lambda s, d: s.startswith(("cs_merkle_", "cs_ledger_leaf_hash"))),
    ("ledger append and index", lambda s, d: s.startswith(
        ("cs_ledger_writer_", "replica_index_", "append_ledger"))),
    ("write-set encoding (ledger entry)", lambda s, d: s.startswith(
        ("cs_ledger_entry_encode", "cs_ledger_entry_decode", "cs_ledger_ws_", "encode_into",
         "cs_ledger_entry_open"))),
    ("KV transaction", lambda s, d: s.startswith(("cs_kv_", "kv_"))),
    ("JSON (jansson)", lambda s, d: "libjansson" in d),
    ("application handler", lambda s, d: "consort-app" in d or s.startswith(
        ("consort_kv_", "consort_respond", "consort_request", "app_call", "cs_app_"))),
    ("forwarding (follower to leader)", lambda s, d: s.startswith(("rpc_forward", "cs_rpc_forward",
                                                                   "forward_"))),
    ("HTTP parse and routing", lambda s, d: "libhttp_parser" in d or s.startswith(
        ("cs_http_parse", "http_parser", "cs_rpc_route", "route_", "cs_http_header"))),
    ("HTTP response", lambda s, d: s.startswith(("cs_http_respond", "cs_rpc_respond",
                                                 "cs_http_conn_flush"))),
    ("Raft (libraft and consort's raft glue)", lambda s, d: "libraft" in d or s.startswith(
        ("cs_consensus_", "cs_raft_", "raft_", "bridge_", "fsm_", "adapter_", "uvRecv",
         "uvSend", "exec_submit"))),
    ("TLS records (client and node-to-node)", lambda s, d: "libssl" in d or s.startswith(
        ("SSL_", "ssl3_", "tls_", "cs_tls_", "inner_data_cb", "deliver_plain"))),
    ("applying entries (other)", lambda s, d: s.startswith(("node_replica_", "replica_"))),
    ("node executor (other)", lambda s, d: s.startswith(("node_exec_", "exec_"))),
]

# For samples that no stage above names (the innermost named frame is libuv's loop or
# the kernel): what the kernel was doing, then the loop itself.
FALLBACK = [
    ("socket reads and writes (kernel, from the loop)", lambda s, d: s.startswith(
        ("tcp_", "sock_", "unix_stream", "skb_", "__skb", "ip_", "__ip", "__tcp", "inet_",
         "__netif", "net_rx", "process_backlog", "__dev_queue", "vfs_read", "vfs_write",
         "ksys_read", "ksys_write", "do_writev", "vfs_writev"))),
    ("waiting and waking (epoll, scheduler, futex)", lambda s, d: s.startswith(
        ("schedule", "__schedule", "finish_task_switch", "do_epoll", "ep_", "futex",
         "try_to_wake_up", "wake_up"))),
    ("event loop (libuv, timers)", lambda s, d: "libuv" in d or s.startswith("uv_")),
]


def frames_of(path):
    """Yields (comm, [(sym, dso), ...] innermost first) per sample."""
    comm, frames = None, []
    head = re.compile(r"^(\S+)\s+\d+")
    line_re = re.compile(r"^\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")
    with open(path, errors="replace") as fh:
        for line in fh:
            if not line.strip():
                if comm is not None:
                    yield comm, frames
                comm, frames = None, []
                continue
            if not line[0].isspace():
                if comm is not None:
                    yield comm, frames
                m = head.match(line)
                comm, frames = (m.group(1) if m else "?"), []
                continue
            m = line_re.match(line)
            if m:
                sym = m.group(1).split("+")[0].replace(" (inlined)", "")
                frames.append((sym, m.group(2)))
    if comm is not None:
        yield comm, frames


def stage_of(frames):
    for rules in (RULES, FALLBACK):
        for sym, dso in frames:
            for name, pred in rules:
                if pred(sym, dso):
                    return name
    if frames and frames[0][1].startswith("[kernel"):
        return "kernel (other)"
    return "other"


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    per_write = None
    if "--cpu-us-per-write" in args:
        i = args.index("--cpu-us-per-write")
        per_write = float(args[i + 1])
        del args[i:i + 2]
    markdown = "--markdown" in args
    args = [a for a in args if a != "--markdown"]
    counts = collections.Counter()
    total = 0
    for comm, frames in frames_of(args[0]):
        if comm != "consortd":
            continue
        counts[stage_of(frames)] += 1
        total += 1
    if total == 0:
        print("perf-stages: no consortd samples", file=sys.stderr)
        return 1
    if markdown:
        print("| stage | share of nodes' CPU |" + (" CPU per write |" if per_write else ""))
        print("|---|---|" + ("---|" if per_write else ""))
    for name, n in counts.most_common():
        share = n / total
        extra = f"{share * per_write:8.1f} us" if per_write else ""
        if markdown:
            print(f"| {name} | {100 * share:.1f}% |" + (f" {share * per_write:.1f} µs |"
                                                        if per_write else ""))
        else:
            print(f"{name:45s} {100 * share:5.1f}%  {extra}")
    if not markdown:
        print(f"{'(samples)':45s} {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
