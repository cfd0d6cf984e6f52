/*
 * The ledger's sync in three steps (store/ledger.h cs_ledger_sync): begun
 * by the owner, the fsyncs run on another thread while the owner appends,
 * ended by the owner. A completed sync clears "unsynced" only if nothing
 * since owes one of its own; a failed fsync breaks the writer; a chunk
 * closed or a rollback in between leaves the flags to the writer. A chunk
 * that fills up is closed by a ticket too (fsync, rename, directory fsync
 * on the other thread), and the entries after it wait in memory until then:
 * at every moment of the close the directory holds at most one .open chunk,
 * the last, and every entry written before the close began.
 */
#include "testutil.h"
#include "store/ledger_writer.h"

#include "ledger_fixture.h"
#include "ledger_dir_check.h"

#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

typedef struct rec_io {
    pthread_mutex_t mu;
    int fsyncs;
    int err;        /* errno to fail with, 0: none */
    pthread_t last; /* the thread of the last fsync */
    /* if set, called before each fsync (the crash points of a close) */
    void (*before)(struct rec_io *r, int fd);
    const char *dir; /* the ledger directory, for `before` */
    int copies;      /* directories copied by `before` */
} rec_io;

static int rec_fsync(void *ctx, int fd)
{
    rec_io *r = ctx;
    if (r->before != NULL)
        r->before(r, fd);
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

static int setup_chunk(void **state, size_t chunk_size)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    lfx_identity_init(&f->id);
    lfx_tmpdir(f->dir);
    pthread_mutex_init(&f->io.mu, NULL);
    f->io.dir = f->dir;
    f->seam = (cs_ledger_io){.pwrite_fn = plain_pwrite, .fsync_fn = rec_fsync, .ctx = &f->io};
    lfx_ledger_init(&f->l, &f->id, f->dir, chunk_size, NULL);
    cs_ledger_writer_free(f->l.w);
    const cs_ledger_writer_opts o = {.chunk_size = chunk_size, .io = &f->seam, .defer_sync = true};
    cst_ok(cs_ledger_writer_open(f->dir, &o, &f->l.w));
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_chunk(state, 1 << 20);
}

/* chunk_size 1: every signature entry fills its chunk */
static int setup_small(void **state)
{
    return setup_chunk(state, 1);
}

static int teardown(void **state)
{
    fx *f = *state;
    lfx_ledger_cleanup(&f->l);
    for (int i = 0; i < f->io.copies; i++) {
        char copy[96];
        snprintf(copy, sizeof copy, "%s.crash%d", f->dir, i);
        lfx_rmtree(copy);
    }
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

/* ---- a chunk closed by a ticket ---- */

static uint64_t frames_bytes(const lfx_ledger *l, uint64_t from, uint64_t to)
{
    uint64_t n = 0;
    for (uint64_t s = from; s <= to; s++)
        n += 4 + l->entries[s - 1].len;
    return n;
}

/* The number of ledger_ files in `dir`. */
static int ledger_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, "ledger_", 7) == 0;
    closedir(d);
    return n;
}

/* Copies the files of r->dir to <dir>.crash<k>: what a crash at this
 * moment would leave (everything written survives, as in the page cache). */
static void copy_dir_before_fsync(rec_io *r, int fd)
{
    (void)fd;
    char copy[96];
    snprintf(copy, sizeof copy, "%s.crash%d", r->dir, r->copies++);
    assert_int_equal(mkdir(copy, 0700), 0);
    DIR *d = opendir(r->dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char from[PATH_MAX], to[PATH_MAX];
        snprintf(from, sizeof from, "%s/%s", r->dir, e->d_name);
        snprintf(to, sizeof to, "%s/%s", copy, e->d_name);
        cs_buf b;
        cs_buf_init(&b, 1 << 24);
        cst_ok(cs_file_read(from, &b));
        cst_ok(cs_file_write_atomic(to, cs_buf_slice(&b), 0600));
        cs_buf_cleanup(&b);
    }
    closedir(d);
}

/* A full chunk's signature entry costs its owner no fsync: the chunk stays
 * .open, and the entries after it wait in memory, until a ticket closes it
 * on another thread. A crash at any point of the close leaves a directory
 * that opens with every entry of the chunk and one .open chunk at most. */
static void a_full_chunk_closes_on_another_thread(void **state)
{
    fx *f = *state;
    lfx_generate(&f->l, 3, 0, 0);
    lfx_add_sig(&f->l); /* 4: the chunk is full */
    assert_int_equal(f->io.fsyncs, 0);
    assert_true(cs_ledger_writer_unsynced(f->l.w));
    assert_int_equal(ldc_file_size(f->dir, "ledger_1.open"), frames_bytes(&f->l, 1, 4));
    lfx_generate(&f->l, 2, 0, 0); /* 5, 6 */
    lfx_add_sig(&f->l);           /* 7 */
    assert_int_equal(f->io.fsyncs, 0);
    assert_int_equal(ledger_files(f->dir), 1); /* 5-7 wait for the close */
    assert_int_equal(ldc_file_size(f->dir, "ledger_1.open"), frames_bytes(&f->l, 1, 4));
    assert_int_equal(cs_ledger_writer_last_seqno(f->l.w), 7);

    cs_ledger_sync t;
    cst_ok(cs_ledger_writer_owed_begin(f->l.w, &t));
    assert_true(t.fd >= 0);
    assert_int_equal(f->io.fsyncs, 0);
    f->io.before = copy_dir_before_fsync;
    run_elsewhere(&t);
    f->io.before = NULL;
    assert_int_equal(t.err, 0);
    assert_int_equal(f->io.fsyncs, 2); /* the chunk, then the directory after the rename */
    assert_false(pthread_equal(f->io.last, pthread_self()));
    assert_true(ldc_exists(f->dir, "ledger_1-4.committed"));
    assert_int_equal(ledger_files(f->dir), 1);
    cst_ok(cs_ledger_writer_sync_end(f->l.w, &t));
    assert_true(cs_ledger_writer_unsynced(f->l.w)); /* 7 owes a sync of its own */

    /* the crash points: before the chunk's fsync (not renamed yet) and before
     * the directory's (renamed) */
    assert_int_equal(f->io.copies, 2);
    for (int i = 0; i < 2; i++) {
        char copy[96];
        snprintf(copy, sizeof copy, "%s.crash%d", f->dir, i);
        assert_int_equal(ledger_files(copy), 1);
        assert_true(ldc_exists(copy, i == 0 ? "ledger_1.open" : "ledger_1-4.committed"));
        ldc_expect_entries(copy, &f->l, 4);
        cs_ledger_writer *w;
        cst_ok(cs_ledger_writer_open(copy, NULL, &w));
        assert_int_equal(cs_ledger_writer_last_seqno(w), 4);
        cs_ledger_writer_free(w);
    }

    /* the waiting entries begin the next chunk */
    cst_ok(cs_ledger_writer_sync(f->l.w));
    assert_false(cs_ledger_writer_unsynced(f->l.w));
    assert_true(ldc_exists(f->dir, "ledger_5.open"));
    ldc_expect_entries(f->dir, &f->l, 7);
}

/* The owner may finish a close itself (a snapshot's worker syncs the
 * writer it holds) while a ticket for it is out: both renames land on the
 * same name and the ticket still succeeds. */
static void the_owner_may_finish_a_close_first(void **state)
{
    fx *f = *state;
    lfx_generate(&f->l, 3, 3, 0); /* 1-3, sig 4: full */
    lfx_generate(&f->l, 2, 2, 0); /* 5, 6, sig 7 wait */
    cs_ledger_sync t;
    cst_ok(cs_ledger_writer_owed_begin(f->l.w, &t));
    cst_ok(cs_ledger_writer_sync(f->l.w));
    assert_true(ldc_exists(f->dir, "ledger_1-4.committed"));
    ldc_expect_entries(f->dir, &f->l, 7);
    /* until the ticket ends, no rollback (it could reopen ledger_1.open) */
    cst_fails(cs_ledger_writer_truncate(f->l.w, 2), CONSORT_E_BUSY);
    run_elsewhere(&t);
    assert_int_equal(t.err, 0);
    cst_ok(cs_ledger_writer_sync_end(f->l.w, &t));
    ldc_expect_entries(f->dir, &f->l, 7);
    assert_int_equal(ledger_files(f->dir), 2);
    cst_ok(cs_ledger_writer_truncate(f->l.w, 2));
    lfx_truncate(&f->l, 2);
    ldc_expect_entries(f->dir, &f->l, 2);
}

/* A rollback while a close's ticket is out could have the ticket rename a
 * chunk the rollback reopened: refused (BUSY) until the ticket ends. */
static void no_rollback_while_a_close_is_out(void **state)
{
    fx *f = *state;
    lfx_generate(&f->l, 3, 3, 0);
    lfx_generate(&f->l, 1, 0, 0);
    cs_ledger_sync t;
    cst_ok(cs_ledger_writer_owed_begin(f->l.w, &t));
    cst_fails(cs_ledger_writer_truncate(f->l.w, 2), CONSORT_E_BUSY);
    assert_non_null(strstr(consort_errmsg(), "closing the .open chunk"));
    run_elsewhere(&t);
    cst_ok(cs_ledger_writer_sync_end(f->l.w, &t));
    cst_ok(cs_ledger_writer_truncate(f->l.w, 2));
    lfx_truncate(&f->l, 2);
    ldc_expect_entries(f->dir, &f->l, 2);
}

/* Freed with a close owed (a node stopping): the chunk is closed and the
 * entries that waited are written. */
static void free_finishes_a_close(void **state)
{
    fx *f = *state;
    lfx_generate(&f->l, 3, 3, 0);
    lfx_generate(&f->l, 2, 0, 0);
    cs_ledger_writer_free(f->l.w);
    f->l.w = NULL;
    assert_true(ldc_exists(f->dir, "ledger_1-4.committed"));
    assert_true(ldc_exists(f->dir, "ledger_5.open"));
    ldc_expect_entries(f->dir, &f->l, 6);
}

/* Entries wait for a close in memory only up to a bound (8 MiB): the next
 * one past it has the owner finish the close itself and write them. */
static void waiting_entries_are_bounded(void **state)
{
    fx *f = *state;
    lfx_generate(&f->l, 3, 3, 0); /* full at 4 */
    uint64_t waited = 0;
    while (waited <= ((uint64_t)8 << 20)) {
        assert_true(cs_ledger_writer_closing(f->l.w));
        assert_int_equal(ledger_files(f->dir), 1);
        lfx_add_tx(&f->l, 256 << 10, 0, false);
        waited += 4 + f->l.entries[f->l.count - 1].len;
    }
    assert_false(cs_ledger_writer_closing(f->l.w));
    assert_int_equal(f->io.fsyncs, 2); /* the chunk and the directory, here */
    assert_true(pthread_equal(f->io.last, pthread_self()));
    assert_true(ldc_exists(f->dir, "ledger_1-4.committed"));
    cst_ok(cs_ledger_writer_sync(f->l.w));
    ldc_expect_entries(f->dir, &f->l, f->l.count);
}

/* A sync ticket (cs_ledger_writer_sync_begin: a snapshot's, which needs
 * every entry durable) closes a full chunk first, on the owner's thread,
 * and then covers the entries that waited behind it. */
static void a_sync_ticket_covers_what_waits(void **state)
{
    fx *f = *state;
    lfx_generate(&f->l, 3, 3, 0); /* full at 4 */
    lfx_generate(&f->l, 2, 0, 0); /* 5, 6 wait */
    cs_ledger_sync t;
    cst_ok(cs_ledger_writer_sync_begin(f->l.w, &t));
    assert_false(cs_ledger_writer_closing(f->l.w));
    assert_true(ldc_exists(f->dir, "ledger_1-4.committed"));
    assert_true(pthread_equal(f->io.last, pthread_self()));
    ldc_expect_entries(f->dir, &f->l, 6);
    run_elsewhere(&t);
    cst_ok(cs_ledger_writer_sync_end(f->l.w, &t));
    assert_false(cs_ledger_writer_unsynced(f->l.w));
}

/* The entries waiting in memory behind a close can be read back (a
 * receipt for one of them is asked before the close is done); entries in
 * the files or never accepted are NOT_FOUND there. */
static void waiting_entries_can_be_read(void **state)
{
    fx *f = *state;
    lfx_generate(&f->l, 3, 0, 0);
    lfx_add_sig(&f->l);           /* 4: the chunk is full */
    lfx_generate(&f->l, 2, 0, 0); /* 5, 6 wait */
    lfx_add_sig(&f->l);           /* 7 waits */
    assert_true(cs_ledger_writer_closing(f->l.w));
    cs_buf out;
    cs_buf_init(&out, 0);
    for (uint64_t s = 5; s <= 7; s++) {
        cst_ok(cs_ledger_writer_read_waiting(f->l.w, s, &out));
        assert_int_equal(out.len, f->l.entries[s - 1].len);
        assert_memory_equal(out.ptr, f->l.entries[s - 1].ptr, out.len);
    }
    cst_fails(cs_ledger_writer_read_waiting(f->l.w, 4, &out), CONSORT_E_NOT_FOUND); /* in a file */
    cst_fails(cs_ledger_writer_read_waiting(f->l.w, 8, &out), CONSORT_E_NOT_FOUND); /* not yet */
    cst_ok(cs_ledger_writer_sync(f->l.w)); /* the close done, 5-7 written */
    cst_fails(cs_ledger_writer_read_waiting(f->l.w, 6, &out), CONSORT_E_NOT_FOUND);
    cs_buf_cleanup(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(fsyncs_run_on_another_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(a_later_signature_stays_owed, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failed_fsync_breaks_the_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(a_full_chunk_closes_on_another_thread, setup_small,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_owner_may_finish_a_close_first, setup_small, teardown),
        cmocka_unit_test_setup_teardown(no_rollback_while_a_close_is_out, setup_small, teardown),
        cmocka_unit_test_setup_teardown(free_finishes_a_close, setup_small, teardown),
        cmocka_unit_test_setup_teardown(waiting_entries_are_bounded, setup_small, teardown),
        cmocka_unit_test_setup_teardown(a_sync_ticket_covers_what_waits, setup_small, teardown),
        cmocka_unit_test_setup_teardown(waiting_entries_can_be_read, setup_small, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
