/*
 * The recording FSM of the consensus tests (raft_cluster.h): records value,
 * raft index and term of every entry it applies; its snapshot is
 * [be64 count, count x (be64 value, index, term, digest)]. Optionally
 * asynchronous (fsm.h snapshot_begin/make/end) and slow to apply.
 */
#ifndef CST_RAFT_FSM_H
#define CST_RAFT_FSM_H

#include "testutil.h"

#include "base/alloc.h"
#include "consensus/fsm.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CL_MAX_ENTRIES 4096

/* ---- the recording FSM ---- */

typedef struct cl_fsm {
    uint64_t n;
    uint64_t value[CL_MAX_ENTRIES];
    uint64_t index[CL_MAX_ENTRIES];
    uint64_t term[CL_MAX_ENTRIES];
    uint64_t digest[CL_MAX_ENTRIES]; /* FNV-1a of the whole entry and its length */
    bool order_broken;               /* an index did not increase */
    unsigned snapshots_taken;
    unsigned restores;
    /* asynchronous snapshots (cl_cluster.async_snapshots) */
    bool in_snapshot;         /* between snapshot_begin and snapshot_end */
    bool applied_in_snapshot; /* apply was called in between: deferral broken */
    bool changed_under_make;  /* the state moved while the worker read it */
    uint64_t snap_n;          /* entries when the job began */
    pthread_t loop_thread;
    unsigned made_off_loop; /* snapshot_make calls on another thread */
    unsigned snapshot_ends;
    unsigned snapshots_not_stored; /* ends with an error: made (or not) but not stored */
    /* fault injection: make waits while hold_make is set (the test thread
     * releases it); once a snapshot ends with fail_after_end set, every
     * apply fails (the first one is a deferred entry, if any were kept) */
    atomic_bool hold_make;
    bool fail_after_end, failing;
    /* a slow apply (microseconds each), and the loop turns applies ran in:
     * `turns` points at a counter the test bumps once per turn */
    unsigned apply_sleep_us;
    const uint64_t *turns;
    uint64_t last_turn;
    unsigned turns_seen;
    /* called as each entry is applied, before it is recorded */
    void (*on_apply)(struct cl_fsm *f, const cs_fsm_entry *e);
    void *on_apply_ctx;
} cl_fsm;

static inline uint64_t cl_digest(cs_slice d)
{
    uint64_t h = 1469598103934665603ull ^ d.len;
    for (size_t i = 0; i < d.len; i++)
        h = (h ^ d.ptr[i]) * 1099511628211ull;
    return h;
}

static inline consort_err cl_fsm_apply(void *ctx, const cs_fsm_entry *e, void **result)
{
    cl_fsm *f = ctx;
    cs_cursor c;
    uint64_t v;
    if (f->in_snapshot)
        f->applied_in_snapshot = true;
    CS_ENSURE(!f->failing, CONSORT_E_IO, "test FSM: apply fails (injected)");
    cs_cursor_init(&c, e->data);
    CS_TRY(cs_cursor_read_be64(&c, &v));
    CS_ENSURE(f->n < CL_MAX_ENTRIES, CONSORT_E_TOO_LARGE, "test FSM full");
    if (f->apply_sleep_us > 0) {
        struct timespec ts = {0, (long)f->apply_sleep_us * 1000};
        nanosleep(&ts, NULL);
    }
    if (f->turns != NULL && *f->turns != f->last_turn) {
        f->last_turn = *f->turns;
        f->turns_seen++;
    }
    if (f->on_apply != NULL)
        f->on_apply(f, e);
    if (f->n > 0 && e->index <= f->index[f->n - 1])
        f->order_broken = true;
    f->value[f->n] = v;
    f->index[f->n] = e->index;
    f->term[f->n] = e->term;
    f->digest[f->n] = cl_digest(e->data);
    f->n++;
    *result = &f->value[f->n - 1];
    return CONSORT_OK;
}

static inline consort_err cl_fsm_snapshot(void *ctx, cs_buf *out)
{
    cl_fsm *f = ctx;
    CS_TRY(cs_buf_append_be64(out, f->n));
    for (uint64_t i = 0; i < f->n; i++) {
        CS_TRY(cs_buf_append_be64(out, f->value[i]));
        CS_TRY(cs_buf_append_be64(out, f->index[i]));
        CS_TRY(cs_buf_append_be64(out, f->term[i]));
        CS_TRY(cs_buf_append_be64(out, f->digest[i]));
    }
    f->snapshots_taken++;
    return CONSORT_OK;
}

static inline consort_err cl_fsm_restore(void *ctx, cs_slice data)
{
    cl_fsm *f = ctx;
    cs_cursor c;
    uint64_t n;
    cs_cursor_init(&c, data);
    CS_TRY(cs_cursor_read_be64(&c, &n));
    CS_ENSURE(n <= CL_MAX_ENTRIES && n * 32 == cs_cursor_remaining(&c), CONSORT_E_MALFORMED,
              "test snapshot: %llu entries in %zu bytes", (unsigned long long)n,
              cs_cursor_remaining(&c));
    for (uint64_t i = 0; i < n; i++) {
        CS_TRY(cs_cursor_read_be64(&c, &f->value[i]));
        CS_TRY(cs_cursor_read_be64(&c, &f->index[i]));
        CS_TRY(cs_cursor_read_be64(&c, &f->term[i]));
        CS_TRY(cs_cursor_read_be64(&c, &f->digest[i]));
    }
    CS_TRY(cs_cursor_expect_end(&c));
    f->n = n;
    f->restores++;
    return CONSORT_OK;
}

/* Asynchronous: the job is the FSM itself, read from the worker while the
 * adapter defers apply (fsm.h); make dawdles so that entries do arrive. */
static inline consort_err cl_fsm_snapshot_begin(void *ctx, void **job, bool *defer)
{
    cl_fsm *f = ctx;
    f->in_snapshot = true;
    f->snap_n = f->n;
    f->loop_thread = pthread_self();
    *job = f;
    *defer = true;
    return CONSORT_OK;
}

static inline consort_err cl_fsm_snapshot_make(void *job, cs_buf *out)
{
    cl_fsm *f = job;
    if (!pthread_equal(pthread_self(), f->loop_thread))
        f->made_off_loop++;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    while (atomic_load(&f->hold_make))
        nanosleep(&ts, NULL);
    consort_err rc = cl_fsm_snapshot(f, out);
    if (f->n != f->snap_n)
        f->changed_under_make = true;
    return rc;
}

static inline void cl_fsm_snapshot_end(void *ctx, void *job, consort_err rc)
{
    cl_fsm *f = ctx;
    assert_ptr_equal(job, f);
    if (rc != CONSORT_OK)
        f->snapshots_not_stored++;
    f->in_snapshot = false;
    f->snapshot_ends++;
    if (f->fail_after_end)
        f->failing = true;
}

static inline cs_fsm cl_fsm_iface(cl_fsm *f, bool async)
{
    if (async)
        return (cs_fsm){.ctx = f,
                        .apply = cl_fsm_apply,
                        .restore = cl_fsm_restore,
                        .snapshot_begin = cl_fsm_snapshot_begin,
                        .snapshot_make = cl_fsm_snapshot_make,
                        .snapshot_end = cl_fsm_snapshot_end};
    return (cs_fsm){
        .ctx = f, .apply = cl_fsm_apply, .snapshot = cl_fsm_snapshot, .restore = cl_fsm_restore};
}

/* Asserts that two FSMs applied the same entries (value, index, term) in
 * the same order, and that indexes increased. */
static inline void cl_assert_same_history(const cl_fsm *a, const cl_fsm *b)
{
    assert_false(a->order_broken);
    assert_false(b->order_broken);
    assert_int_equal(a->n, b->n);
    for (uint64_t k = 0; k < a->n; k++) {
        assert_int_equal(a->value[k], b->value[k]);
        assert_int_equal(a->index[k], b->index[k]);
        assert_int_equal(a->term[k], b->term[k]);
        assert_int_equal(a->digest[k], b->digest[k]);
    }
}

#endif
