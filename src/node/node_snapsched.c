/*
 * When raft takes its snapshots (replica.h node_snapshot_threshold and
 * node_snapshot_log_cap; docs/operating.md `snapshot_interval`,
 * `snapshot_log_kib`): by entries, at least `snapshot_interval` of them and
 * more as the state grows, and by bytes, so that the raft log a node holds
 * in memory between snapshots stays under a bound whatever the entries'
 * sizes.
 */
#include "node/node_priv.h"

#include "base/log.h"
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
