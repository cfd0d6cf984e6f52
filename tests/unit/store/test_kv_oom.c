/*
 * Allocation-failure sweeps over the KV store: every allocation in commit,
 * apply, restore, snapshot_at, the transaction operations and reads through a
 * committed view fails in turn. Each failure must be CONSORT_E_NOMEM, leave
 * the store exactly as it was (same snapshot bytes, same state digest, same
 * committed seqno and committed view), leave the transaction usable, and leak
 * nothing. The stores have a committed seqno that lags their last one, so
 * commit and apply also grow the committed index.
 */
#include "kv_testutil.h"

#define MAX_SWEEP 10000

/* A store with a few keys in a private, a public and a soon-emptied map. */
static cs_kv_store *populated(void)
{
    cs_kv_store *s = kvt_store();
    char key[8];
    for (int i = 0; i < 12; i++) {
        snprintf(key, sizeof key, "k%02d", i);
        kvt_write(s, i % 2 ? "public:p" : "m", key, "initial value");
    }
    kvt_write(s, "lonely", "only", "x");
    cs_kv_set_committed(s, 6); /* seqnos 7..13 pending, as on a leader */
    return s;
}

static const char *const sweep_maps[] = {"m", "public:p", "lonely", "new map", "public:new"};

/* Every map's committed view, one buffer per map. */
typedef struct views {
    uint64_t committed;
    cs_buf dump[CS_ARRAY_LEN(sweep_maps)];
} views;

static void views_take(cs_kv_store *s, views *v)
{
    v->committed = cs_kv_committed_seqno(s);
    for (size_t i = 0; i < CS_ARRAY_LEN(sweep_maps); i++)
        kvt_dump_committed(s, sweep_maps[i], &v->dump[i]);
}

static void views_cleanup(views *v)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(sweep_maps); i++)
        cs_buf_cleanup(&v->dump[i]);
}

/* Asserts the store's committed views are still `v` (the sweep's allocator
 * must be disarmed: this allocates). */
static void assert_views(cs_kv_store *s, const views *v)
{
    views now;
    views_take(s, &now);
    assert_int_equal(now.committed, v->committed);
    for (size_t i = 0; i < CS_ARRAY_LEN(sweep_maps); i++)
        kvt_assert_buf_eq(&now.dump[i], &v->dump[i]);
    views_cleanup(&now);
}

/* The transaction under test: reads, replaces, removes (emptying a map),
 * creates keys and two new maps, and grows a table past its first size. */
static void build_tx(cs_kv_tx *tx)
{
    cs_slice v;
    bool found;
    cst_ok(cs_kv_get(tx, S("m"), S("k00"), &v, &found));
    cst_ok(cs_kv_get(tx, S("m"), S("absent"), &v, &found));
    cst_ok(cs_kv_put(tx, S("m"), S("k00"), S("replaced")));
    cst_ok(cs_kv_remove(tx, S("public:p"), S("k01")));
    cst_ok(cs_kv_remove(tx, S("lonely"), S("only")));
    cst_ok(cs_kv_remove(tx, S("nowhere"), S("k")));
    char key[8];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "n%02d", i);
        cst_ok(cs_kv_put(tx, S("m"), S(key), S("new")));
    }
    cst_ok(cs_kv_put(tx, S("new map"), S("k"), S("v")));
    cst_ok(cs_kv_put(tx, S("public:new"), S("k"), S("v")));
}

typedef uint8_t digest_t[CS_KV_STATE_DIGEST_LEN];

static void assert_digest(const cs_kv_store *s, const digest_t want)
{
    digest_t got;
    cs_kv_state_digest(s, got);
    assert_memory_equal(got, want, sizeof got);
}

/* Reference results of an undisturbed run. */
typedef struct reference {
    cs_buf pub, priv, after;
    digest_t before_digest, after_digest;
} reference;

static void make_reference(reference *ref)
{
    cs_kv_store *s = populated();
    cs_kv_state_digest(s, ref->before_digest);
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    build_tx(tx);
    cs_buf_init(&ref->pub, 0);
    cs_buf_init(&ref->priv, 0);
    cst_ok(kvt_commit_ws(tx, s, &ref->pub, &ref->priv));
    cs_kv_tx_free(tx);
    kvt_snapshot(s, &ref->after);
    cs_kv_state_digest(s, ref->after_digest);
    kvt_assert_digest_scan(s, NULL);
    cs_kv_store_free(s);
}

static void free_reference(reference *ref)
{
    cs_buf_cleanup(&ref->pub);
    cs_buf_cleanup(&ref->priv);
    cs_buf_cleanup(&ref->after);
}

static void assert_buf_eq(const cs_buf *a, const cs_buf *b)
{
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->ptr, b->ptr, a->len);
}

static void commit_sweep(void **state)
{
    (void)state;
    reference ref;
    make_reference(&ref);
    cst_alloc_install();
    long failures = 0;
    for (long n = 0; n < MAX_SWEEP; n++) {
        long live = cst_alloc_live();
        cs_kv_store *s = populated();
        cs_buf before, pub, priv;
        kvt_snapshot(s, &before);
        views committed;
        views_take(s, &committed);
        cs_kv_tx *tx;
        cst_ok(cs_kv_tx_begin(s, &tx));
        build_tx(tx);
        cs_buf_init(&pub, 0);
        cs_buf_init(&priv, 0);
        uint64_t seqno = cs_kv_last_seqno(s) + 1;
        cst_alloc_fail_after(n);
        consort_err rc = cs_kv_tx_commit(tx, seqno, &pub, &priv);
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        bool done = !failed;
        if (failed) {
            cst_fails(rc, CONSORT_E_NOMEM);
            failures++;
            assert_int_equal(pub.len, 0);
            assert_int_equal(priv.len, 0);
            assert_int_equal(cs_kv_last_seqno(s), seqno - 1);
            kvt_assert_snapshot(s, &before);
            assert_digest(s, ref.before_digest);
            assert_views(s, &committed);
            /* the transaction is intact: committing again gives the reference */
            cst_ok(cs_kv_tx_commit(tx, seqno, &pub, &priv));
        } else {
            cst_ok(rc);
        }
        assert_buf_eq(&pub, &ref.pub);
        assert_buf_eq(&priv, &ref.priv);
        kvt_assert_snapshot(s, &ref.after);
        assert_digest(s, ref.after_digest);
        assert_views(s, &committed); /* the new seqno is pending */
        /* rollback, set_committed and compact never allocate */
        cst_alloc_fail_after(0);
        cst_ok(cs_kv_rollback(s, seqno - 1));
        cs_kv_set_committed(s, seqno - 3);
        cs_kv_compact(s, seqno - 1);
        assert_int_equal(cst_alloc_failed(), 0);
        cst_alloc_fail_after(-1);
        kvt_assert_snapshot(s, &before);
        assert_digest(s, ref.before_digest);
        assert_int_equal(cs_kv_committed_seqno(s), seqno - 1);
        cs_kv_tx_free(tx);
        cs_kv_store_free(s);
        views_cleanup(&committed);
        cs_buf_cleanup(&before);
        cs_buf_cleanup(&pub);
        cs_buf_cleanup(&priv);
        assert_int_equal(cst_alloc_live(), live);
        if (done)
            break;
    }
    cst_alloc_uninstall();
    assert_true(failures > 10);
    free_reference(&ref);
}

static void apply_sweep(void **state)
{
    (void)state;
    reference ref;
    make_reference(&ref);
    cst_alloc_install();
    long failures = 0;
    for (long n = 0; n < MAX_SWEEP; n++) {
        long live = cst_alloc_live();
        cs_kv_store *s = populated();
        cs_buf before;
        kvt_snapshot(s, &before);
        views committed;
        views_take(s, &committed);
        uint64_t seqno = cs_kv_last_seqno(s) + 1;
        cst_alloc_fail_after(n);
        consort_err rc = cs_kv_apply(s, seqno, cs_buf_slice(&ref.pub), cs_buf_slice(&ref.priv));
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (failed) {
            cst_fails(rc, CONSORT_E_NOMEM);
            failures++;
            kvt_assert_snapshot(s, &before);
            assert_digest(s, ref.before_digest);
            assert_views(s, &committed);
            cst_ok(cs_kv_apply(s, seqno, cs_buf_slice(&ref.pub), cs_buf_slice(&ref.priv)));
        } else {
            cst_ok(rc);
        }
        kvt_assert_snapshot(s, &ref.after);
        assert_digest(s, ref.after_digest);
        assert_views(s, &committed);
        cst_ok(cs_kv_rollback(s, seqno - 1));
        kvt_assert_snapshot(s, &before);
        assert_digest(s, ref.before_digest);
        assert_views(s, &committed);
        cs_kv_store_free(s);
        views_cleanup(&committed);
        cs_buf_cleanup(&before);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed)
            break;
    }
    cst_alloc_uninstall();
    assert_true(failures > 10);
    free_reference(&ref);
}

static void restore_sweep(void **state)
{
    (void)state;
    reference ref;
    make_reference(&ref);
    cst_alloc_install();
    long failures = 0;
    for (long n = 0; n < MAX_SWEEP; n++) {
        long live = cst_alloc_live();
        cs_kv_store *s = kvt_store();
        kvt_write(s, "other", "key", "value");
        cs_buf before;
        kvt_snapshot(s, &before);
        digest_t before_digest;
        cs_kv_state_digest(s, before_digest);
        cst_alloc_fail_after(n);
        consort_err rc = cs_kv_restore(s, cs_buf_slice(&ref.after));
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (failed) {
            cst_fails(rc, CONSORT_E_NOMEM);
            failures++;
            kvt_assert_snapshot(s, &before);
            assert_digest(s, before_digest);
            assert_int_equal(cs_kv_last_seqno(s), 1);
            assert_int_equal(cs_kv_committed_seqno(s), 0);
            cst_ok(cs_kv_restore(s, cs_buf_slice(&ref.after)));
        } else {
            cst_ok(rc);
        }
        kvt_assert_snapshot(s, &ref.after);
        assert_digest(s, ref.after_digest);
        assert_int_equal(cs_kv_committed_seqno(s), cs_kv_last_seqno(s));
        cs_kv_store_free(s);
        cs_buf_cleanup(&before);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed)
            break;
    }
    cst_alloc_uninstall();
    assert_true(failures > 10);
    free_reference(&ref);
}

/* A store with history after `populated`: overwrites, removals (one empties
 * a map), new keys and a new map, so that the state at the populated seqno
 * needs records from the undo log. */
static cs_kv_store *with_history(uint64_t *at)
{
    cs_kv_store *s = populated();
    *at = cs_kv_last_seqno(s);
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(s, &tx));
    build_tx(tx);
    cst_ok(kvt_commit(tx, s));
    cs_kv_tx_free(tx);
    kvt_write(s, "m", "k02", NULL);
    kvt_write(s, "public:p", "k03", "again");
    kvt_write(s, "later", "k", "v");
    return s;
}

static void snapshot_at_sweep(void **state)
{
    (void)state;
    /* the reference: the snapshot the store gave at that seqno */
    cs_kv_store *p = populated();
    cs_buf want;
    kvt_snapshot(p, &want);
    cs_kv_store_free(p);
    cst_alloc_install();
    long failures = 0;
    for (long n = 0; n < MAX_SWEEP; n++) {
        long live = cst_alloc_live();
        uint64_t at;
        cs_kv_store *s = with_history(&at);
        cs_buf now, out;
        kvt_snapshot(s, &now);
        digest_t d;
        cs_kv_state_digest(s, d);
        cs_buf_init(&out, 0);
        cst_alloc_fail_after(n);
        consort_err rc = cs_kv_snapshot_at(s, at, &out);
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (failed) {
            cst_fails(rc, CONSORT_E_NOMEM);
            failures++;
            assert_int_equal(out.len, 0);
        } else {
            cst_ok(rc);
            assert_buf_eq(&out, &want);
        }
        /* the store is untouched either way, and still rolls back exactly */
        kvt_assert_snapshot(s, &now);
        assert_digest(s, d);
        cst_ok(cs_kv_rollback(s, at));
        kvt_assert_snapshot(s, &want);
        cs_kv_store_free(s);
        cs_buf_cleanup(&now);
        cs_buf_cleanup(&out);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed)
            break;
    }
    cst_alloc_uninstall();
    assert_true(failures > 5);
    cs_buf_cleanup(&want);
}

static bool count_cb(void *ctx, cs_slice key, cs_slice value)
{
    (void)key;
    (void)value;
    (*(int *)ctx)++;
    return true;
}

/* Every step of a transaction, from begin to commit, under failure. */
static consort_err run_tx(cs_kv_store *s, cs_kv_tx **tx, int *visited)
{
    cs_slice v;
    bool found;
    CS_TRY(cs_kv_tx_begin(s, tx));
    CS_TRY(cs_kv_get(*tx, S("m"), S("k02"), &v, &found));
    CS_TRY(cs_kv_get(*tx, S("fresh"), S("k"), &v, &found));
    CS_TRY(cs_kv_put(*tx, S("m"), S("k02"), S("x")));
    CS_TRY(cs_kv_remove(*tx, S("m"), S("k04")));
    CS_TRY(cs_kv_put(*tx, S("fresh"), S("k"), S("y")));
    CS_TRY(cs_kv_foreach(*tx, S("m"), count_cb, visited));
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init(&priv, 0);
    consort_err rc = cs_kv_tx_commit(*tx, cs_kv_last_seqno(s) + 1, &pub, &priv);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    return rc;
}

static void transaction_sweep(void **state)
{
    (void)state;
    cst_alloc_install();
    long failures = 0;
    for (long n = 0; n < MAX_SWEEP; n++) {
        long live = cst_alloc_live();
        cs_kv_store *s = populated();
        cs_buf before;
        kvt_snapshot(s, &before);
        cs_kv_tx *tx = NULL;
        int visited = 0;
        cst_alloc_fail_after(n);
        consort_err rc = run_tx(s, &tx, &visited);
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (failed) {
            cst_fails(rc, CONSORT_E_NOMEM);
            failures++;
            kvt_assert_snapshot(s, &before);
        } else {
            cst_ok(rc);
            assert_int_equal(visited, 5); /* k00..k10 even, k04 removed */
        }
        cs_kv_tx_free(tx);
        cs_kv_store_free(s);
        cs_buf_cleanup(&before);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed)
            break;
    }
    cst_alloc_uninstall();
    assert_true(failures > 5);
}

/* What a view read, in memory the sweep's allocator does not count. */
typedef struct fixed {
    uint8_t b[1024];
    size_t len;
} fixed;

static void fixed_add(fixed *f, cs_slice v)
{
    assert_true(v.len <= sizeof f->b - f->len);
    if (v.len > 0)
        memcpy(f->b + f->len, v.ptr, v.len);
    f->len += v.len;
}

static bool fixed_cb(void *ctx, cs_slice key, cs_slice value)
{
    fixed_add(ctx, key);
    fixed_add(ctx, S("="));
    fixed_add(ctx, value);
    fixed_add(ctx, S(";"));
    return true;
}

/* Reads through a committed view: gets (one finding a newer committed
 * record of a key it read before, so the older one is kept), a missing map,
 * iteration. */
static consort_err run_view(cs_kv_store *s, cs_kv_tx **tx, fixed *out)
{
    cs_slice v, first;
    bool found;
    CS_TRY(cs_kv_tx_begin_committed(s, tx));
    CS_TRY(cs_kv_get(*tx, S("m"), S("k00"), &first, &found));
    fixed_add(out, first);
    CS_TRY(cs_kv_get(*tx, S("m"), S("absent"), &v, &found));
    CS_TRY(cs_kv_get(*tx, S("nowhere"), S("k"), &v, &found));
    CS_TRY(cs_kv_get(*tx, S("lonely"), S("only"), &v, &found));
    fixed_add(out, v);
    fixed_add(out, S("|"));
    CS_TRY(cs_kv_foreach(*tx, S("m"), fixed_cb, out));
    cs_kv_set_committed(s, cs_kv_last_seqno(s));
    fixed_add(out, S("|"));
    CS_TRY(cs_kv_get(*tx, S("m"), S("k00"), &v, &found));
    fixed_add(out, v);
    fixed_add(out, first); /* still valid */
    fixed_add(out, S("|"));
    CS_TRY(cs_kv_foreach(*tx, S("m"), fixed_cb, out));
    return CONSORT_OK;
}

static void view_sweep(void **state)
{
    (void)state;
    fixed want = {0};
    cst_alloc_install();
    long failures = 0;
    for (long n = 0; n < MAX_SWEEP; n++) {
        long live = cst_alloc_live();
        cs_kv_store *s = populated();
        kvt_write(s, "m", "k00", "changed"); /* pending */
        kvt_write(s, "m", "k02", NULL);      /* pending */
        cs_buf before;
        kvt_snapshot(s, &before);
        fixed out = {0};
        cs_kv_tx *tx = NULL;
        cst_alloc_fail_after(n);
        consort_err rc = run_view(s, &tx, &out);
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (failed) {
            cst_fails(rc, CONSORT_E_NOMEM);
            failures++;
        } else {
            cst_ok(rc);
            want = out;
        }
        kvt_assert_snapshot(s, &before); /* reads change nothing */
        cs_kv_tx_free(tx);
        cs_kv_store_free(s);
        cs_buf_cleanup(&before);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed)
            break;
    }
    cst_alloc_uninstall();
    assert_true(failures > 5);
    /* the undisturbed run read the state at seqno 6 ("lonely" came later),
     * then the latest one (k00 changed, k02 removed) */
    static const char expect[] =
        "initial value|k00=initial value;k02=initial value;k04=initial value;|"
        "changedinitial value|"
        "k00=changed;k04=initial value;k06=initial value;k08=initial value;k10=initial value;";
    assert_int_equal(want.len, strlen(expect));
    assert_memory_equal(want.b, expect, want.len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(commit_sweep),      cmocka_unit_test(apply_sweep),
        cmocka_unit_test(restore_sweep),     cmocka_unit_test(snapshot_at_sweep),
        cmocka_unit_test(transaction_sweep), cmocka_unit_test(view_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
