#include "consensus/fsm.h"

#include "base/alloc.h"
#include "base/log.h"
#include "consensus/entry.h"
#include "consensus/fsm_release.h"

#include <stddef.h>
#include <string.h>
#include <uv.h>

#define LOG_MOD "raft"

/*
 * The log entry whose payload raft is applying. libraft passes only the
 * payload to raft_fsm->apply; the entry it belongs to is found in the
 * in-memory log (raft.h: a circular buffer whose used slots are [front,
 * back), holding indexes offset+1 onwards). replicationApply() applies index
 * last_applied + 1 and passes &entry->buf, so the lookup is confirmed by
 * pointer identity: a mismatch is reported, never guessed around.
 */
static const struct raft_entry *entry_at(const struct raft_log *l, uint64_t index)
{
    if (l->size == 0 || l->entries == NULL)
        return NULL;
    size_t n = l->back >= l->front ? l->back - l->front : l->size - l->front + l->back;
    if (index <= l->offset || index - l->offset > n)
        return NULL;
    size_t pos = (l->front + (size_t)(index - 1 - l->offset)) % l->size;
    return &l->entries[pos];
}

/* For log lines: the server's id, 0 when not bound yet. */
static unsigned long long server_id(const cs_fsm_adapter *a)
{
    return a->raft != NULL ? (unsigned long long)a->raft->id : 0;
}

/* A committed entry copied while an asynchronous snapshot reads the state. */
struct cs_fsm_deferred {
    cs_fsm_deferred *next;
    uint64_t index, term;
    size_t len;
    uint8_t data[]; /* the raft payload */
};

/* Decodes the raft payload of entry `index` and applies it; failures are
 * recorded in a->failed (the replica stops). */
static consort_err apply_one(cs_fsm_adapter *a, uint64_t index, uint64_t term, cs_slice payload,
                             void **result)
{
    cs_fsm_entry entry = {.index = index, .term = term};
    consort_err rc = cs_raft_entry_decode(payload, &entry.data);
    if (rc != CONSORT_OK) {
        rc = cs_err_context(rc == CONSORT_E_NOMEM ? rc : CONSORT_E_CORRUPT, "entry %llu",
                            (unsigned long long)index);
        goto fail;
    }
    CS_TRY_GOTO(rc, a->fsm.apply(a->fsm.ctx, &entry, result), fail);
    a->applied++;
    return CONSORT_OK;

fail:
    a->failed = rc;
    cs_log_error(LOG_MOD, "raft %llu: applying entry %llu (term %llu) failed: %s", server_id(a),
                 (unsigned long long)index, (unsigned long long)term, consort_errmsg());
    return rc;
}

/* Keeps a copy of the entry for after the snapshot (fsm.h). NOMEM is not
 * recorded as a failure: raft offers the same entry again at the next commit. */
static int keep_entry(cs_fsm_adapter *a, uint64_t index, uint64_t term,
                      const struct raft_buffer *buf)
{
    cs_fsm_deferred *d = cs_malloc(sizeof *d + buf->len);
    if (d == NULL)
        return RAFT_NOMEM;
    *d = (cs_fsm_deferred){.index = index, .term = term, .len = buf->len};
    if (buf->len > 0)
        memcpy(d->data, buf->base, buf->len);
    if (a->def_tail != NULL)
        a->def_tail->next = d;
    else
        a->def_head = d;
    a->def_tail = d;
    return 0;
}

static int defer_entry(cs_fsm_adapter *a, uint64_t index, uint64_t term,
                       const struct raft_buffer *buf)
{
    int rv = keep_entry(a, index, term, buf);
    if (rv == 0)
        a->deferred++;
    return rv;
}

static void drain_later(void *ctx);

/* The wait of an entry kept so that a follower answers first: its answer,
 * written by raft into the transport during this turn, is read and sent in
 * the next one (the transport's bridge, bridge.h); the entry is applied in
 * the turn after that. */
static void answer_turn(void *ctx)
{
    cs_fsm_adapter *a = ctx;
    if (a->answer_turns > 0) {
        a->answer_turns--;
        cs_defer_call(a->later, &a->drain_item, answer_turn, a);
        return;
    }
    drain_later(a);
}

/* A follower keeps the entry and applies it two turns later (fsm.h). */
static int answer_first(cs_fsm_adapter *a, uint64_t index, uint64_t term,
                        const struct raft_buffer *buf)
{
    int rv = keep_entry(a, index, term, buf);
    if (rv != 0)
        return rv;
    a->deferring = true;
    a->draining = true;
    a->answering = true;
    a->answer_turns = 1;
    cs_defer_call(a->later, &a->drain_item, answer_turn, a);
    return 0;
}

static int adapter_apply(struct raft_fsm *rf, const struct raft_buffer *buf, void **result)
{
    cs_fsm_adapter *a = rf->data;
    *result = NULL;
    if (a->failed != CONSORT_OK || a->raft == NULL)
        return RAFT_IOERR; /* a failed replica stays stopped */
    uint64_t index = a->raft->last_applied + 1;
    const struct raft_entry *e = entry_at(&a->raft->log, index);
    if (e == NULL || &e->buf != buf) {
        a->failed = CONSORT_E_STATE;
        cs_log_error(LOG_MOD, "raft %llu: cannot locate entry %llu being applied",
                     (unsigned long long)a->raft->id, (unsigned long long)index);
        return RAFT_IOERR;
    }
    if (a->deferring)
        return defer_entry(a, index, e->term, buf);
    if (a->answer_first && a->later != NULL && a->raft->state == RAFT_FOLLOWER)
        return answer_first(a, index, e->term, buf);
    consort_err rc = apply_one(a, index, e->term, CS_SLICE(buf->base, buf->len), result);
    if (rc != CONSORT_OK)
        return rc == CONSORT_E_NOMEM ? RAFT_NOMEM : RAFT_IOERR;
    return 0;
}

/* ---- asynchronous snapshots (fsm version 3) ---- */

static void run_waiters(cs_fsm_adapter *a)
{
    while (a->wait_head != NULL && !a->deferring) {
        cs_fsm_waiter *w = a->wait_head;
        a->wait_head = w->next;
        if (a->wait_head == NULL)
            a->wait_tail = NULL;
        w->next = NULL;
        w->fn(w);
    }
}

void cs_fsm_adapter_after_catch_up(cs_fsm_adapter *a, cs_fsm_waiter *w)
{
    w->next = NULL;
    if (!a->deferring) {
        w->fn(w);
        return;
    }
    if (a->wait_tail != NULL)
        a->wait_tail->next = w;
    else
        a->wait_head = w;
    a->wait_tail = w;
}

/* Applies kept entries in order, for one slice of time when a queue is
 * set; after a failure the rest are dropped (the replica has stopped).
 * True when none is left. */
static bool drain_slice(cs_fsm_adapter *a, bool sliced)
{
    const uint64_t start = uv_hrtime();
    while (a->def_head != NULL) {
        cs_fsm_deferred *d = a->def_head;
        a->def_head = d->next;
        if (a->def_head == NULL)
            a->def_tail = NULL;
        void *result = NULL;
        if (a->failed == CONSORT_OK)
            (void)apply_one(a, d->index, d->term, CS_SLICE(d->data, d->len), &result);
        cs_free(d);
        if (sliced && uv_hrtime() - start >= CS_FSM_DRAIN_SLICE_MS * 1000000ull)
            break;
    }
    return a->def_head == NULL;
}

static void drained(cs_fsm_adapter *a)
{
    a->draining = false;
    a->deferring = false;
    a->answering = false;
    run_waiters(a);
}

static void drain_later(void *ctx)
{
    cs_fsm_adapter *a = ctx;
    if (!drain_slice(a, a->later != NULL)) {
        cs_defer_call(a->later, &a->drain_item, drain_later, a);
        return;
    }
    drained(a);
}

/* Entries kept for a follower's answer (a turn's worth) applied now. */
static void drain_now(cs_fsm_adapter *a)
{
    if (a->later != NULL)
        cs_defer_cancel(a->later, &a->drain_item);
    (void)drain_slice(a, false);
    drained(a);
}

/* The snapshot ended: the entries kept during it are applied, and until
 * they all are, newly committed ones queue behind them (`deferring` stays
 * set), so the FSM sees every entry once and in order. */
static void drain_deferred(cs_fsm_adapter *a)
{
    a->draining = true;
    drain_later(a);
}

/* Entries kept for after a snapshot that an installed snapshot overtook:
 * dropped unapplied. */
static void drop_deferred(cs_fsm_adapter *a)
{
    while (a->def_head != NULL) {
        cs_fsm_deferred *d = a->def_head;
        a->def_head = d->next;
        cs_free(d);
    }
    a->def_tail = NULL;
    if (a->later != NULL)
        cs_defer_cancel(a->later, &a->drain_item);
}

/*
 * A failed FSM is never snapshotted (adapter_snapshot, _begin): libraft
 * takes a snapshot at its last applied index, which counts the entries
 * deferred during an asynchronous snapshot (or kept for a follower's
 * answer, which a snapshot applies first) as applied; if applying them
 * afterwards failed, the FSM holds less than that index, and a restart
 * would restore the snapshot and resume raft's log after entries the FSM
 * never applied. The failure itself is logged once, by
 * apply_one.
 */
static int adapter_snapshot(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    cs_fsm_adapter *a = rf->data;
    if (a->draining) /* entries kept for a follower's answer (no other kind here) */
        drain_now(a);
    if (a->failed != CONSORT_OK)
        return RAFT_IOERR;
    cs_buf out;
    cs_buf_init_secret(&out, CS_FSM_SNAPSHOT_MAX);
    consort_err rc = a->fsm.snapshot(a->fsm.ctx, &out);
    if (rc == CONSORT_OK && out.len == 0)
        rc = cs_fail(CONSORT_E_STATE, "FSM produced an empty snapshot");
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&out);
        if (rc == CONSORT_E_BUSY)
            return RAFT_BUSY;
        cs_log_warn(LOG_MOD, "raft %llu: snapshot failed: %s", server_id(a), consort_errmsg());
        return rc == CONSORT_E_NOMEM ? RAFT_NOMEM : RAFT_IOERR;
    }
    struct raft_buffer *arr = cs_malloc(sizeof *arr);
    if (arr == NULL) {
        cs_buf_cleanup(&out);
        return RAFT_NOMEM;
    }
    /* Ownership of out's memory moves to arr[0]; snapshot_finalize frees it. */
    arr[0].base = out.ptr;
    arr[0].len = out.len;
    *bufs = arr;
    *n_bufs = 1;
    return 0;
}

/* Loop: the FSM captures what it needs; raft then runs snapshot_async. */
static int adapter_snapshot_begin(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    cs_fsm_adapter *a = rf->data;
    *bufs = NULL;
    *n_bufs = 0;
    if (a->failed != CONSORT_OK)
        return RAFT_IOERR; /* see adapter_snapshot */
    /* raft counts the entries still queued from the last snapshot as
     * applied: a snapshot now would claim entries the FSM does not hold.
     * Those kept for a follower's answer are few: applied now. */
    if (a->draining && !a->answering)
        return RAFT_BUSY;
    if (a->draining)
        drain_now(a);
    if (a->failed != CONSORT_OK)
        return RAFT_IOERR;
    /* allocated here so that the worker only fills it in */
    struct raft_buffer *arr = cs_calloc(1, sizeof *arr);
    if (arr == NULL)
        return RAFT_NOMEM;
    void *job = NULL;
    bool defer = false;
    consort_err rc = a->fsm.snapshot_begin(a->fsm.ctx, &job, &defer);
    if (rc != CONSORT_OK) {
        cs_free(arr);
        if (rc == CONSORT_E_BUSY)
            return RAFT_BUSY;
        cs_log_warn(LOG_MOD, "raft %llu: snapshot failed: %s", server_id(a), consort_errmsg());
        return rc == CONSORT_E_NOMEM ? RAFT_NOMEM : RAFT_IOERR;
    }
    a->snap_job = job;
    a->snap_bufs = arr;
    a->snap_rc = CONSORT_OK;
    a->deferring = defer;
    return 0;
}

/* A libuv threadpool thread: touches only the job and a->snap_bufs/snap_rc,
 * which the loop leaves alone until snapshot_finalize. */
static int adapter_snapshot_async(struct raft_fsm *rf, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    cs_fsm_adapter *a = rf->data;
    cs_buf out;
    cs_buf_init_secret(&out, CS_FSM_SNAPSHOT_MAX);
    consort_err rc = a->fsm.snapshot_make(a->snap_job, &out);
    if (rc == CONSORT_OK && out.len == 0)
        rc = cs_fail(CONSORT_E_STATE, "FSM produced an empty snapshot");
    a->snap_rc = rc;
    if (rc != CONSORT_OK) {
        cs_buf_cleanup(&out);
        return rc == CONSORT_E_NOMEM ? RAFT_NOMEM : RAFT_IOERR;
    }
    /* Ownership of out's memory moves to snap_bufs[0]; snapshot_finalize frees it. */
    a->snap_bufs[0].base = out.ptr;
    a->snap_bufs[0].len = out.len;
    *bufs = a->snap_bufs;
    *n_bufs = 1;
    return 0;
}

/*
 * Loop, from snapshot_finalize: whether raft stored the snapshot being
 * finalized. libraft calls snapshot_finalize whatever happened (the worker
 * failed, async_work or snapshot_put refused, the put completed with an
 * error, or it succeeded) and tells it nothing; only on success has it
 * already moved its log's snapshot to the pending snapshot's index
 * (replication.c takeSnapshotCb: logSnapshot, then takeSnapshotClose). No
 * other snapshot can have reached that index meanwhile: an InstallSnapshot
 * is refused while one is pending, and a new snapshot is taken only
 * `threshold` (>= 1) entries past the last one.
 */
static consort_err store_result(const cs_fsm_adapter *a)
{
    if (a->snap_rc != CONSORT_OK)
        return a->snap_rc; /* the worker's own failure */
    CS_ENSURE(a->raft != NULL, CONSORT_E_STATE, "FSM adapter: no raft instance bound");
    const struct raft_snapshot *p = &a->raft->snapshot.pending;
    if (p->term != 0 && a->raft->log.snapshot.last_index == p->index &&
        a->raft->log.snapshot.last_term == p->term)
        return CONSORT_OK;
    cs_log_warn(LOG_MOD, "raft %llu: snapshot at index %llu was made but not stored", server_id(a),
                (unsigned long long)p->index);
    return CONSORT_E_IO;
}

/* Loop. Version 2: raft gives the buffers back once they are stored.
 * Version 3: also after a failed snapshot_async or store (raft.h), so the
 * job ends, with the result of the store, and deferred entries are applied
 * here in every case. */
static int adapter_snapshot_finalize(struct raft_fsm *rf, struct raft_buffer *bufs[],
                                     unsigned *n_bufs)
{
    cs_fsm_adapter *a = rf->data;
    if (a->snap_bufs != NULL) {
        /* *bufs is either NULL or a->snap_bufs */
        cs_fsm_wipe_free_bufs(a, a->snap_bufs, 1);
        a->snap_bufs = NULL;
        void *job = a->snap_job;
        a->snap_job = NULL;
        a->fsm.snapshot_end(a->fsm.ctx, job, store_result(a));
        drain_deferred(a);
    } else if (*bufs != NULL) {
        cs_fsm_wipe_free_bufs(a, *bufs, *n_bufs);
    }
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

static int adapter_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
    cs_fsm_adapter *a = rf->data;
    consort_err rc = a->fsm.restore(a->fsm.ctx, CS_SLICE(buf->base, buf->len));
    if (rc == CONSORT_OK && a->draining) {
        /* raft installs a snapshot past everything it counted as applied,
         * the entries still queued included: they are in it */
        drop_deferred(a);
        drained(a);
    }
    if (rc != CONSORT_OK) {
        /* On failure raft keeps ownership of buf and frees it. */
        cs_log_error(LOG_MOD, "raft %llu: restoring a snapshot of %zu bytes failed: %s",
                     server_id(a), buf->len, consort_errmsg());
        return rc == CONSORT_E_NOMEM ? RAFT_NOMEM : RAFT_MALFORMED;
    }
    /* On success the buffer is ours (libraft snapshotRestore). */
    cs_wipe(buf->base, buf->len);
    raft_free(buf->base);
    buf->base = NULL;
    buf->len = 0;
    a->restored++;
    return 0;
}

consort_err cs_fsm_adapter_init(cs_fsm_adapter *a, const cs_fsm *fsm, const struct raft *raft)
{
    CS_ENSURE(fsm != NULL && fsm->apply != NULL && fsm->restore != NULL, CONSORT_E_INVALID_ARGUMENT,
              "FSM: apply and restore are required");
    bool async =
        fsm->snapshot_begin != NULL || fsm->snapshot_make != NULL || fsm->snapshot_end != NULL;
    CS_ENSURE(async ? fsm->snapshot_begin != NULL && fsm->snapshot_make != NULL &&
                          fsm->snapshot_end != NULL
                    : fsm->snapshot != NULL,
              CONSORT_E_INVALID_ARGUMENT,
              "FSM: snapshot, or all of snapshot_begin, _make and _end, required");
    *a = (cs_fsm_adapter){0};
    a->fsm = *fsm;
    a->raft = raft;
    /* raft.h: version 3 calls snapshot on the loop, then snapshot_async on
     * the threadpool (io->async_work), then snapshot_finalize on the loop */
    a->raft_fsm.version = async ? 3 : 2;
    a->raft_fsm.data = a;
    a->raft_fsm.apply = adapter_apply;
    a->raft_fsm.snapshot = async ? adapter_snapshot_begin : adapter_snapshot;
    a->raft_fsm.restore = adapter_restore;
    a->raft_fsm.snapshot_finalize = adapter_snapshot_finalize;
    a->raft_fsm.snapshot_async = async ? adapter_snapshot_async : NULL;
    return CONSORT_OK;
}

void cs_fsm_adapter_bind(cs_fsm_adapter *a, const struct raft *raft)
{
    a->raft = raft;
}

void cs_fsm_adapter_set_later(cs_fsm_adapter *a, cs_defer *later)
{
    a->later = later;
}

void cs_fsm_adapter_set_loop(cs_fsm_adapter *a, uv_loop_t *loop)
{
    a->loop = loop;
}

void cs_fsm_adapter_set_answer_first(cs_fsm_adapter *a, bool on)
{
    a->answer_first = on;
}

void cs_fsm_adapter_stop(cs_fsm_adapter *a)
{
    if (a->later != NULL)
        cs_defer_cancel(a->later, &a->drain_item);
    a->later = NULL; /* from now on, all at once */
    if (a->draining) /* raft reported them applied: the FSM gets them before it closes */
        drain_later(a);
}
