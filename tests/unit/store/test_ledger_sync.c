/*
 * The ledger's sync in three steps (store/ledger.h cs_ledger_sync): begun
 * by the owner, the fsyncs run on another thread while the owner appends,
 * ended by the owner. A completed sync clears "unsynced" only if nothing
 * since owes one of its own; a failed fsync breaks the writer; a chunk
 * closed or a rollback in between leaves the flags to the writer.
 */
#include "testutil.h"
#include "store/ledger_writer.h"

#include "ledger_fixture.h"

#include <errno.h>
#include <pthread.h>

typedef struct rec_io {
    pthread_mutex_t mu;
    int fsyncs;
    int err;        /* errno to fail with, 0: none */
    pthread_t last; /* the thread of the last fsync */
} rec_io;

static int rec_fsync(void *ctx, int fd)
{
    rec_io *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->fsyncs++;
    r->last = pthread_self();
    int err = r->err;
    pthread_mutex_unlock(&r->mu);
    if (err != 0) {
        errno = err;
        return -1;
    }
    return fsync(fd);
}

static ssize_t plain_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
    (void)ctx;
    return pwrite(fd, buf, n, off);
}

static void *run_thread(void *arg)
{
    cs_ledger_sync_run(arg);
    return NULL;
}

/* Runs the ticket's fsyncs on a thread of their own, as the node's
 * threadpool does. */
static void run_elsewhere(cs_ledger_sync *t)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_thread, t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
}

typedef struct fx {
    lfx_identity id;
    char dir[64];
    rec_io io;
    cs_ledger_io seam;
    lfx_ledger l;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    lfx_identity_init(&f->id);
    lfx_tmpdir(f->dir);
    pthread_mutex_init(&f->io.mu, NULL);
    f->seam = (cs_ledger_io){.pwrite_fn = plain_pwrite, .fsync_fn = rec_fsync, .ctx = &f->io};
    lfx_ledger_init(&f->l, &f->id, f->dir, 1 << 20, NULL);
    cs_ledger_writer_free(f->l.w);
    const cs_ledger_writer_opts o = {.chunk_size = 1 << 20, .io = &f->seam, .defer_sync = true};
    cst_ok(cs_ledger_writer_open(f->dir, &o, &f->l.w));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    lfx_ledger_cleanup(&f->l);
    lfx_rmtree(f->dir);
    lfx_identity_cleanup(&f->id);
    pthread_mutex_destroy(&f->io.mu);
    free(f);
    return 0;
}

static void fsyncs_run_on_another_thread(void **state)
{
    fx *f = *state;
    lfx_generate(&f->l, 4, 0, 0);
    lfx_add_sig(&f->l);
    assert_true(cs_ledger_writer_unsynced(f->l.w));
    assert_int_equal(f->io.fsyncs, 0);

    cs_ledger_sync t;
    cst_ok(cs_ledger_writer_sync_begin(f->l.w, &t));
    assert_true(t.fd >= 0);
    assert_true(t.dir);                /* the chunk is new: its directory too */
    assert_int_equal(f->io.fsyncs, 0); /* nothing yet on the owner's thread */
    run_elsewhere(&t);
    assert_int_equal(f->io.fsyncs, 2);
    assert_false(pthread_equal(f->io.last, pthread_self()));
    assert_true(cs_ledger_writer_unsynced(f->l.w)); /* until the owner ends it */
    cst_ok(cs_ledger_writer_sync_end(f->l.w, &t));
    assert_int_equal(t.fd, -1);
    assert_false(cs_ledger_writer_unsynced(f->l.w));

    /* the directory was synced once: the next sync is the chunk's alone */
    lfx_generate(&f->l, 3, 3, 0);
    cst_ok(cs_ledger_writer_sync_begin(f->l.w, &t));
    assert_false(t.dir);
    run_elsewhere(&t);
    assert_int_equal(f->io.fsyncs, 3);
    cst_ok(cs_ledger_writer_sync_end(f->l.w, &t));
    assert_false(cs_ledger_writer_unsynced(f->l.w));
}

/* A signature entry accepted while the fsync ran owes a sync of its own;
 * so do the entries of a chunk changed by a rollback in between. */
static void a_later_signature_stays_owed(void **state)
{
    fx *f = *state;
    lfx_generate(&f->l, 6, 3, 0);
    cs_ledger_sync t;
    cst_ok(cs_ledger_writer_sync_begin(f->l.w, &t));
    lfx_generate(&f->l, 2, 2, 0); /* appended meanwhile, on the owner's thread */
    run_elsewhere(&t);
    cst_ok(cs_ledger_writer_sync_end(f->l.w, &t));
    assert_true(cs_ledger_writer_unsynced(f->l.w));
    cst_ok(cs_ledger_writer_sync(f->l.w));
    assert_false(cs_ledger_writer_unsynced(f->l.w));

    lfx_generate(&f->l, 2, 2, 0);
    cst_ok(cs_ledger_writer_sync_begin(f->l.w, &t));
    cst_ok(cs_ledger_writer_truncate(f->l.w, f->l.count - 1));
    lfx_truncate(&f->l, f->l.count - 1);
    lfx_add_sig(&f->l);
    run_elsewhere(&t);
    cst_ok(cs_ledger_writer_sync_end(f->l.w, &t));
    assert_true(cs_ledger_writer_unsynced(f->l.w));
}

/* A failed fsync reaches the owner at the end and breaks the writer. */
static void a_failed_fsync_breaks_the_writer(void **state)
{
    fx *f = *state;
    lfx_generate(&f->l, 3, 3, 0);
    cs_ledger_sync t;
    cst_ok(cs_ledger_writer_sync_begin(f->l.w, &t));
    f->io.err = EIO;
    run_elsewhere(&t);
    f->io.err = 0;
    cst_fails(cs_ledger_writer_sync_end(f->l.w, &t), CONSORT_E_IO);
    assert_non_null(strstr(consort_errmsg(), "fsync of the open chunk"));
    assert_int_equal(t.fd, -1);
    cst_fails(cs_ledger_writer_sync_begin(f->l.w, &t), CONSORT_E_STATE);
    cst_fails(cs_ledger_writer_sync(f->l.w), CONSORT_E_STATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fsyncs_run_on_another_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(a_later_signature_stays_owed, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_fsync_breaks_the_writer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
