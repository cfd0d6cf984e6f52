/*
 * How soon the ledger files are durable after a signature entry
 * (docs/ledger.md §5.1, configuration key ledger_sync_ms): every signature
 * entry's frames are written at once, and the .open chunk is fsynced at
 * most once every sync_ms, never later than sync_ms after the first
 * signature entry that is not durable yet. Raft's own log, fsynced before
 * any write is acknowledged, is what makes transactions durable; the
 * ledger's fsync bounds what a node's ledger files alone (disaster
 * recovery, an auditor's copy) can miss after a power cut, and the node
 * still syncs them before every snapshot, which lets raft drop its log.
 * Frequent signature entries (sig_interval_ms 10, for receipts within
 * milliseconds) thus no longer cost an fsync each on every node.
 */
#include "node/replica_priv.h"

#include "base/log.h"

static void sync_timer_cb(void *ctx)
{
    node_replica *r = ctx;
    r->sync_armed = false;
    if (r->snapshot_frozen) {
        /* a follower's snapshot worker owns the ledger writer until the
         * snapshot ends (it syncs the ledger itself): ask again later */
        r->sync_armed = true;
        cs_timer_start(r->sync_timer, r->opts.sync_ms);
        return;
    }
    if (r->ledger == NULL || !cs_ledger_writer_unsynced(r->ledger))
        return;
    consort_err rc = cs_ledger_writer_sync(r->ledger);
    if (rc == CONSORT_E_NO_SPACE) {
        /* frames written since stay buffered and the writer usable: the
         * next append reports the shortage; ask again later */
        cs_log_warn(REPLICA_LOG, "node %s: ledger sync: %s", r->opts.node_id, consort_errmsg());
        r->sync_armed = true;
        cs_timer_start(r->sync_timer, r->opts.sync_ms);
        return;
    }
    if (rc != CONSORT_OK) {
        /* after a failed fsync what the files hold is unknown (the writer
         * is broken): the node must stop (replica.h events.fatal) */
        cs_log_error(REPLICA_LOG, "node %s: ledger fsync failed: %s", r->opts.node_id,
                     consort_errmsg());
        if (r->ev.fatal != NULL)
            r->ev.fatal(r->ev.ctx, "ledger fsync failed");
        return;
    }
    r->synced_at = uv_now(r->opts.loop);
    r->stats.ledger_syncs++;
}

consort_err replica_sync_init(node_replica *r)
{
    if (r->opts.loop == NULL || r->opts.sync_ms == 0)
        return CONSORT_OK; /* fsynced at every signature entry */
    return cs_timer_new(r->opts.loop, sync_timer_cb, r, &r->sync_timer);
}

void replica_sync_cleanup(node_replica *r)
{
    cs_timer_free(r->sync_timer);
    r->sync_timer = NULL;
    r->sync_armed = false;
    if (r->ledger != NULL && cs_ledger_writer_unsynced(r->ledger) &&
        cs_ledger_writer_sync(r->ledger) != CONSORT_OK)
        cs_log_warn(REPLICA_LOG, "node %s: ledger sync on close: %s", r->opts.node_id,
                    consort_errmsg());
}

bool replica_sync_deferred(const node_replica *r)
{
    return r->sync_timer != NULL;
}

void replica_sync_owed(node_replica *r)
{
    if (r->sync_timer == NULL || r->sync_armed || r->ledger == NULL ||
        !cs_ledger_writer_unsynced(r->ledger))
        return;
    uint64_t now = uv_now(r->opts.loop);
    uint64_t due = r->synced_at + r->opts.sync_ms;
    r->sync_armed = true;
    cs_timer_start(r->sync_timer, due > now ? due - now : 0);
}
