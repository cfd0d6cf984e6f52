/*
 * Reads over the committed state (src/store/kv.h "committed view"): a leader's
 * store holds transactions above the committed seqno that a read must never
 * observe. Each promise of the header is a test here: pending writes (puts,
 * removals, new maps) invisible until committed, rolled-back ones never seen,
 * rollback's new STATE, compaction raising the committed seqno, a view's
 * read-only contract, the lifetime of the values it returns, and its
 * iteration order. The committed seqno's own rules are in
 * test_kv_commit_point.c, the randomized test in test_kv_random.c,
 * allocation failures in test_kv_oom.c.
 */
#include "kv_testutil.h"

#include "store/kv_priv.h"

#include <stdlib.h>

/* Appends "key=value;" per visited key to a char buffer. */
typedef struct listing {
    char text[512];
    size_t len;
    int stop_after; /* stop the iteration after this many keys (0 = never) */
    int seen;
} listing;

static bool list_cb(void *ctx, cs_slice key, cs_slice value)
{
    listing *l = ctx;
    int n = snprintf(l->text + l->len, sizeof l->text - l->len, "%.*s=%.*s;", (int)key.len,
                     (const char *)key.ptr, (int)value.len, (const char *)value.ptr);
    assert_true(n > 0 && (size_t)n < sizeof l->text - l->len);
    l->len += (size_t)n;
    l->seen++;
    return l->stop_after == 0 || l->seen < l->stop_after;
}

static void assert_committed_list(cs_kv_store *s, const char *map, const char *want)
{
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin_committed(s, &tx));
    listing l = {0};
    cst_ok(cs_kv_foreach(tx, S(map), list_cb, &l));
    assert_string_equal(l.text, want);
    cs_kv_tx_free(tx);
}

static const char *const all_maps[] = {"acct", "public:log", "fresh", "public:fresh", "m"};

static void assert_view_consistent(cs_kv_store *s)
{
    kvt_assert_view_is_snapshot_at(s, all_maps, CS_ARRAY_LEN(all_maps));
}

/* A leader commits several transactions while the committed point lags:
 * committed reads never see the pending values, and see them once committed. */
static void leader_sequence(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    assert_int_equal(cs_kv_committed_seqno(s), 0);
    kvt_assert_reads(s, "acct", "alice", NULL, NULL);
    kvt_write(s, "acct", "alice", "100");              /* 1 */
    kvt_write(s, "acct", "carol", "7");                /* 2 */
    kvt_write(s, "public:log", "1", "opened");         /* 3 */
    kvt_assert_reads(s, "acct", "alice", NULL, "100"); /* nothing committed yet */
    cs_kv_set_committed(s, 3);
    assert_int_equal(cs_kv_committed_seqno(s), 3);
    kvt_assert_reads(s, "acct", "alice", "100", "100");

    kvt_write(s, "acct", "alice", "90");  /* 4 */
    kvt_write(s, "acct", "bob", "10");    /* 5: a new key */
    kvt_write(s, "acct", "carol", NULL);  /* 6: a removal */
    kvt_write(s, "acct", "alice", "80");  /* 7: a second pending write */
    kvt_write(s, "public:log", "2", "x"); /* 8 */
    kvt_write(s, "acct", "alice", NULL);  /* 9: removed last */
    assert_int_equal(cs_kv_committed_seqno(s), 3);
    kvt_assert_reads(s, "acct", "alice", "100", NULL);
    kvt_assert_reads(s, "acct", "bob", NULL, "10");
    kvt_assert_reads(s, "acct", "carol", "7", NULL);
    kvt_assert_reads(s, "public:log", "2", NULL, "x");
    assert_committed_list(s, "acct", "alice=100;carol=7;");
    assert_view_consistent(s);

    /* the commit point moves into the middle of the pending run */
    cs_kv_set_committed(s, 5);
    kvt_assert_reads(s, "acct", "alice", "90", NULL);
    kvt_assert_reads(s, "acct", "bob", "10", "10");
    kvt_assert_reads(s, "acct", "carol", "7", NULL);
    assert_committed_list(s, "acct", "alice=90;bob=10;carol=7;");
    assert_view_consistent(s);
    cs_kv_set_committed(s, 7);
    kvt_assert_reads(s, "acct", "alice", "80", NULL);
    kvt_assert_reads(s, "acct", "carol", NULL, NULL);
    assert_committed_list(s, "acct", "alice=80;bob=10;");
    assert_view_consistent(s);
    /* and to the end: the committed view is the latest state */
    cs_kv_set_committed(s, 9);
    kvt_assert_reads(s, "acct", "alice", NULL, NULL);
    kvt_assert_reads(s, "public:log", "2", "x", "x");
    assert_committed_list(s, "acct", "bob=10;");
    assert_view_consistent(s);
    cs_kv_store_free(s);
}

/* Rolled-back writes are never seen; other values committed at the same
 * seqnos are, once committed. */
static void rollback_then_commit_other_values(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "acct", "alice", "committed"); /* 1 */
    kvt_write(s, "acct", "dave", "here");       /* 2 */
    cs_kv_set_committed(s, 2);
    kvt_write(s, "acct", "alice", "pending 3"); /* 3 */
    kvt_write(s, "acct", "dave", NULL);         /* 4 */
    kvt_write(s, "acct", "erin", "pending 5");  /* 5 */
    kvt_assert_reads(s, "acct", "alice", "committed", "pending 3");
    kvt_assert_reads(s, "acct", "dave", "here", NULL);

    /* leadership lost: back to the committed seqno */
    cst_ok(cs_kv_rollback(s, 2));
    kvt_assert_reads(s, "acct", "alice", "committed", "committed");
    kvt_assert_reads(s, "acct", "dave", "here", "here");
    kvt_assert_reads(s, "acct", "erin", NULL, NULL);
    assert_view_consistent(s);

    /* the new leader's transactions take the same seqnos */
    kvt_write(s, "acct", "alice", "other 3"); /* 3 */
    kvt_write(s, "acct", "erin", "other 4");  /* 4 */
    kvt_assert_reads(s, "acct", "alice", "committed", "other 3");
    kvt_assert_reads(s, "acct", "erin", NULL, "other 4");
    cs_kv_set_committed(s, 3);
    kvt_assert_reads(s, "acct", "alice", "other 3", "other 3");
    kvt_assert_reads(s, "acct", "dave", "here", "here");
    kvt_assert_reads(s, "acct", "erin", NULL, "other 4");
    cs_kv_set_committed(s, 4);
    kvt_assert_reads(s, "acct", "erin", "other 4", "other 4");
    assert_committed_list(s, "acct", "alice=other 3;dave=here;erin=other 4;");
    assert_view_consistent(s);
    cs_kv_store_free(s);
}

/* Rollback below the committed seqno fails with STATE and changes nothing;
 * down to it exactly is fine. */
static void rollback_below_committed_fails(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    for (int i = 0; i < 6; i++) {
        char v[8];
        snprintf(v, sizeof v, "v%d", i + 1);
        kvt_write(s, "m", "k", v);
    }
    cs_kv_set_committed(s, 4);
    cs_buf before;
    kvt_snapshot(s, &before);
    uint8_t d[CS_KV_STATE_DIGEST_LEN], d2[CS_KV_STATE_DIGEST_LEN];
    cs_kv_state_digest(s, d);
    cst_fails(cs_kv_rollback(s, 3), CONSORT_E_STATE);
    assert_non_null(strstr(consort_errmsg(), "committed"));
    cst_fails(cs_kv_rollback(s, 0), CONSORT_E_STATE);
    kvt_assert_snapshot(s, &before);
    cs_kv_state_digest(s, d2);
    assert_memory_equal(d, d2, sizeof d);
    assert_int_equal(cs_kv_last_seqno(s), 6);
    kvt_assert_reads(s, "m", "k", "v4", "v6");
    cst_ok(cs_kv_rollback(s, 4));
    kvt_assert_reads(s, "m", "k", "v4", "v4");
    cst_ok(cs_kv_rollback(s, 4)); /* a no-op */
    cst_fails(cs_kv_rollback(s, 5), CONSORT_E_INVALID_ARGUMENT);
    cs_buf_cleanup(&before);
    cs_kv_store_free(s);
}

/* A map that exists only because of pending transactions reads as absent
 * and iterates as empty, until committed; rolled back, it is gone. */
static void map_creation_invisible(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "k", "v"); /* 1 */
    cs_kv_set_committed(s, 1);
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx)); /* 2: two new maps and a key of an old one */
    cst_ok(cs_kv_put(tx, S("fresh"), S("a"), S("1")));
    cst_ok(cs_kv_put(tx, S("fresh"), S("b"), S("2")));
    cst_ok(cs_kv_put(tx, S("public:fresh"), S(""), S("")));
    cst_ok(cs_kv_put(tx, S("m"), S("k2"), S("v2")));
    cst_ok(kvt_commit(tx, s));
    cs_kv_tx_free(tx);
    kvt_write(s, "fresh", "a", NULL); /* 3 */
    kvt_assert_reads(s, "fresh", "a", NULL, NULL);
    kvt_assert_reads(s, "fresh", "b", NULL, "2");
    kvt_assert_reads(s, "public:fresh", "", NULL, "");
    assert_committed_list(s, "fresh", "");
    assert_committed_list(s, "public:fresh", "");
    assert_committed_list(s, "m", "k=v;");
    assert_view_consistent(s);

    /* rolled back: the maps go; created again by other transactions */
    cst_ok(cs_kv_rollback(s, 1));
    kvt_assert_reads(s, "fresh", "b", NULL, NULL);
    kvt_write(s, "fresh", "c", "3"); /* 2 */
    assert_committed_list(s, "fresh", "");
    cs_kv_set_committed(s, 2);
    assert_committed_list(s, "fresh", "c=3;");
    kvt_assert_reads(s, "public:fresh", "", NULL, NULL);
    assert_view_consistent(s);
    cs_kv_store_free(s);
}

/* Iteration visits the committed contents in bytewise key order ("" < "a" <
 * "ab" < "b"), merging keys unchanged since the commit point with keys whose
 * committed value the index holds; a callback may stop it early. */
static void foreach_committed_order(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    const char *keys[] = {"b", "ab", "", "a", "c", "abc"};
    for (size_t i = 0; i < CS_ARRAY_LEN(keys); i++)
        cst_ok(cs_kv_put(tx, S("m"), S(keys[i]), S(keys[i][0] ? keys[i] : "empty")));
    cst_ok(kvt_commit(tx, s)); /* 1 */
    cs_kv_tx_free(tx);
    cs_kv_set_committed(s, 1);
    kvt_write(s, "m", "ab", "changed"); /* 2 */
    kvt_write(s, "m", "", NULL);        /* 3 */
    kvt_write(s, "m", "aa", "new");     /* 4 */
    kvt_write(s, "m", "c", NULL);       /* 5 */
    kvt_write(s, "m", "c", "back");     /* 6 */
    const char *committed = "=empty;a=a;ab=ab;abc=abc;b=b;c=c;";
    assert_committed_list(s, "m", committed);
    cs_kv_set_committed(s, 3);
    assert_committed_list(s, "m", "a=a;ab=changed;abc=abc;b=b;c=c;");
    cs_kv_set_committed(s, 5);
    assert_committed_list(s, "m", "a=a;aa=new;ab=changed;abc=abc;b=b;");
    assert_view_consistent(s);

    /* early stop */
    cst_ok(cs_kv_tx_begin_committed(s, &tx));
    listing l = {.stop_after = 2};
    cst_ok(cs_kv_foreach(tx, S("m"), list_cb, &l));
    assert_string_equal(l.text, "a=a;aa=new;");
    /* a missing map is empty */
    l = (listing){0};
    cst_ok(cs_kv_foreach(tx, S("missing"), list_cb, &l));
    assert_int_equal(l.seen, 0);
    cs_kv_tx_free(tx);
    cs_kv_store_free(s);
}

typedef struct committing_cb {
    cs_kv_store *s;
    listing l;
} committing_cb;

/* Commits and advances the committed seqno from inside the iteration. */
static bool commit_during_cb(void *ctx, cs_slice key, cs_slice value)
{
    committing_cb *c = ctx;
    kvt_write(c->s, "m", "a", NULL);
    kvt_write(c->s, "m", "zz", "late");
    cs_kv_set_committed(c->s, cs_kv_last_seqno(c->s));
    cs_kv_compact(c->s, cs_kv_last_seqno(c->s));
    return list_cb(&c->l, key, value);
}

/* The store may change while a committed iteration runs: it visits what was
 * committed when it began, and every slice stays valid during its call. */
static void foreach_while_store_changes(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "a", "1");
    kvt_write(s, "m", "b", "2");
    cs_kv_set_committed(s, 2);
    kvt_write(s, "m", "b", "pending");
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin_committed(s, &tx));
    committing_cb c = {.s = s};
    cst_ok(cs_kv_foreach(tx, S("m"), commit_during_cb, &c));
    assert_string_equal(c.l.text, "a=1;b=2;");
    assert_committed_list(s, "m", "b=pending;zz=late;");
    cs_kv_tx_free(tx);
    cs_kv_store_free(s);
}

/* Compaction says its seqnos are committed: it raises the committed seqno
 * (never lowers it), and what was compacted is visible to committed reads. */
static void compact_raises_committed(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    for (int i = 1; i <= 6; i++) {
        char v[8];
        snprintf(v, sizeof v, "v%d", i);
        kvt_write(s, "m", "k", v);
    }
    cs_kv_set_committed(s, 1);
    cs_kv_compact(s, 3);
    assert_int_equal(cs_kv_committed_seqno(s), 3);
    kvt_assert_reads(s, "m", "k", "v3", "v6");
    cst_fails(cs_kv_rollback(s, 2), CONSORT_E_STATE);
    cs_kv_set_committed(s, 5);
    cs_kv_compact(s, 4); /* below committed: committed stays */
    assert_int_equal(cs_kv_committed_seqno(s), 5);
    kvt_assert_reads(s, "m", "k", "v5", "v6");
    assert_view_consistent(s);
    cs_kv_compact(s, 100); /* clamped: everything committed */
    assert_int_equal(cs_kv_committed_seqno(s), 6);
    kvt_assert_reads(s, "m", "k", "v6", "v6");
    cs_kv_store_free(s);
}

/* A view never writes or commits; argument errors are those of get. */
static void view_is_read_only(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "k", "v");
    cs_kv_set_committed(s, 1);
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin_committed(s, &tx));
    cst_fails(cs_kv_put(tx, S("m"), S("k"), S("w")), CONSORT_E_STATE);
    assert_non_null(strstr(consort_errmsg(), "read-only"));
    cst_fails(cs_kv_remove(tx, S("m"), S("k")), CONSORT_E_STATE);
    assert_false(cs_kv_tx_has_writes(tx));
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    cst_ok(cs_buf_append(&pub, "junk", 4));
    cst_fails(cs_kv_tx_commit(tx, 2, &pub, &priv), CONSORT_E_STATE);
    assert_int_equal(pub.len, 0);
    assert_int_equal(cs_kv_last_seqno(s), 1);
    cs_slice v;
    bool found;
    cst_fails(cs_kv_get(tx, S(""), S("k"), &v, &found), CONSORT_E_INVALID_ARGUMENT);
    uint8_t big[CS_KV_KEY_MAX_DEFAULT + 1] = {0};
    cst_fails(cs_kv_get(tx, S("m"), CS_SLICE(big, sizeof big), &v, &found), CONSORT_E_TOO_LARGE);
    cst_fails(cs_kv_foreach(tx, S("\xff"), list_cb, NULL), CONSORT_E_INVALID_ARGUMENT);
    /* still usable */
    cst_ok(cs_kv_get(tx, S("m"), S("k"), &v, &found));
    assert_true(found && cs_slice_eq(v, S("v")));
    cs_kv_tx_free(tx);
    cs_kv_tx_free(NULL);
    /* the store is as it was, and an ordinary transaction still commits */
    kvt_write(s, "m", "k", "w");
    kvt_assert_reads(s, "m", "k", "v", "w");
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_kv_store_free(s);
}

/* An open view sees the committed state at each call; every value it
 * returned stays valid until it is freed, whatever the store does. */
static void open_view_follows_commit_point(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "k", "one"); /* 1 */
    cs_kv_set_committed(s, 1);
    cs_kv_tx *view;
    cst_ok(cs_kv_tx_begin_committed(s, &view));
    cs_slice v1, v1again, v2, v3, absent;
    bool found;
    cst_ok(cs_kv_get(view, S("m"), S("k"), &v1, &found));
    assert_true(cs_slice_eq(v1, S("one")));
    kvt_write(s, "m", "k", "two"); /* 2 */
    cst_ok(cs_kv_get(view, S("m"), S("k"), &v1again, &found));
    assert_true(cs_slice_eq(v1again, S("one")));
    assert_ptr_equal(v1.ptr, v1again.ptr); /* the same record: nothing more held */
    cs_kv_set_committed(s, 2);
    cst_ok(cs_kv_get(view, S("m"), S("k"), &v2, &found));
    assert_true(cs_slice_eq(v2, S("two")));
    /* overwrite and compact until no one but the view holds the old records */
    kvt_write(s, "m", "k", "three"); /* 3 */
    kvt_write(s, "m", "k", NULL);    /* 4 */
    cs_kv_compact(s, 4);
    cst_ok(cs_kv_get(view, S("m"), S("k"), &absent, &found));
    assert_false(found);
    kvt_write(s, "m", "k", "five"); /* 5 */
    cs_kv_set_committed(s, 5);
    cst_ok(cs_kv_get(view, S("m"), S("k"), &v3, &found));
    assert_true(cs_slice_eq(v3, S("five")));
    kvt_write(s, "m", "k", "six"); /* 6 */
    cs_kv_compact(s, 6);
    /* under ASan a freed record would be caught here */
    assert_true(cs_slice_eq(v1, S("one")));
    assert_true(cs_slice_eq(v2, S("two")));
    assert_true(cs_slice_eq(v3, S("five")));
    cs_kv_tx_free(view);
    cs_kv_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leader_sequence),
        cmocka_unit_test(rollback_then_commit_other_values),
        cmocka_unit_test(rollback_below_committed_fails),
        cmocka_unit_test(map_creation_invisible),
        cmocka_unit_test(foreach_committed_order),
        cmocka_unit_test(foreach_while_store_changes),
        cmocka_unit_test(compact_raises_committed),
        cmocka_unit_test(view_is_read_only),
        cmocka_unit_test(open_view_follows_commit_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
