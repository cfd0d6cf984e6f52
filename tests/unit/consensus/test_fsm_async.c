/*
 * Asynchronous snapshots through the FSM adapter (fsm.h, libraft fsm
 * version 3): the hooks called directly (threads, ownership, failures,
 * held-back completions), then real servers whose snapshots are made on
 * libuv's threadpool while apply is deferred (a server whose snapshot
 * worker is held: test_fsm_held.c).
 */
#include "fsm_async_util.h"

/* ---- the hooks, directly ---- */

typedef struct hook_fsm {
    consort_err begin_rc, make_rc;
    bool defer, empty;
    size_t big; /* bytes of 0x5a instead of "snap" */
    unsigned begun, made, ended;
    consort_err end_rc;
    int job;
} hook_fsm;

static consort_err h_apply(void *ctx, const cs_fsm_entry *e, void **result)
{
    (void)ctx;
    (void)e;
    (void)result;
    return CONSORT_OK;
}

static consort_err h_restore(void *ctx, cs_slice data)
{
    (void)ctx;
    (void)data;
    return CONSORT_OK;
}

static consort_err h_begin(void *ctx, void **job, bool *defer)
{
    hook_fsm *h = ctx;
    if (h->begin_rc != CONSORT_OK)
        return cs_fail(h->begin_rc, "test: begin refused");
    h->begun++;
    *job = &h->job;
    *defer = h->defer;
    return CONSORT_OK;
}

static consort_err h_make(void *job, cs_buf *out)
{
    hook_fsm *h = (hook_fsm *)(void *)((char *)job - offsetof(hook_fsm, job));
    h->made++;
    if (h->make_rc != CONSORT_OK)
        return cs_fail(h->make_rc, "test: make failed");
    if (h->big > 0) {
        CS_TRY(cs_buf_reserve(out, h->big));
        memset(out->ptr, 0x5a, h->big);
        out->len = h->big;
        return CONSORT_OK;
    }
    return h->empty ? CONSORT_OK : cs_buf_append(out, "snap", 4);
}

static void h_end(void *ctx, void *job, consort_err rc)
{
    hook_fsm *h = ctx;
    assert_ptr_equal(job, &h->job);
    h->ended++;
    h->end_rc = rc;
}

typedef struct waiter {
    cs_fsm_waiter w;
    unsigned fired;
} waiter;

static void waiter_fn(cs_fsm_waiter *w)
{
    ((waiter *)(void *)w)->fired++;
}

typedef struct async_call {
    struct raft_fsm *rf;
    struct raft_buffer *bufs;
    unsigned n;
    int rv;
} async_call;

static void *async_thread(void *arg)
{
    async_call *c = arg;
    c->rv = c->rf->snapshot_async(c->rf, &c->bufs, &c->n);
    return NULL;
}

/* Runs snapshot_async on another thread, as raft's io->async_work does. */
static int run_async(struct raft_fsm *rf, struct raft_buffer **bufs, unsigned *n)
{
    async_call c = {.rf = rf};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, async_thread, &c), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    *bufs = c.bufs;
    *n = c.n;
    return c.rv;
}

/* The asynchronous FSM whose hooks count into `h`. */
static cs_fsm hook_iface(hook_fsm *h)
{
    return (cs_fsm){.ctx = h,
                    .apply = h_apply,
                    .restore = h_restore,
                    .snapshot_begin = h_begin,
                    .snapshot_make = h_make,
                    .snapshot_end = h_end};
}

static void hooks_directly(void **state)
{
    (void)state;
    hook_fsm h = {.defer = true};
    cs_fsm iface = hook_iface(&h);
    cs_fsm_adapter a;
    /* all three or none; with none, snapshot is required */
    cs_fsm bad = iface;
    bad.snapshot_end = NULL;
    cst_fails(cs_fsm_adapter_init(&a, &bad, NULL), CONSORT_E_INVALID_ARGUMENT);
    bad = iface;
    bad.snapshot_begin = NULL;
    bad.snapshot_make = NULL;
    bad.snapshot_end = NULL;
    cst_fails(cs_fsm_adapter_init(&a, &bad, NULL), CONSORT_E_INVALID_ARGUMENT);
    /* The raft instance, as much of it as the adapter reads: the pending
     * snapshot and, once raft stored it, its log's snapshot at that index
     * (libraft's takeSnapshotCb moves it before it finalizes). */
    struct raft *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->snapshot.pending.index = 5;
    r->snapshot.pending.term = 2;
    cst_ok(cs_fsm_adapter_init(&a, &iface, r));
    struct raft_fsm *rf = &a.raft_fsm;
    assert_int_equal(rf->version, 3);
    assert_non_null(rf->snapshot_async);

    /* begin on the loop hands raft nothing yet and starts deferring */
    struct raft_buffer *bufs = (struct raft_buffer *)&h; /* must be reset */
    unsigned n = 7;
    assert_int_equal(rf->snapshot(rf, &bufs, &n), 0);
    assert_null(bufs);
    assert_int_equal(n, 0);
    assert_int_equal(h.begun, 1);
    assert_true(a.deferring);
    waiter w1 = {.w.fn = waiter_fn}, w2 = {.w.fn = waiter_fn};
    cs_fsm_adapter_after_catch_up(&a, &w1.w);
    cs_fsm_adapter_after_catch_up(&a, &w2.w);
    assert_int_equal(w1.fired + w2.fired, 0);

    /* the worker makes the bytes */
    assert_int_equal(run_async(rf, &bufs, &n), 0);
    assert_int_equal(h.made, 1);
    assert_int_equal(n, 1);
    assert_int_equal(bufs[0].len, 4);
    assert_memory_equal(bufs[0].base, "snap", 4);
    assert_int_equal(h.ended, 0);

    /* finalize frees them, ends the job and releases the waiters in order */
    r->log.snapshot.last_index = 5; /* stored */
    r->log.snapshot.last_term = 2;
    assert_int_equal(rf->snapshot_finalize(rf, &bufs, &n), 0);
    assert_null(bufs);
    assert_int_equal(n, 0);
    assert_int_equal(h.ended, 1);
    cst_ok(h.end_rc);
    assert_false(a.deferring);
    assert_int_equal(w1.fired, 1);
    assert_int_equal(w2.fired, 1);
    /* not deferring: a waiter runs at once */
    cs_fsm_adapter_after_catch_up(&a, &w1.w);
    assert_int_equal(w1.fired, 2);

    /* made but not stored (the write failed, the server closed): raft still
     * finalizes, and the job ends with an error, not as a snapshot taken */
    r->snapshot.pending.index = 9;
    assert_int_equal(rf->snapshot(rf, &bufs, &n), 0);
    assert_int_equal(run_async(rf, &bufs, &n), 0);
    cst_log_capture_start();
    assert_int_equal(rf->snapshot_finalize(rf, &bufs, &n), 0);
    assert_non_null(strstr(cst_log_captured(), "snapshot at index 9 was made but not stored"));
    cst_log_capture_stop();
    assert_int_equal(h.ended, 2);
    assert_int_equal(h.end_rc, CONSORT_E_IO);
    assert_false(a.deferring);

    /* a failed make: raft still finalizes, and the job ends with the error */
    h.make_rc = CONSORT_E_IO;
    assert_int_equal(rf->snapshot(rf, &bufs, &n), 0);
    assert_int_not_equal(run_async(rf, &bufs, &n), 0);
    assert_null(bufs);
    assert_int_equal(rf->snapshot_finalize(rf, &bufs, &n), 0);
    assert_int_equal(h.ended, 3);
    assert_int_equal(h.end_rc, CONSORT_E_IO);
    assert_false(a.deferring);

    /* an empty snapshot is an error; without defer nothing is held back */
    h.make_rc = CONSORT_OK;
    h.empty = true;
    h.defer = false;
    assert_int_equal(rf->snapshot(rf, &bufs, &n), 0);
    assert_false(a.deferring);
    cs_fsm_adapter_after_catch_up(&a, &w2.w);
    assert_int_equal(w2.fired, 2);
    assert_int_not_equal(run_async(rf, &bufs, &n), 0);
    assert_int_equal(rf->snapshot_finalize(rf, &bufs, &n), 0);
    assert_int_equal(h.ended, 4);
    assert_int_equal(h.end_rc, CONSORT_E_STATE);

    /* BUSY from begin skips the snapshot: no job, no end */
    h.begin_rc = CONSORT_E_BUSY;
    assert_int_equal(rf->snapshot(rf, &bufs, &n), RAFT_BUSY);
    h.begin_rc = CONSORT_E_IO;
    cst_log_capture_start();
    assert_int_not_equal(rf->snapshot(rf, &bufs, &n), 0);
    assert_non_null(strstr(cst_log_captured(), "begin refused"));
    cst_log_capture_stop();
    assert_int_equal(h.ended, 4);
    assert_false(a.deferring);
    free(r);
}

/* An allocator that notes which thread freed one chosen pointer. */
static struct {
    pthread_mutex_t mu;
    void *watch;
    bool freed, on_loop_thread;
    pthread_t loop_thread;
} rec = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *rec_malloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void *rec_realloc(void *ctx, void *p, size_t size)
{
    (void)ctx;
    return realloc(p, size);
}

static void rec_free(void *ctx, void *p)
{
    (void)ctx;
    pthread_mutex_lock(&rec.mu);
    if (p != NULL && p == rec.watch) {
        rec.freed = true;
        rec.on_loop_thread = pthread_equal(pthread_self(), rec.loop_thread);
    }
    pthread_mutex_unlock(&rec.mu);
    free(p);
}

static bool rec_freed(void)
{
    pthread_mutex_lock(&rec.mu);
    bool f = rec.freed;
    pthread_mutex_unlock(&rec.mu);
    return f;
}

/* A large snapshot's bytes are wiped and freed on the loop's threadpool
 * once raft hands them back, not on the loop (where unmapping hundreds of
 * MB stalled it); a small one, or one without a loop, is freed at once. */
static void large_snapshot_bytes_freed_off_the_loop(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    hook_fsm h = {.big = CS_FSM_RELEASE_OFF_LOOP * 2};
    cs_fsm iface = hook_iface(&h);
    struct raft *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->snapshot.pending.index = r->log.snapshot.last_index = 5;
    r->snapshot.pending.term = r->log.snapshot.last_term = 2;
    cs_fsm_adapter a;
    cst_ok(cs_fsm_adapter_init(&a, &iface, r));
    struct raft_fsm *rf = &a.raft_fsm;
    const cs_allocator al = {rec_malloc, rec_realloc, rec_free, NULL};
    cs_alloc_set(&al);
    rec.loop_thread = pthread_self();

    for (int with_loop = 0; with_loop < 2; with_loop++) {
        cs_fsm_adapter_set_loop(&a, with_loop ? &loop : NULL);
        struct raft_buffer *bufs;
        unsigned n;
        assert_int_equal(rf->snapshot(rf, &bufs, &n), 0);
        assert_int_equal(run_async(rf, &bufs, &n), 0);
        assert_int_equal(bufs[0].len, h.big);
        pthread_mutex_lock(&rec.mu);
        rec.watch = bufs[0].base;
        rec.freed = false;
        pthread_mutex_unlock(&rec.mu);
        assert_int_equal(rf->snapshot_finalize(rf, &bufs, &n), 0);
        assert_int_equal(h.ended, (unsigned)with_loop + 1);
        cst_ok(h.end_rc);
        if (!with_loop) { /* freed right there */
            assert_true(rec_freed());
            assert_true(rec.on_loop_thread);
            assert_int_equal(a.released_off_loop, 0);
            continue;
        }
        assert_int_equal(a.released_off_loop, 1);
        /* the loop runs the request to its end; the buffer was freed by
         * a threadpool thread */
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_true(rec_freed());
        assert_false(rec.on_loop_thread);
    }
    cs_alloc_set(NULL);
    free(r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- real servers ---- */

static void submit_async(cl_cluster *cl, unsigned l, uint64_t first, uint64_t last)
{
    async_tally t = {0};
    for (uint64_t v = first; v <= last; v++) {
        uint8_t buf[64];
        for (int k = 0; k < 8; k++)
            buf[k] = (uint8_t)(v >> (56 - 8 * k));
        memset(buf + 8, (int)(v & 0xff), sizeof buf - 8);
        cst_ok(cs_consensus_submit(cl->nodes[l].c, CS_SLICE(buf, sizeof buf), tolerant_cb, &t));
        if ((v - first) % 16 == 15) { /* let the loop breathe: snapshots start in between */
            want_arg a = {&t, (unsigned)(v - first + 1)};
            assert_true(cl_run_until(cl, 10000, tally_reached, &a));
        }
    }
    want_arg a = {&t, (unsigned)(last - first + 1)};
    assert_true(cl_run_until(cl, 10000, tally_reached, &a));
    assert_int_equal(t.failed, 0);
}

typedef struct barrier_seen {
    consort_err rc;
    cl_fsm *fsm;
    uint64_t n_at_fire;
    bool in_snapshot_at_fire;
} barrier_seen;

static void seen_barrier(void *ctx, consort_err status, const char *msg)
{
    barrier_seen *b = ctx;
    cst_cb_msg(status, msg);
    b->rc = status;
    b->n_at_fire = b->fsm->n;
    b->in_snapshot_at_fire = b->fsm->in_snapshot;
}

static bool barrier_done(cl_cluster *cl, void *arg)
{
    (void)cl;
    return ((barrier_seen *)arg)->rc != CONSORT_E__COUNT;
}

static bool snapshots_idle(cl_cluster *cl, void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < cl->n; i++)
        if (cl->nodes[i].c != NULL && cl->nodes[i].fsm.in_snapshot)
            return false;
    return true;
}

static void snapshots_off_the_loop_with_apply_deferred(void **state)
{
    (void)state;
    cl_cluster *cl = cl_new(3);
    cl->async_snapshots = true;
    /* The test submits only on the leader it found and requires every entry
     * to succeed: under CPU load, 150 ms without the loop running re-elected
     * (1 run in 30 with two copies in parallel failed "not the leader" or
     * "leadership lost"). */
    cl->election_timeout_ms = 2000;
    cl->heartbeat_timeout_ms = 50;
    cl->snapshot_threshold = 16;
    cl->snapshot_trailing = 8;
    cl_start_all(cl);
    int l = cl_wait_leader(cl, 8000, 0);
    assert_true(l >= 0);

    const uint64_t n = 400;
    submit_async(cl, (unsigned)l, 1, n);
    /* A barrier completes only once the FSM holds every entry before it. */
    barrier_seen b = {.rc = CONSORT_E__COUNT, .fsm = &cl->nodes[l].fsm};
    cst_ok(cs_consensus_barrier(cl->nodes[l].c, seen_barrier, &b));
    assert_true(cl_run_until(cl, 5000, barrier_done, &b));
    cst_ok(b.rc);
    assert_int_equal(b.n_at_fire, n);
    assert_false(b.in_snapshot_at_fire);

    assert_true(cl_run_until(cl, 10000, cl_all_applied, (void *)&n));
    assert_true(cl_run_until(cl, 5000, snapshots_idle, NULL));
    uint64_t deferred = 0;
    for (unsigned i = 0; i < 3; i++) {
        cl_fsm *f = &cl->nodes[i].fsm;
        deferred += cs_consensus_fsm_deferred(cl->nodes[i].c);
        assert_int_equal(f->n, n);
        for (uint64_t k = 0; k < n; k++)
            assert_int_equal(f->value[k], k + 1);
        cl_assert_same_history(f, &cl->nodes[l].fsm);
        assert_true(f->snapshots_taken >= 1);
        assert_int_equal(f->snapshot_ends, f->snapshots_taken);
        assert_int_equal(f->snapshots_not_stored, 0); /* every one made was stored */
        assert_int_equal(f->made_off_loop, f->snapshots_taken);
        assert_false(f->applied_in_snapshot);
        assert_false(f->changed_under_make);
        assert_int_equal(cs_consensus_fsm_applied(cl->nodes[i].c), n);
        cst_ok(cs_consensus_fsm_error(cl->nodes[i].c));
    }
    assert_true(deferred > 0); /* entries did arrive while a worker read the state */

    /* A follower restarted with an empty FSM restores the snapshot it made
     * asynchronously and replays the rest. */
    unsigned f = ((unsigned)l + 1) % 3;
    cl_stop(cl, f);
    cl_start(cl, f, false);
    assert_true(cl_run_until(cl, 10000, cl_all_applied, (void *)&n));
    assert_true(cl->nodes[f].fsm.restores >= 1);
    cl_assert_same_history(&cl->nodes[f].fsm, &cl->nodes[l].fsm);
    cl_free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hooks_directly),
        cmocka_unit_test(large_snapshot_bytes_freed_off_the_loop),
        cmocka_unit_test(snapshots_off_the_loop_with_apply_deferred),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
