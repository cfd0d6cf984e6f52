/*
 * The committed seqno itself (src/store/kv.h cs_kv_set_committed): its
 * clamping, restore setting it, the state digest and snapshots it leaves
 * alone, a follower's (always its last seqno), and the committed index
 * giving its memory back after many pending keys. Reads over the committed
 * state are in test_kv_committed.c.
 */
#include "kv_testutil.h"

#include "store/kv_priv.h"

#include <stdlib.h>

/* Clamped to the last seqno, never backwards. */
static void set_committed_clamps(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    cs_kv_set_committed(s, 5); /* an empty store: clamped to 0 */
    assert_int_equal(cs_kv_committed_seqno(s), 0);
    kvt_write(s, "m", "k", "1");
    kvt_write(s, "m", "k", "2");
    kvt_write(s, "m", "k", "3");
    cs_kv_set_committed(s, UINT64_MAX);
    assert_int_equal(cs_kv_committed_seqno(s), 3);
    kvt_write(s, "m", "k", "4");
    cs_kv_set_committed(s, 2); /* lower: ignored */
    assert_int_equal(cs_kv_committed_seqno(s), 3);
    kvt_assert_reads(s, "m", "k", "3", "4");
    cs_kv_set_committed(s, 3);
    assert_int_equal(cs_kv_committed_seqno(s), 3);
    cs_kv_set_committed(s, 4);
    kvt_assert_reads(s, "m", "k", "4", "4");
    cs_kv_store_free(s);
}

/* Restore replaces the store: the committed seqno is the snapshot's (even
 * lower than before), and an open view reads the restored state. */
static void restore_sets_committed(void **state)
{
    (void)state;
    cs_kv_store *a = kvt_store();
    kvt_write(a, "m", "k", "snap");
    kvt_write(a, "fresh", "x", "1");
    cs_buf snap;
    kvt_snapshot(a, &snap); /* at seqno 2, nothing committed in `a` */
    cs_kv_store_free(a);

    cs_kv_store *s = kvt_store();
    for (int i = 0; i < 5; i++)
        kvt_write(s, "m", "k", "old");
    kvt_write(s, "gone", "y", "2");
    cs_kv_set_committed(s, 4);
    cs_kv_tx *view;
    cst_ok(cs_kv_tx_begin_committed(s, &view));
    cs_slice v, before;
    bool found;
    cst_ok(cs_kv_get(view, S("m"), S("k"), &before, &found));
    assert_true(found);
    assert_true(cs_slice_eq(before, S("old")));

    cst_ok(cs_kv_restore(s, cs_buf_slice(&snap)));
    assert_int_equal(cs_kv_committed_seqno(s), 2);
    assert_int_equal(cs_kv_last_seqno(s), 2);
    cst_ok(cs_kv_get(view, S("m"), S("k"), &v, &found));
    assert_true(found);
    assert_true(cs_slice_eq(v, S("snap")));
    cst_ok(cs_kv_get(view, S("gone"), S("y"), &v, &found));
    assert_false(found);
    /* the value borrowed before the restore is still valid */
    assert_true(cs_slice_eq(before, S("old")));
    cs_kv_tx_free(view);
    kvt_assert_reads(s, "fresh", "x", "1", "1");

    /* new writes after the restore are pending again */
    kvt_write(s, "m", "k", "after");
    kvt_assert_reads(s, "m", "k", "snap", "after");
    cst_fails(cs_kv_rollback(s, 1), CONSORT_E_STATE);
    cst_ok(cs_kv_rollback(s, 2));
    kvt_assert_reads(s, "m", "k", "snap", "snap");
    cs_buf_cleanup(&snap);
    cs_kv_store_free(s);
}

/* The committed seqno does not enter the state digest, snapshots or
 * snapshot_at: a store that advances it is the same state as one that never
 * does. */
static void digest_and_snapshots_unaffected(void **state)
{
    (void)state;
    cs_kv_store *a = kvt_store(), *b = kvt_store();
    cst_ok(cs_kv_store_exclude_from_digest(a, S("public:consort.signatures")));
    cst_ok(cs_kv_store_exclude_from_digest(b, S("public:consort.signatures")));
    for (int i = 0; i < 30; i++) {
        char k[8], v[8];
        snprintf(k, sizeof k, "k%d", i % 7);
        snprintf(v, sizeof v, "v%d", i);
        cs_kv_store *both[2] = {a, b};
        for (int j = 0; j < 2; j++) {
            kvt_write(both[j], i % 3 ? "m" : "public:consort.signatures", k, i % 5 ? v : NULL);
        }
        if (i % 4 == 3)
            cs_kv_set_committed(a, (uint64_t)i - 1);
        kvt_assert_same(a, b);
        kvt_assert_same_digest(a, b);
    }
    cs_buf x, y;
    cs_buf_init(&x, 0);
    cs_buf_init(&y, 0);
    for (uint64_t at = 0; at <= 30; at++) {
        cst_ok(cs_kv_snapshot_at(a, at, &x));
        cst_ok(cs_kv_snapshot_at(b, at, &y));
        kvt_assert_buf_eq(&x, &y);
    }
    kvt_assert_digest_scan(a, "public:consort.signatures");
    cs_buf_cleanup(&x);
    cs_buf_cleanup(&y);
    cs_kv_store_free(a);
    cs_kv_store_free(b);
}

/* A follower applies only committed transactions and sets the committed
 * seqno to the last after each: its committed view is its latest state. */
static void follower_committed_is_last(void **state)
{
    (void)state;
    cs_kv_store *leader = kvt_store(), *follower = kvt_store();
    for (int i = 0; i < 20; i++) {
        char k[8], v[8];
        snprintf(k, sizeof k, "k%d", i % 6);
        snprintf(v, sizeof v, "v%d", i);
        cs_kv_tx *tx;
        cst_ok(cs_kv_tx_begin(leader, &tx));
        cst_ok(i % 4 == 3 ? cs_kv_remove(tx, S("acct"), S(k))
                          : cs_kv_put(tx, S("acct"), S(k), S(v)));
        cs_buf pub, priv;
        cs_buf_init(&pub, 0);
        cs_buf_init(&priv, 0);
        cst_ok(kvt_commit_ws(tx, leader, &pub, &priv));
        cs_kv_tx_free(tx);
        uint64_t seqno = cs_kv_last_seqno(leader);
        cst_ok(cs_kv_apply(follower, seqno, cs_buf_slice(&pub), cs_buf_slice(&priv)));
        cs_kv_set_committed(follower, seqno);
        cs_buf want, got;
        kvt_dump_latest(follower, "acct", &want);
        kvt_dump_committed(follower, "acct", &got);
        kvt_assert_buf_eq(&got, &want);
        cs_buf_cleanup(&want);
        cs_buf_cleanup(&got);
        cs_buf_cleanup(&pub);
        cs_buf_cleanup(&priv);
    }
    kvt_assert_same(leader, follower);
    cs_kv_store_free(leader);
    cs_kv_store_free(follower);
}

/* Many keys pending in one map (the index grows past its first sizes and,
 * emptied, gives its memory back), committed in steps and rolled back. */
static void many_pending_keys(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    char k[16], v[16];
    for (int t = 0; t < 4; t++) { /* seqnos 1..4, 500 keys each */
        cs_kv_tx *tx;
        cst_ok(cs_kv_tx_begin(s, &tx));
        for (int i = 0; i < 500; i++) {
            snprintf(k, sizeof k, "k%04d", (i * 7 + t * 131) % 1000);
            snprintf(v, sizeof v, "%d.%d", t, i);
            cst_ok(cs_kv_put(tx, S("m"), S(k), S(v)));
        }
        cst_ok(kvt_commit(tx, s));
        cs_kv_tx_free(tx);
    }
    const char *maps[] = {"m"};
    for (uint64_t c = 0; c <= 4; c++) {
        cs_kv_set_committed(s, c);
        kvt_assert_view_is_snapshot_at(s, maps, 1);
        if (c == 2) {
            cst_ok(cs_kv_rollback(s, 3));
            kvt_assert_view_is_snapshot_at(s, maps, 1);
        }
    }
    /* white box: with nothing pending the index is empty, and having grown
     * large it gave its memory back */
    const kv_map *m = cs_kv_map_find(s, S("m"), NULL);
    assert_non_null(m);
    assert_int_equal(m->shadow.count, 0);
    assert_null(m->shadow.slots.chunks);
    /* everything committed: the latest state is the committed one */
    cs_buf want, got;
    kvt_dump_latest(s, "m", &want);
    kvt_dump_committed(s, "m", &got);
    kvt_assert_buf_eq(&got, &want);
    cs_buf_cleanup(&want);
    cs_buf_cleanup(&got);
    cs_kv_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_committed_clamps),
        cmocka_unit_test(restore_sets_committed),
        cmocka_unit_test(digest_and_snapshots_unaffected),
        cmocka_unit_test(follower_committed_is_last),
        cmocka_unit_test(many_pending_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
