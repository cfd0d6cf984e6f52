/* KV transactions: read-your-writes, removal, OCC conflicts, iteration,
 * public/private split, limits and state errors (src/store/kv.h). */
#include "kv_testutil.h"

static void read_your_writes(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    cs_kv_tx *tx, *other;
    cst_ok(cs_kv_tx_begin(s, &tx));
    cs_slice v;
    bool found = true;
    cst_ok(cs_kv_get(tx, S("m"), S("k"), &v, &found));
    assert_false(found);
    cst_ok(cs_kv_put(tx, S("m"), S("k"), S("v1")));
    cst_ok(cs_kv_get(tx, S("m"), S("k"), &v, &found));
    assert_true(found);
    assert_true(cs_slice_eq(v, S("v1")));
    cst_ok(cs_kv_put(tx, S("m"), S("k"), S("second")));
    cst_ok(cs_kv_get(tx, S("m"), S("k"), &v, &found));
    assert_true(cs_slice_eq(v, S("second")));
    assert_true(cs_kv_tx_has_writes(tx));

    /* nothing is visible to others before commit */
    cst_ok(cs_kv_tx_begin(s, &other));
    cst_ok(cs_kv_get(other, S("m"), S("k"), &v, &found));
    assert_false(found);
    cs_kv_tx_free(other);

    cst_ok(kvt_commit(tx, s));
    assert_int_equal(cs_kv_last_seqno(s), 1);
    cs_kv_tx_free(tx);
    char buf[32];
    assert_string_equal(kvt_read(s, "m", "k", buf, sizeof buf), "second");
    cs_kv_store_free(s);
}

static void remove_then_get(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "k", "v");
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    cs_slice v;
    bool found;
    cst_ok(cs_kv_get(tx, S("m"), S("k"), &v, &found));
    assert_true(found);
    cst_ok(cs_kv_remove(tx, S("m"), S("k")));
    cst_ok(cs_kv_get(tx, S("m"), S("k"), &v, &found));
    assert_false(found);
    assert_int_equal(v.len, 0);
    cst_ok(kvt_commit(tx, s));
    cs_kv_tx_free(tx);
    char buf[8];
    assert_null(kvt_read(s, "m", "k", buf, sizeof buf));

    /* put after remove inside one transaction: the put wins */
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_remove(tx, S("m"), S("k")));
    cst_ok(cs_kv_put(tx, S("m"), S("k"), S("back")));
    cst_ok(kvt_commit(tx, s));
    cs_kv_tx_free(tx);
    assert_string_equal(kvt_read(s, "m", "k", buf, sizeof buf), "back");
    cs_kv_store_free(s);
}

static void removing_an_absent_key_creates_nothing(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    cs_buf before;
    kvt_snapshot(s, &before);
    kvt_write(s, "never", "k", NULL);
    assert_int_equal(cs_kv_last_seqno(s), 1);
    cs_buf after;
    kvt_snapshot(s, &after);
    /* only the seqno differs: {"maps": {}, "seqno": 0 / 1} */
    assert_int_equal(before.len, after.len);
    assert_memory_equal(before.ptr, after.ptr, before.len - 1);
    assert_int_equal(after.ptr[after.len - 1], 0x01);
    cs_buf_cleanup(&before);
    cs_buf_cleanup(&after);
    cs_kv_store_free(s);
}

static void stale_read_conflicts_and_changes_nothing(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "k", "v0");
    cs_kv_tx *t1, *t2;
    cs_slice v;
    bool found;
    cst_ok(cs_kv_tx_begin(s, &t1));
    cst_ok(cs_kv_tx_begin(s, &t2));
    cst_ok(cs_kv_get(t1, S("m"), S("k"), &v, &found));
    cst_ok(cs_kv_get(t2, S("m"), S("k"), &v, &found));
    cst_ok(cs_kv_put(t2, S("m"), S("k"), S("v2")));
    cst_ok(kvt_commit(t2, s));
    cs_kv_tx_free(t2);

    /* t1 still sees what it read (repeatable), and its slice is still valid */
    cst_ok(cs_kv_get(t1, S("m"), S("k"), &v, &found));
    assert_true(cs_slice_eq(v, S("v0")));
    cst_ok(cs_kv_put(t1, S("m"), S("other"), S("x")));
    cst_ok(cs_kv_put(t1, S("public:log"), S("e"), S("y")));

    cs_buf snap, pub, priv;
    kvt_snapshot(s, &snap);
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    cst_ok(cs_buf_append(&pub, "junk", 4));
    cst_fails(cs_kv_tx_commit(t1, 3, &pub, &priv), CONSORT_E_BUSY);
    assert_non_null(strstr(consort_errmsg(), "conflict on map \"m\" key \"k\""));
    assert_non_null(strstr(consort_errmsg(), "read at version 1, now at version 2"));
    assert_int_equal(pub.len, 0);
    assert_int_equal(priv.len, 0);
    assert_int_equal(cs_kv_last_seqno(s), 2);
    kvt_assert_snapshot(s, &snap);
    /* still BUSY when retried: a conflicting transaction is re-run, never merged */
    cst_fails(cs_kv_tx_commit(t1, 3, &pub, &priv), CONSORT_E_BUSY);
    cs_kv_tx_free(t1);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_buf_cleanup(&snap);
    cs_kv_store_free(s);
}

static void write_only_transactions_never_conflict(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "k", "v0");
    cs_kv_tx *t1, *t2;
    cst_ok(cs_kv_tx_begin(s, &t1));
    cst_ok(cs_kv_tx_begin(s, &t2));
    cst_ok(cs_kv_put(t1, S("m"), S("k"), S("from t1")));
    /* reading its own write records no read */
    cs_slice v;
    bool found;
    cst_ok(cs_kv_get(t1, S("m"), S("k"), &v, &found));
    cst_ok(cs_kv_put(t2, S("m"), S("k"), S("from t2")));
    cst_ok(cs_kv_remove(t2, S("m"), S("gone")));
    cst_ok(kvt_commit(t2, s));
    cst_ok(kvt_commit(t1, s));
    cs_kv_tx_free(t1);
    cs_kv_tx_free(t2);
    char buf[16];
    assert_string_equal(kvt_read(s, "m", "k", buf, sizeof buf), "from t1");
    cs_kv_store_free(s);
}

static void absent_read_then_created_conflicts(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "a", "1");
    cs_kv_tx *t1;
    cs_slice v;
    bool found;
    cst_ok(cs_kv_tx_begin(s, &t1));
    cst_ok(cs_kv_get(t1, S("m"), S("k"), &v, &found));
    assert_false(found);
    /* and a map that does not exist yet */
    cst_ok(cs_kv_get(t1, S("new map"), S("k"), &v, &found));
    assert_false(found);
    kvt_write(s, "m", "k", "created");
    cst_ok(cs_kv_put(t1, S("m"), S("z"), S("1")));
    cst_fails(kvt_commit(t1, s), CONSORT_E_BUSY);
    assert_non_null(strstr(consort_errmsg(), "key \"k\": read at version 0, now at version 2"));
    cs_kv_tx_free(t1);

    cst_ok(cs_kv_tx_begin(s, &t1));
    cst_ok(cs_kv_get(t1, S("new map"), S("k"), &v, &found));
    kvt_write(s, "new map", "k", "created");
    cst_fails(kvt_commit(t1, s), CONSORT_E_BUSY);
    assert_non_null(strstr(consort_errmsg(), "conflict on map \"new map\" key \"k\""));
    cs_kv_tx_free(t1);

    /* an unrelated write does not disturb a reader */
    cst_ok(cs_kv_tx_begin(s, &t1));
    cst_ok(cs_kv_get(t1, S("m"), S("a"), &v, &found));
    kvt_write(s, "m", "b", "2");
    cst_ok(cs_kv_put(t1, S("m"), S("c"), S("3")));
    cst_ok(kvt_commit(t1, s));
    cs_kv_tx_free(t1);
    cs_kv_store_free(s);
}

typedef struct visit_log {
    char text[256];
    int calls;
    int stop_after;
} visit_log;

static bool visit(void *ctx, cs_slice key, cs_slice value)
{
    visit_log *log = ctx;
    size_t n = strlen(log->text);
    snprintf(log->text + n, sizeof log->text - n, "%.*s=%.*s;", (int)key.len, (const char *)key.ptr,
             (int)value.len, (const char *)value.ptr);
    return ++log->calls != log->stop_after;
}

static void foreach_merges_in_key_order(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "b", "1");
    kvt_write(s, "m", "d", "2");
    kvt_write(s, "m", "ab", "3");
    kvt_write(s, "m", "a", "4");
    kvt_write(s, "other", "x", "5");
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_put(tx, S("m"), S("c"), S("new")));
    cst_ok(cs_kv_put(tx, S("m"), S("a"), S("over")));
    cst_ok(cs_kv_remove(tx, S("m"), S("d")));
    cst_ok(cs_kv_remove(tx, S("m"), S("zz")));
    visit_log log = {.stop_after = -1};
    cst_ok(cs_kv_foreach(tx, S("m"), visit, &log));
    assert_string_equal(log.text, "a=over;ab=3;b=1;c=new;");
    visit_log early = {.stop_after = 2};
    cst_ok(cs_kv_foreach(tx, S("m"), visit, &early));
    assert_string_equal(early.text, "a=over;ab=3;");
    visit_log none = {.stop_after = -1};
    cst_ok(cs_kv_foreach(tx, S("missing"), visit, &none));
    assert_int_equal(none.calls, 0);
    /* a change in another map does not conflict */
    kvt_write(s, "other", "x", "6");
    cst_ok(kvt_commit(tx, s));
    cs_kv_tx_free(tx);
    cs_kv_store_free(s);
}

static void foreach_conflicts_on_any_change_to_the_map(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "a", "1");
    const char *changes[][2] = {{"new", "x"}, {"a", "2"}, {"a", NULL}};
    for (size_t i = 0; i < CS_ARRAY_LEN(changes); i++) {
        cs_kv_tx *tx;
        cst_ok(cs_kv_tx_begin(s, &tx));
        visit_log log = {.stop_after = -1};
        cst_ok(cs_kv_foreach(tx, S("m"), visit, &log));
        kvt_write(s, "m", changes[i][0], changes[i][1]);
        cst_ok(cs_kv_put(tx, S("out"), S("count"), S("n")));
        cst_fails(kvt_commit(tx, s), CONSORT_E_BUSY);
        assert_non_null(strstr(consort_errmsg(), "conflict on map \"m\""));
        cs_kv_tx_free(tx);
    }
    /* iterating a map that does not exist yet, which is then created */
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    visit_log log = {.stop_after = -1};
    cst_ok(cs_kv_foreach(tx, S("later"), visit, &log));
    kvt_write(s, "later", "k", "v");
    cst_fails(kvt_commit(tx, s), CONSORT_E_BUSY);
    cs_kv_tx_free(tx);
    cs_kv_store_free(s);
}

typedef struct names {
    char text[256];
} names;

static consort_err collect_name(void *ctx, cs_slice map, cs_slice key, const cs_slice *value)
{
    names *n = ctx;
    size_t len = strlen(n->text);
    snprintf(n->text + len, sizeof n->text - len, "%.*s/%.*s%s;", (int)map.len,
             (const char *)map.ptr, (int)key.len, (const char *)key.ptr, value ? "" : "-");
    return CONSORT_OK;
}

static void public_and_private_write_sets(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_put(tx, S("public:b"), S("k"), S("1")));
    cst_ok(cs_kv_put(tx, S("secret"), S("k"), S("2")));
    cst_ok(cs_kv_put(tx, S("public:a"), S("k"), S("3")));
    cst_ok(cs_kv_remove(tx, S("public"), S("k")));
    cst_ok(cs_kv_put(tx, S("public:"), S("k"), S("4")));
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    cst_ok(kvt_commit_ws(tx, s, &pub, &priv));
    cs_kv_tx_free(tx);
    names n = {{0}};
    cst_ok(cs_kv_ws_visit(cs_buf_slice(&pub), true, NULL, collect_name, &n));
    assert_string_equal(n.text, "public:/k;public:a/k;public:b/k;");
    names p = {{0}};
    cst_ok(cs_kv_ws_visit(cs_buf_slice(&priv), false, NULL, collect_name, &p));
    assert_string_equal(p.text, "public/k-;secret/k;");
    /* each is rejected as the other kind */
    cst_fails(cs_kv_ws_visit(cs_buf_slice(&pub), false, NULL, NULL, NULL), CONSORT_E_MALFORMED);
    cst_fails(cs_kv_ws_visit(cs_buf_slice(&priv), true, NULL, NULL, NULL), CONSORT_E_MALFORMED);
    assert_true(cs_kv_map_is_public(S("public:")));
    assert_false(cs_kv_map_is_public(S("public")));
    assert_false(cs_kv_map_is_public(S("Public:x")));

    /* only private writes: the public write set is the empty map */
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_put(tx, S("secret"), S("k"), S("5")));
    cst_ok(kvt_commit_ws(tx, s, &pub, &priv));
    cs_kv_tx_free(tx);
    assert_int_equal(pub.len, 1);
    assert_int_equal(pub.ptr[0], 0xa0);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_kv_store_free(s);
}

static void limits_are_enforced(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    cs_kv_limits l = cs_kv_store_limits(s);
    assert_int_equal(l.max_key, 4096);
    assert_int_equal(l.max_value, 1 << 20);
    assert_int_equal(l.max_write_set, 16 << 20);
    cs_buf big;
    cs_buf_init(&big, 0);
    uint8_t *p;
    cst_ok(cs_buf_extend(&big, (1 << 20) + 1, &p));
    cs_slice key_ok = CS_SLICE(big.ptr, 4096), key_big = CS_SLICE(big.ptr, 4097);
    cs_slice val_ok = CS_SLICE(big.ptr, 1 << 20), val_big = CS_SLICE(big.ptr, (1 << 20) + 1);
    cs_kv_tx *tx;
    cs_slice v;
    bool found;
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_fails(cs_kv_put(tx, S("m"), key_big, S("v")), CONSORT_E_TOO_LARGE);
    assert_non_null(strstr(consort_errmsg(), "KV key of 4097 bytes, the cap is 4096"));
    cst_fails(cs_kv_get(tx, S("m"), key_big, &v, &found), CONSORT_E_TOO_LARGE);
    cst_fails(cs_kv_remove(tx, S("m"), key_big), CONSORT_E_TOO_LARGE);
    cst_fails(cs_kv_put(tx, S("m"), S("k"), val_big), CONSORT_E_TOO_LARGE);
    assert_non_null(strstr(consort_errmsg(), "KV value of 1048577 bytes, the cap is 1048576"));
    cst_ok(cs_kv_put(tx, S("m"), key_ok, val_ok));
    cst_ok(cs_kv_put(tx, S("m"), S(""), S("")));

    char name[130];
    memset(name, 'n', sizeof name);
    cst_fails(cs_kv_put(tx, CS_SLICE(name, 129), S("k"), S("v")), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "map name of 129 bytes, expected 1..128"));
    cst_ok(cs_kv_put(tx, CS_SLICE(name, 128), S("k"), S("v")));
    cst_fails(cs_kv_put(tx, S(""), S("k"), S("v")), CONSORT_E_INVALID_ARGUMENT);
    const char *bad[] = {"\xc0\x80", "a\xed\xa0\x80", "\xff", "\xe2\x82", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        cst_fails(cs_kv_get(tx, S(bad[i]), S("k"), &v, &found), CONSORT_E_INVALID_ARGUMENT);
        assert_non_null(strstr(consort_errmsg(), "invalid UTF-8"));
    }
    cst_ok(cs_kv_put(tx, S("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), S("k"), S("v")));
    cst_ok(kvt_commit(tx, s));
    cs_kv_tx_free(tx);
    cs_kv_store_free(s);

    /* configured caps, including the write-set cap at commit */
    cs_kv_limits small = {.max_key = 8, .max_value = 16, .max_write_set = 64};
    cst_ok(cs_kv_store_new(&small, &s));
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_fails(cs_kv_put(tx, S("m"), S("123456789"), S("v")), CONSORT_E_TOO_LARGE);
    cst_fails(cs_kv_put(tx, S("m"), S("k"), S("12345678901234567")), CONSORT_E_TOO_LARGE);
    for (char k = 'a'; k < 'f'; k++)
        cst_ok(cs_kv_put(tx, S("m"), CS_SLICE(&k, 1), S("0123456789abcdef")));
    cst_fails(kvt_commit(tx, s), CONSORT_E_TOO_LARGE);
    assert_non_null(strstr(consort_errmsg(), "private write set of"));
    assert_int_equal(cs_kv_last_seqno(s), 0);
    cs_kv_tx_free(tx);
    cs_kv_store_free(s);
    cs_buf_cleanup(&big);
}

static void commit_state_errors(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    cs_kv_tx *tx;
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_put(tx, S("m"), S("k"), S("v")));
    cst_fails(cs_kv_tx_commit(tx, 2, &pub, &priv), CONSORT_E_STATE);
    assert_non_null(strstr(consort_errmsg(), "seqno 2 does not follow the last seqno 0"));
    cst_fails(cs_kv_tx_commit(tx, 0, &pub, &priv), CONSORT_E_STATE);
    cst_ok(cs_kv_tx_commit(tx, 1, &pub, &priv));
    cst_fails(cs_kv_tx_commit(tx, 2, &pub, &priv), CONSORT_E_STATE);
    cs_slice v;
    bool found;
    cst_fails(cs_kv_get(tx, S("m"), S("k"), &v, &found), CONSORT_E_STATE);
    cst_fails(cs_kv_put(tx, S("m"), S("k"), S("v")), CONSORT_E_STATE);
    cst_fails(cs_kv_foreach(tx, S("m"), visit, NULL), CONSORT_E_STATE);
    cs_kv_tx_free(tx);

    /* a read-only transaction may still commit: empty write sets */
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_get(tx, S("m"), S("k"), &v, &found));
    assert_false(cs_kv_tx_has_writes(tx));
    cst_ok(cs_kv_tx_commit(tx, 2, &pub, &priv));
    assert_int_equal(pub.len, 1);
    assert_int_equal(priv.len, 1);
    assert_int_equal(priv.ptr[0], 0xa0);
    cs_kv_tx_free(tx);
    cs_kv_tx_free(NULL);
    cs_kv_store_free(NULL);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_kv_store_free(s);
}

static void rollback_and_restore_make_open_transactions_stale(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "k", "1");
    kvt_write(s, "m", "k", "2");
    cs_kv_tx *tx;
    cs_slice v;
    bool found;
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_get(tx, S("m"), S("k"), &v, &found));
    cst_ok(cs_kv_rollback(s, 1));
    /* the same seqno 2 again, with different content: versions alone would not tell */
    kvt_write(s, "m", "k", "2 again");
    cst_fails(kvt_commit(tx, s), CONSORT_E_BUSY);
    assert_non_null(strstr(consort_errmsg(), "rolled back or restored"));
    /* the value borrowed before the rollback is still readable */
    assert_true(cs_slice_eq(v, S("2")));
    cs_kv_tx_free(tx);

    cs_buf snap;
    kvt_snapshot(s, &snap);
    cst_ok(cs_kv_tx_begin(s, &tx));
    cst_ok(cs_kv_put(tx, S("m"), S("x"), S("y")));
    cst_ok(cs_kv_restore(s, cs_buf_slice(&snap)));
    cst_fails(kvt_commit(tx, s), CONSORT_E_BUSY);
    cs_kv_tx_free(tx);
    cs_buf_cleanup(&snap);
    cs_kv_store_free(s);
}

static void rollback_bounds(void **state)
{
    (void)state;
    cs_kv_store *s = kvt_store();
    kvt_write(s, "m", "a", "1");
    kvt_write(s, "m", "b", "2");
    kvt_write(s, "m", "a", NULL);
    cst_fails(cs_kv_rollback(s, 4), CONSORT_E_INVALID_ARGUMENT);
    cst_ok(cs_kv_rollback(s, 3));
    cs_kv_compact(s, 1);
    cst_fails(cs_kv_rollback(s, 0), CONSORT_E_STATE);
    assert_non_null(strstr(consort_errmsg(), "undo data only reaches back to 1"));
    cst_ok(cs_kv_rollback(s, 1));
    char buf[8];
    assert_string_equal(kvt_read(s, "m", "a", buf, sizeof buf), "1");
    assert_null(kvt_read(s, "m", "b", buf, sizeof buf));
    assert_int_equal(cs_kv_last_seqno(s), 1);
    /* compacting beyond the last seqno clamps */
    cs_kv_compact(s, 100);
    cst_ok(cs_kv_rollback(s, 1));
    cst_fails(cs_kv_rollback(s, 0), CONSORT_E_STATE);
    cs_kv_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_your_writes),
        cmocka_unit_test(remove_then_get),
        cmocka_unit_test(removing_an_absent_key_creates_nothing),
        cmocka_unit_test(stale_read_conflicts_and_changes_nothing),
        cmocka_unit_test(write_only_transactions_never_conflict),
        cmocka_unit_test(absent_read_then_created_conflicts),
        cmocka_unit_test(foreach_merges_in_key_order),
        cmocka_unit_test(foreach_conflicts_on_any_change_to_the_map),
        cmocka_unit_test(public_and_private_write_sets),
        cmocka_unit_test(limits_are_enforced),
        cmocka_unit_test(commit_state_errors),
        cmocka_unit_test(rollback_and_restore_make_open_transactions_stale),
        cmocka_unit_test(rollback_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
