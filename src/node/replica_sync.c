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
 *
 * The fsync runs on libuv's threadpool (store/ledger.h cs_ledger_sync):
 * the loop writes the frames and goes on while the disk works; so does the
 * close of a full chunk (fsync, rename, directory fsync: up to 205 ms on
 * the loop at 10M keys, bench/RESULTS.md), the entries after it waiting in
 * the writer's memory meanwhile (cs_ledger_writer_owed_begin). Queued
 * behind a large snapshot's writes, a ledger fsync on the loop held it
 * 100-160 ms (bench/RESULTS.md "Loop stalls attributed"). One sync is in
 * flight at a time; a signature entry accepted meanwhile owes the next.
 * While a frozen snapshot's worker owns the ledger writer, a sync that
 * completes is parked and finished when the snapshot ends.
 */
#include "node/replica_priv.h"
#include "store/ledger_writer.h"

#include "base/alloc.h"
#include "base/log.h"

typedef struct replica_sync_job {
    uv_work_t work;
    node_replica *r; /* NULL: the replica closed while it ran */
    bool done;       /* ran, parked until the frozen snapshot ends */
    uint64_t begun;  /* uv_now when the ticket was taken */
    cs_ledger_sync t;
} replica_sync_job;

static void rearm(node_replica *r)
{
    r->sync_armed = true;
    cs_timer_start(r->sync_timer, r->opts.sync_ms);
}

/* The outcome of a sync begun at `begun` (loop, the writer not frozen). */
static void sync_result(node_replica *r, consort_err rc, uint64_t begun)
{
    if (rc == CONSORT_E_NO_SPACE) {
        /* frames written since stay buffered and the writer usable: the
         * next append reports the shortage; ask again later */
        cs_log_warn(REPLICA_LOG, "node %s: ledger sync: %s", r->opts.node_id, consort_errmsg());
        rearm(r);
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
    /* what was accepted after the ticket was taken (a signature entry, or
     * entries that waited for a chunk's close) is owed within sync_ms of
     * then, not of now */
    r->synced_at = begun;
    r->stats.ledger_syncs++;
    replica_sync_owed(r);
}

static void sync_work(uv_work_t *w)
{
    replica_sync_job *j = w->data;
    cs_ledger_sync_run(&j->t);
}

/* Loop: ends the job's ticket and frees it. */
static void sync_finish(node_replica *r, replica_sync_job *j)
{
    r->sync_job = NULL;
    consort_err rc = cs_ledger_writer_sync_end(r->ledger, &j->t);
    uint64_t begun = j->begun;
    cs_free(j);
    sync_result(r, rc, begun);
}

static void sync_done(uv_work_t *w, int status)
{
    replica_sync_job *j = w->data;
    node_replica *r = j->r;
    if (r == NULL || status != 0) {
        /* the replica went, or the work never ran: nothing to report, and
         * the writer (if any) still owes its sync */
        cs_ledger_sync_abandon(&j->t);
        if (r != NULL) {
            r->sync_job = NULL;
            replica_sync_owed(r);
        }
        cs_free(j);
        return;
    }
    if (r->snapshot_frozen) {
        j->done = true; /* the worker owns the writer: replica_sync_thaw */
        return;
    }
    sync_finish(r, j);
}

/* The sync on the loop: where the threadpool cannot take it. */
static void sync_here(node_replica *r)
{
    sync_result(r, cs_ledger_writer_sync(r->ledger), uv_now(r->opts.loop));
}

static void sync_timer_cb(void *ctx)
{
    node_replica *r = ctx;
    r->sync_armed = false;
    if (r->snapshot_frozen || r->sync_job != NULL) {
        /* a follower's snapshot worker owns the ledger writer until the
         * snapshot ends (it syncs the ledger itself), or a sync is still
         * running: ask again later */
        rearm(r);
        return;
    }
    if (r->ledger == NULL || !cs_ledger_writer_unsynced(r->ledger))
        return;
    replica_sync_job *j = cs_calloc(1, sizeof *j);
    if (j == NULL) {
        sync_here(r);
        return;
    }
    consort_err rc = cs_ledger_writer_owed_begin(r->ledger, &j->t);
    if (rc != CONSORT_OK) {
        cs_free(j);
        sync_result(r, rc, uv_now(r->opts.loop));
        return;
    }
    j->r = r;
    j->begun = uv_now(r->opts.loop);
    j->work.data = j;
    if (uv_queue_work(r->opts.loop, &j->work, sync_work, sync_done) != 0) {
        cs_ledger_sync_abandon(&j->t);
        cs_free(j);
        sync_here(r);
        return;
    }
    r->sync_job = j;
}

consort_err replica_sync_init(node_replica *r)
{
    if (r->opts.loop == NULL || r->opts.sync_ms == 0)
        return CONSORT_OK; /* fsynced at every signature entry */
    return cs_timer_new(r->opts.loop, sync_timer_cb, r, &r->sync_timer);
}

void replica_sync_detach(node_replica *r)
{
    replica_sync_job *j = r->sync_job;
    r->sync_job = NULL;
    if (j != NULL && j->done) { /* parked: the writer it synced goes */
        cs_ledger_sync_abandon(&j->t);
        cs_free(j);
    } else if (j != NULL) {
        j->r = NULL; /* running: it frees itself */
    }
}

void replica_sync_cleanup(node_replica *r)
{
    cs_timer_free(r->sync_timer);
    r->sync_timer = NULL;
    r->sync_armed = false;
    replica_sync_detach(r);
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
    if (r->sync_timer == NULL || r->sync_armed || r->sync_job != NULL || r->ledger == NULL ||
        !cs_ledger_writer_unsynced(r->ledger))
        return;
    uint64_t now = uv_now(r->opts.loop);
    uint64_t due = r->synced_at + r->opts.sync_ms;
    r->sync_armed = true;
    cs_timer_start(r->sync_timer, due > now ? due - now : 0);
}

void replica_sync_thaw(node_replica *r)
{
    if (r->sync_job != NULL && r->sync_job->done)
        sync_finish(r, r->sync_job);
}
