/*
 * When raft takes its snapshots (replica.h node_snapshot_threshold and
 * node_snapshot_log_cap; docs/operating.md `snapshot_interval`,
 * `snapshot_log_kib`): by entries, at least `snapshot_interval` of them and
 * more as the state grows, and by bytes, so that the raft log a node holds
 * in memory between snapshots stays under a bound whatever the entries'
 * sizes.
 */
#include "node/node_priv.h"

#include "base/alloc.h"
#include "base/log.h"
#include "consensus/raft_heap.h"
#include "node/replica.h"

void node_snapshot_taken(cs_node *n)
{
    if (n->cons == NULL)
        return;
    node_replica_stats st = node_replica_get_stats(n->replica);
    uint64_t next = node_snapshot_threshold(n->cfg.snapshot_interval, st.last_snapshot_bytes,
                                            st.entry_bytes, st.entries_applied);
    if (next != cs_consensus_snapshot_threshold(n->cons)) {
        cs_log_debug(NODE_LOG, "node %s: next snapshot after %llu entries (this one: %llu bytes)",
                     cs_node_id(n), (unsigned long long)next,
                     (unsigned long long)st.last_snapshot_bytes);
        cs_consensus_set_snapshot_threshold(n->cons, (unsigned)next);
    }
}

bool node_snapshot_trim_worth(uint64_t log_bytes, uint64_t snapshot_bytes)
{
    return log_bytes >= snapshot_bytes / 2;
}

void node_snapshot_release(cs_node *n)
{
    node_replica_stats st = node_replica_get_stats(n->replica);
    uint64_t in_heap = st.last_snapshot_log_bytes;
    if (cs_raft_heap_installed()) {
        uint64_t freed = cs_raft_heap_stats_get().heap_freed_bytes;
        in_heap = freed - n->raft_heap_freed_seen;
        n->raft_heap_freed_seen = freed;
    }
    if (node_snapshot_trim_worth(in_heap, st.last_snapshot_bytes))
        cs_alloc_trim_soon();
}

unsigned node_snapshot_trailing_cap(const cs_node *n)
{
    uint64_t interval = n->cfg.snapshot_interval;
    /* 0 or 1 kept libraft's default before trailing went by bytes */
    return interval < 256 && interval / 2 > 0 ? (unsigned)(interval / 2)
                                              : NODE_SNAPSHOT_TRAILING_MAX;
}

void node_snapshot_set_trailing(cs_node *n)
{
    if (n->cons == NULL)
        return;
    node_replica_stats st = node_replica_get_stats(n->replica);
    unsigned trailing =
        node_snapshot_trailing((n->cfg.snapshot_log_kib << 10) / 4, st.entry_bytes_since_snapshot,
                               st.entries_since_snapshot);
    unsigned cap = node_snapshot_trailing_cap(n);
    if (trailing > cap)
        trailing = cap;
    if (trailing != cs_consensus_snapshot_trailing(n->cons)) {
        cs_log_debug(NODE_LOG, "node %s: %u entries kept before the next snapshot", cs_node_id(n),
                     trailing);
        cs_consensus_set_snapshot_trailing(n->cons, trailing);
    }
}

void node_snapshot_watch_log(cs_node *n)
{
    if (n->cons == NULL || cs_consensus_snapshot_threshold(n->cons) == 1)
        return; /* none running, or one asked for already */
    node_replica_stats st = node_replica_get_stats(n->replica);
    uint64_t cap = node_snapshot_log_cap(n->cfg.snapshot_log_kib << 10, st.last_snapshot_bytes);
    if (st.entry_bytes_since_snapshot <= cap)
        return;
    cs_log_debug(NODE_LOG,
                 "node %s: %llu bytes of log since the last snapshot (at most %llu): "
                 "a snapshot now",
                 cs_node_id(n), (unsigned long long)st.entry_bytes_since_snapshot,
                 (unsigned long long)cap);
    /* raft takes it after this entry; node_snapshot_taken sets the next */
    cs_consensus_set_snapshot_threshold(n->cons, 1);
}
