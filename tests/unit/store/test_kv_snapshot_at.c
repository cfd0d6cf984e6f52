/*
 * cs_kv_snapshot_at: the store as it was at an earlier seqno, read through
 * the undo log. For every seqno still in reach it must give exactly the bytes
 * cs_kv_snapshot gave at that seqno, whose restore has the state digest the
 * store had then; out of reach is STATE; it only reads the store (so it may
 * run on another thread while the owner leaves the store alone).
 */
#include "kv_testutil.h"

#include <pthread.h>
#include <stdlib.h>

typedef uint8_t digest_t[CS_KV_STATE_DIGEST_LEN];

#define MAX_SEQNO 400

/* What the store was at each seqno of its current history. */
typedef struct history {
    cs_buf snap[MAX_SEQNO + 1];
    digest_t digest[MAX_SEQNO + 1];
} history;

static uint64_t rng = 0xda942042e4dd58b5ULL;

static uint64_t rnd(uint64_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng % n;
}

static history *history_new(void)
{
    history *h = calloc(1, sizeof *h);
    assert_non_null(h);
    return h;
}

static void history_free(history *h)
{
    for (size_t i = 0; i <= MAX_SEQNO; i++)
        cs_buf_cleanup(&h->snap[i]);
    free(h);
}

static void record(const cs_kv_store *s, history *h)
{
    uint64_t seqno = cs_kv_last_seqno(s);
    assert_true(seqno <= MAX_SEQNO);
    cs_buf_cleanup(&h->snap[seqno]);
    kvt_snapshot(s, &h->snap[seqno]);
    cs_kv_state_digest(s, h->digest[seqno]);
}

/* A random transaction: puts, overwrites and removals over maps "m0".."m7",
 * map j only from seqno 12 * j on (so maps are created as history goes),
 * and now and then one that changes nothing (a removal of an absent key). */
static void random_tx(cs_kv_store *s)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    uint64_t seqno = cs_kv_last_seqno(s) + 1;
    uint64_t nmaps = 1 + seqno / 12 < 8 ? 1 + seqno / 12 : 8;
    char map[8], key[8], value[24];
    if (rnd(20) == 0) {
        cst_ok(cs_kv_remove(tx, S("m0"), S("never")));
    } else {
        for (uint64_t n = 1 + rnd(5); n > 0; n--) {
            uint64_t j = rnd(nmaps);
            snprintf(map, sizeof map, j % 2 ? "public:%u" : "m%u", (unsigned)j);
            snprintf(key, sizeof key, "k%u", (unsigned)rnd(10));
            if (rnd(3) == 0) {
                cst_ok(cs_kv_remove(tx, S(map), S(key)));
            } else {
                snprintf(value, sizeof value, "%llu", (unsigned long long)rnd(1000000));
                cst_ok(cs_kv_put(tx, S(map), S(key), CS_SLICE(value, rnd(strlen(value) + 1))));
            }
        }
    }
    cst_ok(kvt_commit(tx, s));
    cs_kv_tx_free(tx);
}

/* Every seqno from `from` to the last: snapshot_at gives the bytes recorded
 * then, and their restore has the digest recorded then. */
static void check_all(const cs_kv_store *s, const history *h, uint64_t from)
{
    cs_buf out;
    cs_buf_init(&out, 0);
    for (uint64_t at = from; at <= cs_kv_last_seqno(s); at++) {
        cst_ok(cs_kv_snapshot_at(s, at, &out));
        if (out.len != h->snap[at].len || memcmp(out.ptr, h->snap[at].ptr, out.len) != 0)
            fail_msg("snapshot at seqno %llu (store at %llu) differs from the one taken then",
                     (unsigned long long)at, (unsigned long long)cs_kv_last_seqno(s));
        cs_kv_store *r = kvt_store();
        cst_ok(cs_kv_restore(r, cs_buf_slice(&out)));
        digest_t d;
        cs_kv_state_digest(r, d);
        assert_memory_equal(d, h->digest[at], sizeof d);
        cs_kv_store_free(r);
        /* and the digest recorded then is a scan of what the store held */
        kvt_digest_of_snapshot(cs_buf_slice(&out), NULL, d);
        assert_memory_equal(d, h->digest[at], sizeof d);
    }
    cs_buf_cleanup(&out);
}

static void assert_out_of_reach(const cs_kv_store *s, uint64_t at)
{
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_buf_append(&out, "junk", 4));
    cst_fails(cs_kv_snapshot_at(s, at, &out), CONSORT_E_STATE);
    assert_int_equal(out.len, 0);
    cs_buf_cleanup(&out);
}

static void matches_the_snapshot_taken_then(void **state)
{
    (void)state;
    history *h = history_new();
    cs_kv_store *s = kvt_store();
    uint64_t floor = 0;
    record(s, h);
    check_all(s, h, 0); /* the empty store at seqno 0 */
    for (int i = 0; i < 100; i++) {
        random_tx(s);
        record(s, h);
        if (i % 20 == 19)
            check_all(s, h, floor);
    }
    /* roll back (maps created since go away) and take another path */
    cst_ok(cs_kv_rollback(s, 30));
    check_all(s, h, floor);
    for (int i = 0; i < 80; i++) {
        random_tx(s);
        record(s, h);
    }
    check_all(s, h, floor);
    /* compaction moves the floor */
    floor = 70;
    cs_kv_compact(s, floor);
    assert_out_of_reach(s, floor - 1);
    assert_out_of_reach(s, 0);
    check_all(s, h, floor);
    /* a restored store reaches back to the snapshot's seqno only */
    uint64_t last = cs_kv_last_seqno(s);
    cs_kv_store *r = kvt_store();
    kvt_write(r, "unrelated", "k", "v");
    cst_ok(cs_kv_restore(r, cs_buf_slice(&h->snap[last])));
    assert_out_of_reach(r, last - 1);
    for (int i = 0; i < 40; i++) {
        random_tx(r);
        record(r, h);
    }
    check_all(r, h, last);
    assert_out_of_reach(r, cs_kv_last_seqno(r) + 1);
    assert_out_of_reach(r, UINT64_MAX);
    cs_kv_store_free(r);
    cs_kv_store_free(s);
    history_free(h);
}

static void errors_leave_out_empty(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    for (int i = 0; i < 10; i++)
        random_tx(s);
    assert_out_of_reach(s, 11);
    /* over out's cap: TOO_LARGE, out empty */
    cs_buf full, small;
    cs_buf_init(&full, 0);
    cst_ok(cs_kv_snapshot_at(s, 5, &full));
    cs_buf_init(&small, full.len - 1);
    cst_fails(cs_kv_snapshot_at(s, 5, &small), CONSORT_E_TOO_LARGE);
    assert_int_equal(small.len, 0);
    cs_buf_cleanup(&small);
    cs_buf_init(&small, full.len);
    cst_ok(cs_kv_snapshot_at(s, 5, &small));
    assert_int_equal(small.len, full.len);
    cs_buf_cleanup(&small);
    cs_buf_cleanup(&full);
    cs_kv_store_free(s);
}

/* ---- it only reads ---- */

typedef struct reader {
    const cs_kv_store *s;
    const history *h;
    uint64_t last;
    int mismatches;
    consort_err rc;
} reader;

static void *reader_main(void *arg)
{
    reader *rd = arg;
    cs_buf out;
    cs_buf_init(&out, 0);
    rd->rc = CONSORT_OK;
    for (int round = 0; round < 5 && rd->rc == CONSORT_OK; round++) {
        for (uint64_t at = 0; at <= rd->last && rd->rc == CONSORT_OK; at++) {
            rd->rc = cs_kv_snapshot_at(rd->s, at, &out);
            if (rd->rc == CONSORT_OK && (out.len != rd->h->snap[at].len ||
                                         memcmp(out.ptr, rd->h->snap[at].ptr, out.len) != 0))
                rd->mismatches++;
        }
    }
    cs_buf_cleanup(&out);
    return NULL;
}

static void reads_only_and_runs_on_other_threads(void **state)
{
    (void)state;
    history *h = history_new();
    cs_kv_store *s = kvt_store();
    record(s, h);
    for (int i = 0; i < 60; i++) {
        random_tx(s);
        record(s, h);
    }
    uint64_t last = cs_kv_last_seqno(s);
    /* two workers read every seqno at once; the owner leaves the store alone */
    reader rd[2] = {{s, h, last, 0, CONSORT_OK}, {s, h, last, 0, CONSORT_OK}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader_main, &rd[i]), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        cst_ok(rd[i].rc);
        assert_int_equal(rd[i].mismatches, 0);
    }
    /* nothing changed: same bytes, same digest, and rollback is still exact */
    kvt_assert_snapshot(s, &h->snap[last]);
    digest_t d;
    cs_kv_state_digest(s, d);
    assert_memory_equal(d, h->digest[last], sizeof d);
    cst_ok(cs_kv_rollback(s, 17));
    kvt_assert_snapshot(s, &h->snap[17]);
    cs_kv_state_digest(s, d);
    assert_memory_equal(d, h->digest[17], sizeof d);
    cs_kv_store_free(s);
    history_free(h);
}

/* cs_kv_pin_at: views pinned at several seqnos encode, later and whatever
 * the store did meanwhile (more writes, a rollback past them, compaction),
 * exactly the bytes the snapshot taken then had; out of reach is STATE.
 * Compaction waits for the views (the undo log keeps what they may read). */
static void pinned_views_outlive_changes(void **state)
{
    (void)state;
    history *h = history_new();
    cs_kv_store *s = kvt_store();
    record(s, h);
    for (int i = 0; i < 60; i++) {
        random_tx(s);
        record(s, h);
    }
    const uint64_t ats[] = {0, 1, 25, 59, 60};
    cs_kv_pinned *pins[5];
    for (size_t i = 0; i < 5; i++)
        cst_ok(cs_kv_pin_at(s, ats[i], &pins[i]));
    cs_kv_pinned *none = NULL;
    cst_fails(cs_kv_pin_at(s, 61, &none), CONSORT_E_STATE);
    assert_null(none);
    /* the store moves on: a rollback below some views, other writes, compaction */
    cst_ok(cs_kv_rollback(s, 20));
    for (int i = 0; i < 50; i++)
        random_tx(s);
    /* compaction stops where the undo items made while the views live
     * begin: their pin time (60), lowered to 20 by the rollback (the seqnos
     * after it were made again); those items may hold records the views'
     * chunks point at */
    cs_kv_compact(s, 65);
    cs_buf out;
    cs_buf_init(&out, 0);
    cst_ok(cs_kv_snapshot_at(s, 20, &out));
    cst_fails(cs_kv_snapshot_at(s, 19, &out), CONSORT_E_STATE);
    for (size_t i = 0; i < 5; i++) {
        cst_ok(cs_kv_pinned_encode(pins[i], &out));
        if (out.len != h->snap[ats[i]].len || memcmp(out.ptr, h->snap[ats[i]].ptr, out.len) != 0)
            fail_msg("view pinned at seqno %llu encodes other bytes than the snapshot then",
                     (unsigned long long)ats[i]);
        cs_kv_pinned_free(pins[i]);
    }
    /* with the views gone, compaction goes on */
    cs_kv_compact(s, 65);
    cst_fails(cs_kv_pin_at(s, 64, &none), CONSORT_E_STATE);
    cs_buf_cleanup(&out);
    cs_kv_store_free(s);
    history_free(h);
}

/* A view encodes on another thread while the owner keeps writing. */
static void pinned_view_encodes_beside_writes(void **state)
{
    (void)state;
    history *h = history_new();
    cs_kv_store *s = kvt_store();
    for (int i = 0; i < 80; i++) {
        random_tx(s);
        record(s, h);
    }
    uint64_t at = cs_kv_last_seqno(s);
    kvt_pin_job j = {.rc = CONSORT_E_STATE};
    cs_buf_init(&j.out, 0);
    cst_ok(cs_kv_pin_at(s, at, &j.pin));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, kvt_encode_main, &j), 0);
    for (int i = 0; i < 200; i++)
        random_tx(s); /* overwrites and removes what the view holds */
    assert_int_equal(pthread_join(t, NULL), 0);
    cst_ok(j.rc);
    assert_int_equal(j.out.len, h->snap[at].len);
    assert_memory_equal(j.out.ptr, h->snap[at].ptr, j.out.len);
    cs_kv_pinned_free(j.pin);
    cs_buf_cleanup(&j.out);
    cs_kv_store_free(s);
    history_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_the_snapshot_taken_then),
        cmocka_unit_test(errors_leave_out_empty),
        cmocka_unit_test(reads_only_and_runs_on_other_threads),
        cmocka_unit_test(pinned_views_outlive_changes),
        cmocka_unit_test(pinned_view_encodes_beside_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
