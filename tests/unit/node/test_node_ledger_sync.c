/*
 * One node's ledger files under load (docs/ledger.md 5.1): fsyncs bounded
 * by ledger_sync_ms and run off the loop, chunk closes off the loop, and
 * receipts for entries that wait in memory behind a close.
 */
#include "single_fixture.h"

#include "base/alloc.h"
#include "node/node_priv.h"
#include "node/replica_priv.h"
#include "store/ledger.h"
#include "store/ledger_writer.h"
#include "store/ledger_writer_priv.h"
#include "store/receipt.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

/* The ledger writer's fsyncs, and on which thread they ran. */
static atomic_int loop_fsyncs, other_fsyncs;
static pthread_t loop_thread;

static int noting_fsync(void *ctx, int fd)
{
    (void)ctx;
    atomic_fetch_add(pthread_equal(pthread_self(), loop_thread) ? &loop_fsyncs : &other_fsyncs, 1);
    return fsync(fd);
}

/* ledger_sync_ms (docs/ledger.md 5.1): with a signature entry after every
 * write, the ledger files are fsynced at most once per interval, and what a
 * signature entry owes is synced within the interval once writes stop;
 * those fsyncs run on the threadpool, never on the loop (replica_sync.c). */
/* Starts the node with a signature entry after every write and the ledger
 * synced every `sync_ms`, its writer's fsyncs noted from `settle_ms` on (a
 * sync begun before then ends meanwhile). */
static node_replica *start_noting_fsyncs(fixture *f, uint64_t sync_ms, unsigned settle_ms)
{
    f->node.cfg.sig_interval_tx = 1;
    f->node.cfg.ledger_sync_ms = sync_ms;
    tn_start(&f->loop, &f->node);
    node_replica *r = f->node.n->replica;
    loop_thread = pthread_self();
    r->ledger->io.fsync_fn = noting_fsync; /* the writer's io seam, set late */
    tn_run_for(&f->loop, settle_ms);
    atomic_store(&loop_fsyncs, 0);
    atomic_store(&other_fsyncs, 0);
    return r;
}

static void ledger_syncs_are_bounded(void **state)
{
    fixture *f = *state;
    node_replica *r = start_noting_fsyncs(f, 300, 400);
    assert_null(r->sync_job);
    node_replica_stats s0 = node_replica_get_stats(r);
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < 40; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        (void)tn_put(&f->loop, &f->node, k, "v");
    }
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    node_replica_stats s1 = node_replica_get_stats(r);
    assert_true(s1.signatures - s0.signatures >= 30);
    assert_true(s1.ledger_syncs - s0.ledger_syncs <= ms / 300 + 1);
    tn_run_for(&f->loop, 700);
    node_replica_stats s2 = node_replica_get_stats(r);
    assert_true(s2.ledger_syncs > s0.ledger_syncs);
    assert_false(cs_ledger_writer_unsynced(r->ledger));
    assert_int_equal(atomic_load(&loop_fsyncs), 0);
    assert_true(atomic_load(&other_fsyncs) >= (int)(s2.ledger_syncs - s0.ledger_syncs));
}

/* A ledger chunk that fills up is closed (fsync, rename, directory fsync)
 * on the threadpool too, never on the loop; the entries written meanwhile
 * begin the next chunk, and the directory always reads as a valid ledger
 * (docs/ledger.md 5.1). */
static void ledger_chunks_close_off_the_loop(void **state)
{
    fixture *f = *state;
    f->node.cfg.chunk_size = 4096;
    node_replica *r = start_noting_fsyncs(f, 20, 100);
    for (int i = 0; i < 60; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        (void)tn_put(&f->loop, &f->node, k, "a value of some length, for full chunks");
        tn_run_for(&f->loop, 5); /* several syncs, and so several closes, meanwhile */
    }
    tn_run_for(&f->loop, 200);
    assert_false(cs_ledger_writer_unsynced(r->ledger));
    assert_int_equal(atomic_load(&loop_fsyncs), 0);
    cs_ledger_chunk *chunks;
    size_t n;
    cst_ok(cs_ledger_chunks_list(r->ledger_dir, &chunks, &n));
    size_t committed = 0;
    for (size_t i = 0; i < n; i++)
        committed += chunks[i].committed;
    cs_free(chunks);
    assert_true(committed >= 3);
    cs_ledger_reader *rd;
    cst_ok(cs_ledger_reader_open(r->ledger_dir, &rd));
    uint64_t seen = 0;
    for (bool done = false;;) {
        cs_ledger_record rec;
        cst_ok(cs_ledger_reader_next(rd, &rec, &done));
        if (done)
            break;
        assert_int_equal(rec.entry.seqno, ++seen);
    }
    cs_ledger_reader_free(rd);
    assert_int_equal(seen, r->applied);
}

/* ledger_sync_ms 0: every signature entry is fsynced as it is written. */
static void ledger_sync_at_every_signature(void **state)
{
    fixture *f = *state;
    f->node.cfg.sig_interval_tx = 1;
    f->node.cfg.ledger_sync_ms = 0;
    tn_start(&f->loop, &f->node);
    node_replica *r = f->node.n->replica;
    for (int i = 0; i < 5; i++) {
        (void)tn_put(&f->loop, &f->node, "k", "v");
        assert_false(cs_ledger_writer_unsynced(r->ledger));
    }
    assert_int_equal(node_replica_get_stats(r).ledger_syncs, 0);
}

/* While a full chunk's close is owed, the entries after it wait in the
 * ledger writer's memory: a committed, signed transaction among them still
 * has its receipt (not 404 "never commits", which bench_receipt saw). */
static void receipts_while_a_chunk_closes(void **state)
{
    fixture *f = *state;
    f->node.cfg.chunk_size = 4096;
    node_replica *r = start_noting_fsyncs(f, 60000, 100); /* the close stays owed */
    cs_txid last = {0};
    int after = 0;
    for (int i = 0; i < 200 && after < 3; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        bool closing = cs_ledger_writer_closing(r->ledger);
        last = tn_put(&f->loop, &f->node, k, "a value of some length, for full chunks");
        after += closing; /* written while the close was owed: in memory */
    }
    assert_int_equal(after, 3);
    assert_true(cs_ledger_writer_closing(r->ledger));
    receipt_wait w = {.n = f->node.n, .txid = last};
    cs_buf_init(&w.json, CS_RECEIPT_JSON_MAX);
    tn_run_until(&f->loop, 5000, receipt_ready, &w, "the receipt of a write kept in memory");
    const cs_receipt_verify_opts o = {.now = (int64_t)time(NULL)};
    cst_ok(cs_receipt_verify_json(cs_buf_slice(&w.json), cs_node_service_cert(f->node.n), &o));
    assert_true(
        cs_ledger_writer_closing(r->ledger)); /* answered from memory, not after the close */
    cs_buf_cleanup(&w.json);
}

/* An fsync on the threadpool that waits, once `held`, until released. */
static atomic_bool held, blocked;
static uv_sem_t release;

static int held_fsync(void *ctx, int fd)
{
    if (!pthread_equal(pthread_self(), loop_thread) && atomic_load(&held)) {
        atomic_store(&blocked, true);
        uv_sem_wait(&release);
    }
    return noting_fsync(ctx, fd);
}

static bool sync_blocked(void *ctx)
{
    (void)ctx;
    return atomic_load(&blocked);
}

/* A node stopped while its ledger's sync runs on the threadpool: the stop
 * does not wait for it (node.h), the node is freed, and the sync then ends
 * without it; the loop holds nothing after, and the ledger keeps every
 * committed write (the node, started again, reads it). */
static void stopped_while_a_sync_runs(void **state)
{
    fixture *f = *state;
    node_replica *r = start_noting_fsyncs(f, 50, 200);
    assert_int_equal(uv_sem_init(&release, 0), 0);
    r->ledger->io.fsync_fn = held_fsync;
    atomic_store(&held, true);
    (void)tn_put(&f->loop, &f->node, "kept", "v");
    tn_run_until(&f->loop, 5000, sync_blocked, NULL, "a ledger sync running");
    assert_non_null(r->sync_job);
    tn_stop(&f->loop, &f->node); /* stopped and freed, the sync still running */
    /* the loop cannot close yet: a teardown must let that work end first
     * (tn_close_loop; one that closed at once failed now and then) */
    assert_int_equal(uv_loop_close(&f->loop), UV_EBUSY);
    atomic_store(&held, false);
    uv_sem_post(&release);
    assert_true(tn_drain(&f->loop, TN_DRAIN_MS));
    uv_sem_destroy(&release);
    tn_start(&f->loop, &f->node);
    char v[64];
    assert_string_equal(tn_get(&f->node, "records", "kept", v), "v");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ledger_syncs_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(ledger_sync_at_every_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(ledger_chunks_close_off_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(receipts_while_a_chunk_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(stopped_while_a_sync_runs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
