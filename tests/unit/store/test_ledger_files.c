/*
 * Ledger files (docs/ledger.md §5 "Chunk files"): chunk naming, the writer
 * (buffering, chunk close at a signature entry past chunk_size, reopen),
 * the reader, recovery of a torn final frame, rollback across chunks, and
 * full disks: injected write failures through the io seam, fsync failures,
 * and a real ENOSPC on a small tmpfs when the test may mount one.
 */
#include "testutil.h"
#include "store/ledger_writer.h"

#include "ledger_fixture.h"
#include "ledger_dir_check.h"

#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

typedef struct files_fx {
    lfx_identity id;
    char dir[64];
} files_fx;

static int setup(void **state)
{
    files_fx *f = calloc(1, sizeof *f);
    lfx_identity_init(&f->id);
    lfx_tmpdir(f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    files_fx *f = *state;
    lfx_rmtree(f->dir);
    lfx_identity_cleanup(&f->id);
    free(f);
    return 0;
}

static void chunk_names(void **state)
{
    (void)state;
    cs_ledger_chunk c;
    cst_ok(cs_ledger_chunk_parse_name("ledger_1-42.committed", &c));
    assert_true(c.committed && c.first == 1 && c.last == 42);
    cst_ok(cs_ledger_chunk_parse_name("ledger_43.open", &c));
    assert_true(!c.committed && c.first == 43);
    assert_string_equal(c.name, "ledger_43.open");
    cst_ok(cs_ledger_chunk_parse_name("ledger_18446744073709551615.open", &c));
    assert_int_equal(cs_ledger_chunk_parse_name("snapshot_1", &c), CONSORT_E_NOT_FOUND);
    static const char *const bad[] = {
        "ledger_",
        "ledger_0.open",
        "ledger_01.open",
        "ledger_1.opened",
        "ledger_5-4.committed",
        "ledger_1-2.open",
        "ledger_1-02.committed",
        "ledger_1.committed",
        "ledger_1-2.committed.tmp",
        "ledger_1-.committed",
        "ledger_18446744073709551616.open",
        "ledger_-1.open",
        "ledger_1-2-3.committed",
    };
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++)
        if (cs_ledger_chunk_parse_name(bad[i], &c) != CONSORT_E_MALFORMED)
            fail_msg("name %s accepted", bad[i]);
}

static void chunks_close_at_signatures(void **state)
{
    files_fx *f = *state;
    lfx_ledger l;
    /* chunk_size 1: every signature entry closes the chunk */
    lfx_ledger_init(&l, &f->id, f->dir, 1, NULL);
    lfx_generate(&l, 12, 5, 0); /* tx 1-5, sig 6, tx 7-11, sig 12, tx 13, 14 */
    cst_ok(cs_ledger_writer_sync(l.w));
    assert_true(ldc_exists(f->dir, "ledger_1-6.committed"));
    assert_true(ldc_exists(f->dir, "ledger_7-12.committed"));
    assert_true(ldc_exists(f->dir, "ledger_13.open"));
    assert_int_equal(ldc_expect_entries(f->dir, &l, 14), 3);
    assert_int_equal(cs_ledger_writer_last_seqno(l.w), 14);
    lfx_ledger_cleanup(&l);

    /* a large chunk size: one open chunk with every entry */
    char d2[64];
    lfx_tmpdir(d2);
    lfx_ledger_init(&l, &f->id, d2, 1 << 20, NULL);
    lfx_generate(&l, 30, 4, 10);
    cst_ok(cs_ledger_writer_sync(l.w));
    assert_true(ldc_exists(d2, "ledger_1.open"));
    assert_int_equal(ldc_expect_entries(d2, &l, l.count), 1);
    assert_int_equal(cs_ledger_writer_last_term(l.w), 3); /* term 4 starts after entry 30 */
    lfx_ledger_cleanup(&l);
    lfx_rmtree(d2);
}

/* The chunk closes at the first signature entry once past chunk_size. */
static void chunk_size_threshold(void **state)
{
    files_fx *f = *state;
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, f->dir, 2000, NULL);
    while (l.count < 40) {
        lfx_add_tx(&l, 100, 0, false);
        if (l.count % 6 == 5)
            lfx_add_sig(&l);
    }
    cst_ok(cs_ledger_writer_sync(l.w));
    cs_ledger_chunk *chunks;
    size_t n;
    cst_ok(cs_ledger_chunks_list(f->dir, &chunks, &n));
    assert_true(n >= 2);
    for (size_t i = 0; i + 1 < n; i++) {
        assert_true(chunks[i].committed);
        uint64_t size = ldc_file_size(f->dir, chunks[i].name);
        /* at least chunk_size, and the entry before the closing signature
         * entry had not reached it yet */
        assert_true(size >= 2000);
        assert_int_equal(l.entries[chunks[i].last - 1].ptr[5], CS_LEDGER_KIND_SIGNATURE);
        uint64_t before = size - 4 - l.entries[chunks[i].last - 1].len;
        assert_true(before < 2000 + 6 * 300);
    }
    cs_free(chunks);
    ldc_expect_entries(f->dir, &l, l.count);
    lfx_ledger_cleanup(&l);
}

static void reopen_and_continue(void **state)
{
    files_fx *f = *state;
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, f->dir, 1500, NULL);
    lfx_generate(&l, 20, 6, 7);
    cst_ok(cs_ledger_writer_sync(l.w));
    cs_ledger_writer_free(l.w);
    cst_ok(cs_ledger_writer_open(f->dir, &(cs_ledger_writer_opts){.chunk_size = 1500}, &l.w));
    assert_int_equal(cs_ledger_writer_last_seqno(l.w), l.count);
    assert_int_equal(cs_ledger_writer_last_term(l.w), l.term);
    lfx_generate(&l, 20, 6, 0);
    /* free writes what is buffered (no sync needed to read it back) */
    cs_ledger_writer_free(l.w);
    l.w = NULL;
    ldc_expect_entries(f->dir, &l, l.count);
    lfx_ledger_cleanup(&l);
}

static void append_checks_order(void **state)
{
    files_fx *f = *state;
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, f->dir, 0, NULL);
    lfx_generate(&l, 3, 0, 0);
    /* the same entry again */
    cst_fails(cs_ledger_writer_append(l.w, cs_buf_slice(&l.entries[2])),
              CONSORT_E_INVALID_ARGUMENT);
    cs_ledger_writer *w = l.w;
    l.w = NULL; /* the next entries stay out of the file */
    lfx_add_tx(&l, 10, 0, false);
    lfx_add_tx(&l, 10, 0, false);
    /* a gap; not an entry */
    cst_fails(cs_ledger_writer_append(w, cs_buf_slice(&l.entries[4])), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "seqno 5, expected 4"));
    cst_fails_any(cs_ledger_writer_append(w, CS_SLICE_LIT("CSLE nonsense")));
    cst_ok(cs_ledger_writer_append(w, cs_buf_slice(&l.entries[3])));
    /* terms never decrease */
    cs_buf e;
    cs_buf_init(&e, 0);
    cs_ledger_entry_params p = {
        .kind = CS_LEDGER_KIND_TX, .term = 3, .seqno = 5, .public_ws = CS_SLICE_LIT("\xa0")};
    /* seqno 5 was sealed under the current key salt already: another one */
    cst_fails(cs_ledger_entry_encode(&p, &l.keys, &e), CONSORT_E_STATE);
    cst_ok(cs_ledger_keys_rekey(&l.keys));
    cst_ok(cs_ledger_entry_encode(&p, &l.keys, &e));
    cst_ok(cs_ledger_writer_append(w, cs_buf_slice(&e)));
    p.seqno = 6;
    p.term = 2;
    e.len = 0;
    cst_ok(cs_ledger_entry_encode(&p, &l.keys, &e));
    cst_fails(cs_ledger_writer_append(w, cs_buf_slice(&e)), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "term 2 is lower"));
    assert_int_equal(cs_ledger_writer_last_seqno(w), 5);
    assert_int_equal(cs_ledger_writer_last_term(w), 3);
    cs_buf_cleanup(&e);
    l.w = w;
    lfx_ledger_cleanup(&l);
}

/* Appends raw bytes to dir/name. */
static void append_bytes(const char *dir, const char *name, const void *p, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static void recovery_truncates_a_torn_frame(void **state)
{
    files_fx *f = *state;
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, f->dir, 0, NULL);
    lfx_generate(&l, 10, 4, 0);
    cst_ok(cs_ledger_writer_sync(l.w));
    cs_ledger_writer_free(l.w);
    l.w = NULL;
    uint64_t good = ldc_file_size(f->dir, "ledger_1.open");

    /* a crash mid-append: length and part of the entry, then just 2 bytes */
    const cs_buf *next = &l.entries[3];
    uint8_t frame[4 + 200];
    frame[0] = (uint8_t)(next->len >> 24);
    frame[1] = (uint8_t)(next->len >> 16);
    frame[2] = (uint8_t)(next->len >> 8);
    frame[3] = (uint8_t)next->len;
    memcpy(frame + 4, next->ptr, 100);
    size_t cuts[] = {4 + 100, 4 + 3, 2};
    for (size_t i = 0; i < CS_ARRAY_LEN(cuts); i++) {
        append_bytes(f->dir, "ledger_1.open", frame, cuts[i]);
        cst_log_capture_start();
        cs_ledger_writer *w;
        cst_ok(cs_ledger_writer_open(f->dir, NULL, &w));
        assert_non_null(strstr(cst_log_captured(), "torn final frame"));
        cst_log_capture_stop();
        assert_int_equal(cs_ledger_writer_last_seqno(w), l.count);
        assert_int_equal(ldc_file_size(f->dir, "ledger_1.open"), good);
        cs_ledger_writer_free(w);
    }
    ldc_expect_entries(f->dir, &l, l.count);

    /* a frame whose length does not match its entry is not a torn write */
    const cs_buf *e1 = &l.entries[0];
    frame[0] = 0;
    frame[1] = 0;
    frame[2] = 0x7f;
    frame[3] = 0xff;
    memcpy(frame + 4, e1->ptr, 200 < e1->len ? 200 : e1->len);
    append_bytes(f->dir, "ledger_1.open", frame, 4 + (e1->len < 200 ? e1->len : 200));
    cs_ledger_writer *w;
    cst_fails(cs_ledger_writer_open(f->dir, NULL, &w), CONSORT_E_CORRUPT);
    assert_non_null(strstr(consort_errmsg(), "not a torn write"));
    lfx_ledger_cleanup(&l);
}

/* Reads `dir` to the end; returns the torn bytes (CONSORT_OK asserted). */
static uint64_t torn_after_reading(const char *dir)
{
    cs_ledger_reader *r;
    cst_ok(cs_ledger_reader_open(dir, &r));
    for (;;) {
        cs_ledger_record rec;
        bool done;
        cst_ok(cs_ledger_reader_next(r, &rec, &done));
        if (done)
            break;
    }
    uint64_t torn = cs_ledger_reader_torn_bytes(r, NULL);
    cs_ledger_reader_free(r);
    return torn;
}

/* Only the first `good` bytes of `name` stay. */
static void cut_back(const char *dir, const char *name, uint64_t good)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(truncate(path, (off_t)good), 0);
}

static void set_be32(uint8_t *p, uint64_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/*
 * docs/ledger.md 5.2: every prefix of a genuine frame is a torn frame (a
 * crash mid-append), but a frame whose visible bytes do not fit its length
 * (version, public_len, private_len of the v2 layout) is corruption.
 */
static void torn_frame_rule(void **state)
{
    files_fx *f = *state;
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, f->dir, 0, NULL);
    lfx_generate(&l, 4, 0, 0);
    cs_ledger_writer_free(l.w);
    l.w = NULL;
    uint64_t good = ldc_file_size(f->dir, "ledger_1.open");
    lfx_add_tx(&l, 40, 30, true); /* the entry that did not make it */
    const cs_buf *e = &l.entries[4];
    size_t len = e->len, plen = (size_t)e->ptr[107] | (size_t)e->ptr[106] << 8;
    uint8_t *frame = malloc(4 + len);
    set_be32(frame, len);
    memcpy(frame + 4, e->ptr, len);
    for (size_t cut = 0; cut < len; cut++) {
        append_bytes(f->dir, "ledger_1.open", frame, 4 + cut);
        assert_int_equal(torn_after_reading(f->dir), 4 + cut);
        cut_back(f->dir, "ledger_1.open", good);
    }
    /* a length one more than the entry: torn until private_len is visible,
     * then caught */
    set_be32(frame, len + 1);
    append_bytes(f->dir, "ledger_1.open", frame, 4 + 111 + plen);
    assert_int_equal(torn_after_reading(f->dir), 4 + 111 + plen);
    cut_back(f->dir, "ledger_1.open", good);
    const size_t caught[] = {112 + plen, len};
    for (size_t i = 0; i < CS_ARRAY_LEN(caught); i++) {
        append_bytes(f->dir, "ledger_1.open", frame, 4 + caught[i]);
        cs_ledger_reader *r;
        cst_ok(cs_ledger_reader_open(f->dir, &r));
        cs_ledger_record rec;
        bool done;
        for (uint64_t k = 0; k < 4; k++)
            cst_ok(cs_ledger_reader_next(r, &rec, &done));
        cst_fails(cs_ledger_reader_next(r, &rec, &done), CONSORT_E_CORRUPT);
        assert_non_null(strstr(consort_errmsg(), "not a torn write"));
        cs_ledger_reader_free(r);
        cut_back(f->dir, "ledger_1.open", good);
    }
    set_be32(frame, len);
    /* a version 1 entry, or a public_len that does not fit the length */
    const struct {
        size_t at;
        uint64_t value;
        size_t width, cut;
    } bad[] = {{4, 1, 1, 5}, {4, 1, 1, 60}, {104, len, 4, 108}, {104, len - 127, 4, 120}};
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        uint8_t *edit = malloc(4 + len);
        memcpy(edit, frame, 4 + len);
        if (bad[i].width == 1)
            edit[4 + bad[i].at] = (uint8_t)bad[i].value;
        else
            set_be32(edit + 4 + bad[i].at, bad[i].value);
        append_bytes(f->dir, "ledger_1.open", edit, 4 + bad[i].cut);
        cs_ledger_writer *w;
        cst_fails(cs_ledger_writer_open(f->dir, NULL, &w), CONSORT_E_CORRUPT);
        assert_non_null(strstr(consort_errmsg(), "not a torn write"));
        cut_back(f->dir, "ledger_1.open", good);
        free(edit);
    }
    free(frame);
    lfx_ledger_cleanup(&l);
}

static void recovery_refuses_corruption(void **state)
{
    files_fx *f = *state;
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, f->dir, 0, NULL);
    lfx_generate(&l, 6, 0, 0);
    cs_ledger_writer_free(l.w);
    l.w = NULL;
    /* flip the magic of the third entry */
    char path[256];
    snprintf(path, sizeof path, "%s/ledger_1.open", f->dir);
    int fd = open(path, O_RDWR);
    off_t off = (off_t)(4 + l.entries[0].len + 4 + l.entries[1].len + 4);
    assert_int_equal(pwrite(fd, "X", 1, off), 1);
    close(fd);
    cs_ledger_writer *w;
    cst_fails(cs_ledger_writer_open(f->dir, NULL, &w), CONSORT_E_CORRUPT);
    char want[128];
    snprintf(want, sizeof want, "ledger_1.open offset %lld seqno 3", (long long)(off - 4));
    if (strstr(consort_errmsg(), want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", consort_errmsg(), want);
    lfx_ledger_cleanup(&l);
}

static void reader_checks_the_directory(void **state)
{
    files_fx *f = *state;
    cs_ledger_reader *r;
    /* empty: no entries */
    cst_ok(cs_ledger_reader_open(f->dir, &r));
    cs_ledger_record rec;
    bool done;
    cst_ok(cs_ledger_reader_next(r, &rec, &done));
    assert_true(done);
    cs_ledger_reader_free(r);
    cst_fails(cs_ledger_reader_open("/nonexistent/ledger", &r), CONSORT_E_NOT_FOUND);
    /* two open chunks; a stray "ledger_" file */
    char path[256];
    snprintf(path, sizeof path, "%s/ledger_1.open", f->dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    snprintf(path, sizeof path, "%s/ledger_5.open", f->dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    cst_fails(cs_ledger_reader_open(f->dir, &r), CONSORT_E_CORRUPT);
    assert_non_null(strstr(consort_errmsg(), "only the last chunk may be open"));
    unlink(path);
    snprintf(path, sizeof path, "%s/ledger_backup", f->dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    cst_fails(cs_ledger_reader_open(f->dir, &r), CONSORT_E_CORRUPT);
    assert_non_null(strstr(consort_errmsg(), "ledger_backup"));
    unlink(path);
    /* other files are not the ledger's business */
    snprintf(path, sizeof path, "%s/README", f->dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    cst_ok(cs_ledger_reader_open(f->dir, &r));
    cs_ledger_reader_free(r);
}

/* ---- truncation ---- */

static void truncate_and_check(files_fx *f, lfx_ledger *l, uint64_t to)
{
    cst_ok(cs_ledger_writer_truncate(l->w, to));
    assert_int_equal(cs_ledger_writer_last_seqno(l->w), to);
    cst_ok(cs_ledger_writer_sync(l->w));
    ldc_expect_entries(f->dir, l, to);
    /* the in-memory ledger follows (and rekeys: seqnos are sealed again) */
    lfx_truncate(l, to);
    /* and appending continues at to + 1 */
    lfx_add_tx(l, 20, 10, true);
    cst_ok(cs_ledger_writer_sync(l->w));
    ldc_expect_entries(f->dir, l, to + 1);
}

static void truncation_across_chunks(void **state)
{
    files_fx *f = *state;
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, f->dir, 1, NULL);
    lfx_generate(&l, 30, 4, 9); /* chunks of 5 entries: 1-5, 6-10, ..., 31-35, 36.. */
    cst_ok(cs_ledger_writer_sync(l.w));
    uint64_t last = l.count;
    assert_true(ldc_exists(f->dir, "ledger_36.open"));
    /* inside the buffered tail */
    lfx_add_tx(&l, 10, 0, false);
    lfx_add_tx(&l, 10, 0, false);
    truncate_and_check(f, &l, last + 1);
    /* inside the .open chunk, already written */
    truncate_and_check(f, &l, 36);
    /* at the end of a committed chunk: later chunks go */
    truncate_and_check(f, &l, 30);
    assert_true(ldc_exists(f->dir, "ledger_26-30.committed"));
    assert_true(ldc_exists(f->dir, "ledger_31.open"));
    assert_false(ldc_exists(f->dir, "ledger_36.open"));
    /* inside a committed chunk: it becomes the .open chunk again */
    truncate_and_check(f, &l, 13);
    assert_true(ldc_exists(f->dir, "ledger_11.open"));
    assert_false(ldc_exists(f->dir, "ledger_11-15.committed"));
    assert_true(ldc_exists(f->dir, "ledger_6-10.committed"));
    /* everything */
    truncate_and_check(f, &l, 0);
    assert_true(ldc_exists(f->dir, "ledger_1.open"));
    cst_fails(cs_ledger_writer_truncate(l.w, 5), CONSORT_E_INVALID_ARGUMENT);
    lfx_ledger_cleanup(&l);
}

/* ---- full disks ---- */

/* An io seam that lets `budget` bytes through, then fails with `err`
 * (a short write first, like a file system running out mid-write). */
typedef struct budget_io {
    long long budget; /* < 0: unlimited */
    int err;
    int fsync_err;
    int fsyncs; /* successful fsyncs */
} budget_io;

static ssize_t budget_pwrite(void *ctx, int fd, const void *buf, size_t n, off_t off)
{
    budget_io *b = ctx;
    if (b->budget >= 0 && (long long)n > b->budget) {
        if (b->budget == 0) {
            errno = b->err;
            return -1;
        }
        n = (size_t)b->budget;
    }
    ssize_t w = pwrite(fd, buf, n, off);
    if (w > 0 && b->budget >= 0)
        b->budget -= w;
    return w;
}

static int budget_fsync(void *ctx, int fd)
{
    budget_io *b = ctx;
    if (b->fsync_err != 0) {
        errno = b->fsync_err;
        return -1;
    }
    b->fsyncs++;
    return fsync(fd);
}

static void injected_no_space(void **state)
{
    files_fx *f = *state;
    budget_io b = {.budget = -1, .err = ENOSPC};
    cs_ledger_io io = {.pwrite_fn = budget_pwrite, .fsync_fn = budget_fsync, .ctx = &b};
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, f->dir, 1 << 20, &io);
    lfx_generate(&l, 10, 5, 0);
    cst_ok(cs_ledger_writer_sync(l.w));
    uint64_t synced = ldc_file_size(f->dir, "ledger_1.open");

    /* sync fails part way: the partial frame is cut off, the frames stay
     * buffered and the files read back as the synced prefix */
    lfx_generate(&l, 3, 0, 0);
    b.budget = 150;
    cst_fails(cs_ledger_writer_sync(l.w), CONSORT_E_NO_SPACE);
    assert_int_equal(ldc_file_size(f->dir, "ledger_1.open"), synced);
    ldc_expect_entries(f->dir, &l, 12);
    b.budget = -1;
    cst_ok(cs_ledger_writer_sync(l.w));
    ldc_expect_entries(f->dir, &l, 15);

    /* an append whose flush fails is not accepted */
    synced = ldc_file_size(f->dir, "ledger_1.open");
    cs_ledger_writer *w = l.w;
    l.w = NULL;
    while (l.count < 15 + 400)
        lfx_add_tx(&l, 300, 0, false); /* more than the 64 KiB flush threshold */
    b.budget = 1000;
    consort_err rc = CONSORT_OK;
    uint64_t accepted = 15;
    for (uint64_t s = 16; s <= l.count && rc == CONSORT_OK; s++)
        if ((rc = cs_ledger_writer_append(w, cs_buf_slice(&l.entries[s - 1]))) == CONSORT_OK)
            accepted = s;
    assert_int_equal(rc, CONSORT_E_NO_SPACE);
    assert_int_equal(cs_ledger_writer_last_seqno(w), accepted);
    assert_int_equal(ldc_file_size(f->dir, "ledger_1.open"), synced);
    b.budget = -1;
    for (uint64_t s = accepted + 1; s <= l.count; s++)
        cst_ok(cs_ledger_writer_append(w, cs_buf_slice(&l.entries[s - 1])));
    cst_ok(cs_ledger_writer_sync(w));
    ldc_expect_entries(f->dir, &l, l.count);
    l.w = w;
    lfx_ledger_cleanup(&l);
}

/* Transactions are only buffered; a signature entry makes everything before
 * it durable (docs/ledger.md §5.1: "every signature entry makes the ledger
 * durable"). */
static void signature_entries_are_synced(void **state)
{
    files_fx *f = *state;
    budget_io b = {.budget = -1};
    cs_ledger_io io = {.pwrite_fn = budget_pwrite, .fsync_fn = budget_fsync, .ctx = &b};
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, f->dir, 1 << 20, &io);
    lfx_generate(&l, 4, 0, 0);
    assert_int_equal(b.fsyncs, 0);
    assert_false(ldc_exists(f->dir, "ledger_1.open") && ldc_file_size(f->dir, "ledger_1.open") > 0);
    lfx_add_sig(&l);
    assert_int_equal(b.fsyncs, 2); /* the chunk, and the directory that got it */
    uint64_t all = 0;
    for (size_t i = 0; i < l.count; i++)
        all += 4 + l.entries[i].len;
    assert_int_equal(ldc_file_size(f->dir, "ledger_1.open"), all);
    lfx_generate(&l, 3, 3, 0);
    assert_int_equal(b.fsyncs, 3);
    lfx_ledger_cleanup(&l);
}

/* With defer_sync a signature entry's frames reach the file but its fsync
 * waits for cs_ledger_writer_sync (the node bounds the wait, ledger_sync_ms),
 * and so does the close of a chunk that is full (test_ledger_sync.c). */
static void deferred_sync_waits_for_sync(void **state)
{
    files_fx *f = *state;
    budget_io b = {.budget = -1};
    cs_ledger_io io = {.pwrite_fn = budget_pwrite, .fsync_fn = budget_fsync, .ctx = &b};
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, f->dir, 1 << 20, NULL);
    cs_ledger_writer_free(l.w);
    const cs_ledger_writer_opts o = {.chunk_size = 1 << 20, .io = &io, .defer_sync = true};
    cst_ok(cs_ledger_writer_open(f->dir, &o, &l.w));
    lfx_generate(&l, 4, 0, 0);
    assert_false(cs_ledger_writer_unsynced(l.w));
    lfx_add_sig(&l);
    assert_int_equal(b.fsyncs, 0);
    assert_true(cs_ledger_writer_unsynced(l.w));
    uint64_t all = 0;
    for (size_t i = 0; i < l.count; i++)
        all += 4 + l.entries[i].len;
    assert_int_equal(ldc_file_size(f->dir, "ledger_1.open"), all); /* written, not synced */
    cst_ok(cs_ledger_writer_sync(l.w));
    assert_int_equal(b.fsyncs, 2); /* the chunk, and the directory that got it */
    assert_false(cs_ledger_writer_unsynced(l.w));
    lfx_generate(&l, 2, 2, 0);
    assert_int_equal(b.fsyncs, 2);
    assert_true(cs_ledger_writer_unsynced(l.w));
    lfx_ledger_cleanup(&l);

    /* a signature entry that fills its chunk leaves the close to the sync */
    files_fx *g = *state;
    b.fsyncs = 0;
    char dir2[200];
    snprintf(dir2, sizeof dir2, "%s/closing", g->dir);
    cs_ledger_writer *w;
    const cs_ledger_writer_opts o2 = {.chunk_size = 1, .io = &io, .defer_sync = true};
    cst_ok(cs_ledger_writer_open(dir2, &o2, &w));
    lfx_ledger m;
    lfx_ledger_init(&m, &g->id, dir2, 1, NULL);
    cs_ledger_writer_free(m.w);
    m.w = w;
    lfx_generate(&m, 2, 0, 0);
    lfx_add_sig(&m);
    assert_true(cs_ledger_writer_unsynced(w));
    assert_int_equal(b.fsyncs, 0);
    assert_true(ldc_exists(dir2, "ledger_1.open"));
    cst_ok(cs_ledger_writer_sync(w));
    assert_false(cs_ledger_writer_unsynced(w));
    assert_int_equal(b.fsyncs, 2); /* the chunk before its rename, and the directory */
    assert_true(ldc_exists(dir2, "ledger_1-3.committed"));
    assert_false(ldc_exists(dir2, "ledger_1.open"));
    lfx_ledger_cleanup(&m);
}

static void no_space_when_closing_a_chunk(void **state)
{
    files_fx *f = *state;
    budget_io b = {.budget = -1, .err = ENOSPC};
    cs_ledger_io io = {.pwrite_fn = budget_pwrite, .fsync_fn = budget_fsync, .ctx = &b};
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, f->dir, 1, &io);
    lfx_generate(&l, 4, 0, 0);
    cst_ok(cs_ledger_writer_sync(l.w));
    cs_ledger_writer *w = l.w;
    l.w = NULL;
    lfx_add_sig(&l);
    b.budget = 10;
    cst_fails(cs_ledger_writer_append(w, cs_buf_slice(&l.entries[4])), CONSORT_E_NO_SPACE);
    assert_int_equal(cs_ledger_writer_last_seqno(w), 4);
    assert_true(ldc_exists(f->dir, "ledger_1.open"));
    ldc_expect_entries(f->dir, &l, 4);
    b.budget = -1;
    cst_ok(cs_ledger_writer_append(w, cs_buf_slice(&l.entries[4])));
    assert_true(ldc_exists(f->dir, "ledger_1-5.committed"));
    l.w = w;
    ldc_expect_entries(f->dir, &l, 5);
    lfx_ledger_cleanup(&l);
}

static void fsync_failure_breaks_the_writer(void **state)
{
    files_fx *f = *state;
    budget_io b = {.budget = -1, .err = EIO};
    cs_ledger_io io = {.pwrite_fn = budget_pwrite, .fsync_fn = budget_fsync, .ctx = &b};
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, f->dir, 0, &io);
    lfx_generate(&l, 4, 0, 0);
    b.fsync_err = EIO;
    cst_fails(cs_ledger_writer_sync(l.w), CONSORT_E_IO);
    cs_ledger_writer *w = l.w;
    l.w = NULL;
    lfx_add_tx(&l, 10, 0, false);
    cst_fails(cs_ledger_writer_append(w, cs_buf_slice(&l.entries[4])), CONSORT_E_STATE);
    cst_fails(cs_ledger_writer_sync(w), CONSORT_E_STATE);
    cst_fails(cs_ledger_writer_truncate(w, 1), CONSORT_E_STATE);
    cs_ledger_writer_free(w);
    /* reopening recovers what reached the file */
    b.fsync_err = 0;
    cst_ok(cs_ledger_writer_open(f->dir, &(cs_ledger_writer_opts){.io = &io}, &w));
    assert_int_equal(cs_ledger_writer_last_seqno(w), 4);
    cst_ok(cs_ledger_writer_append(w, cs_buf_slice(&l.entries[4])));
    cs_ledger_writer_free(w);
    ldc_expect_entries(f->dir, &l, 5);
    lfx_ledger_cleanup(&l);
}

/* A real full file system: a 256 KiB tmpfs (needs root and mount(2)). */
static void real_enospc_on_tmpfs(void **state)
{
    files_fx *f = *state;
    char mnt[96];
    snprintf(mnt, sizeof mnt, "%s/small", f->dir);
    assert_int_equal(mkdir(mnt, 0700), 0);
    if (geteuid() != 0 || mount("consort-test", mnt, "tmpfs", 0, "size=256k") != 0) {
        rmdir(mnt);
        cst_skip("cannot mount a tmpfs (not root, or no mount(2) here)");
    }
    lfx_ledger l;
    lfx_ledger_init(&l, &f->id, mnt, 1 << 30, NULL);
    cs_ledger_writer *w = l.w;
    l.w = NULL;
    consort_err rc = CONSORT_OK;
    uint64_t synced = 0;
    for (int i = 0; rc == CONSORT_OK && i < 10000; i++) {
        lfx_add_tx(&l, 1500, 500, false);
        rc = cs_ledger_writer_append(w, cs_buf_slice(&l.entries[l.count - 1]));
        if (rc == CONSORT_OK && l.count % 10 == 0) {
            rc = cs_ledger_writer_sync(w);
            if (rc == CONSORT_OK)
                synced = l.count;
        }
    }
    assert_int_equal(rc, CONSORT_E_NO_SPACE);
    assert_true(synced > 0);
    /* what was synced reads back; no partial frame */
    cs_ledger_reader *r;
    cst_ok(cs_ledger_reader_open(mnt, &r));
    uint64_t n = 0;
    for (;;) {
        cs_ledger_record rec;
        bool done;
        cst_ok(cs_ledger_reader_next(r, &rec, &done));
        if (done)
            break;
        n++;
    }
    assert_int_equal(cs_ledger_reader_torn_bytes(r, NULL), 0);
    assert_true(n >= synced);
    cs_ledger_reader_free(r);
    cs_ledger_writer_free(w);
    cst_ok(cs_ledger_writer_open(mnt, NULL, &w));
    assert_true(cs_ledger_writer_last_seqno(w) >= synced);
    cs_ledger_writer_free(w);
    lfx_ledger_cleanup(&l);
    assert_int_equal(umount(mnt), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chunk_names),
        cmocka_unit_test_setup_teardown(chunks_close_at_signatures, setup, teardown),
        cmocka_unit_test_setup_teardown(chunk_size_threshold, setup, teardown),
        cmocka_unit_test_setup_teardown(torn_frame_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_and_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(append_checks_order, setup, teardown),
        cmocka_unit_test_setup_teardown(recovery_truncates_a_torn_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(recovery_refuses_corruption, setup, teardown),
        cmocka_unit_test_setup_teardown(reader_checks_the_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(truncation_across_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(injected_no_space, setup, teardown),
        cmocka_unit_test_setup_teardown(deferred_sync_waits_for_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(signature_entries_are_synced, setup, teardown),
        cmocka_unit_test_setup_teardown(no_space_when_closing_a_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(fsync_failure_breaks_the_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(real_enospc_on_tmpfs, setup, teardown),
    };
    return cst_run_result(cmocka_run_group_tests(tests, NULL, NULL));
}
