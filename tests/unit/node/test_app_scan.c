/*
 * consort_kv_scan (include/consort/app.h), run through cs_app_invoke as
 * consortd runs handlers, under ASan in make asan: bytewise order,
 * inclusive start, limit (0: none), early stop, reads-your-writes, keys and
 * values valid until the handler returns, the paging recipe, conflicts with
 * any write to the map, and the per-invocation cap shared with gets.
 */
#include "app_kv_fixture.h"

static consort_err scans(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)rq;
    (void)rs;
    (void)ctx;
    /* the transaction's own writes: a new key, a removal, a new value */
    CS_TRY(consort_kv_put(tx, "s", "bb", 2, "4", 1));
    CS_TRY(consort_kv_remove(tx, "s", "c", 1));
    CS_TRY(consort_kv_put(tx, "s", "a", 1, "A", 1));
    scan_log l;
    /* everything, in bytewise order: a prefix first, 0x00 after it */
    cst_ok(scan(tx, NULL, 0, 0, &l));
    assert_string_equal(seen(&l), "a=A,b=1,b0=2,ba=3,bb=4,d=5");
    /* start is inclusive; it need not exist */
    cst_ok(scan(tx, "b", 1, 0, &l));
    assert_string_equal(seen(&l), "b=1,b0=2,ba=3,bb=4,d=5");
    cst_ok(scan(tx, "bc", 2, 0, &l));
    assert_string_equal(seen(&l), "d=5");
    cst_ok(scan(tx, "e", 1, 0, &l));
    assert_int_equal(l.n, 0);
    /* "b" followed by 0x00 is the smallest key after "b" (and "b\0" is a key) */
    cst_ok(scan(tx, "b\0", 2, 0, &l));
    assert_string_equal(seen(&l), "b0=2,ba=3,bb=4,d=5");
    /* a limit; 0 is none */
    cst_ok(scan(tx, "b", 1, 2, &l));
    assert_string_equal(seen(&l), "b=1,b0=2");
    cst_ok(scan(tx, NULL, 0, 100, &l));
    assert_int_equal(l.n, 6);
    /* the visitor stops early: still OK */
    memset(&l, 0, sizeof l);
    l.stop_after = 3;
    cst_ok(consort_kv_scan(tx, "s", NULL, 0, 0, log_visit, &l));
    assert_string_equal(seen(&l), "a=A,b=1,b0=2");
    /* no such map: no keys; reserved maps as for reads */
    memset(&l, 0, sizeof l);
    cst_ok(consort_kv_scan(tx, "nothing", NULL, 0, 0, log_visit, &l));
    cst_ok(consort_kv_scan(tx, "public:consort.users", NULL, 0, 0, log_visit, &l));
    assert_int_equal(l.n, 0);
    cst_fails(consort_kv_scan(tx, "consort.secrets", NULL, 0, 0, log_visit, &l),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_kv_scan(tx, "", NULL, 0, 0, log_visit, &l), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_kv_scan(tx, "s", NULL, 0, 0, NULL, &l), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_kv_scan(tx, "s", NULL, 3, 0, log_visit, &l), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_kv_scan(tx, NULL, NULL, 0, 0, log_visit, &l), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_kv_scan(NULL, "s", NULL, 0, 0, log_visit, &l), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(l.n, 0);

    /* writes while visiting (every visited key overwritten, "ba" removed,
     * "bab" added) do not change this scan ... */
    memset(&l, 0, sizeof l);
    l.tx = tx;
    cst_ok(consort_kv_scan(tx, "s", NULL, 0, 0, log_visit, &l));
    assert_string_equal(seen(&l), "a=A,b=1,b0=2,ba=3,bb=4,d=5");
    /* ... and what it handed out is intact after them (ASan: no byte freed) */
    CS_TRY(consort_kv_remove(tx, "s", "a", 1));
    CS_TRY(consort_kv_put(tx, "s", "bb", 2, "again", 5));
    assert_string_equal(seen(&l), "a=A,b=1,b0=2,ba=3,bb=4,d=5");
    /* the next scan sees them (reads your writes) */
    scan_log after;
    cst_ok(scan(tx, NULL, 0, 0, &after));
    assert_string_equal(seen(&after),
                        "b=overwritten,b0=overwritten,bab=new,bb=again,d=overwritten");
    assert_string_equal(seen(&l), "a=A,b=1,b0=2,ba=3,bb=4,d=5");
    consort_response_set_status(rs, 204);
    return CONSORT_OK;
}

static void scan_order_start_limit_and_own_writes(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    put_committed(store, "s", "a", "0");
    put_committed(store, "s", "b", "1");
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(store, &tx));
    cst_ok(cs_kv_put(tx, CS_SLICE_LIT("s"), CS_SLICE("b\0", 2), CS_SLICE_LIT("2")));
    cst_ok(cs_kv_put(tx, CS_SLICE_LIT("s"), CS_SLICE_LIT("ba"), CS_SLICE_LIT("3")));
    cst_ok(cs_kv_put(tx, CS_SLICE_LIT("s"), CS_SLICE_LIT("c"), CS_SLICE_LIT("x")));
    cst_ok(cs_kv_put(tx, CS_SLICE_LIT("s"), CS_SLICE_LIT("d"), CS_SLICE_LIT("5")));
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init_secret(&priv, 0);
    cst_ok(cs_kv_tx_commit(tx, cs_kv_last_seqno(store) + 1, &pub, &priv));
    cs_kv_tx_free(tx);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cst_call c;
    run(store, scans, NULL, true, &c);
    cst_ok(c.rc);
    assert_int_equal(c.resp.status, 204);
    cst_call_cleanup(&c);
    cs_kv_store_free(store);
}

/* Pages through "p" with pages of `n`: start inclusive, n + 1 asked, the
 * extra key where the next page starts. Returns the keys seen, in order. */
typedef struct pager {
    size_t want, got;
    bool has_next;
    uint8_t next[64];
    size_t next_len;
    uint8_t keys[256][8];
    size_t key_lens[256], total;
} pager;

static bool page_visit(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value,
                       size_t value_len)
{
    (void)value;
    (void)value_len;
    pager *p = ctx;
    assert_true(key_len <= 8);
    if (p->got == p->want) {
        p->has_next = true;
        memcpy(p->next, key, key_len);
        p->next_len = key_len;
        return false;
    }
    assert_true(p->total < 256);
    memcpy(p->keys[p->total], key, key_len);
    p->key_lens[p->total++] = key_len;
    p->got++;
    return true;
}

static consort_err pages(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)rq;
    (void)rs;
    size_t n = *(size_t *)ctx;
    pager p = {.want = n};
    scan_log all;
    memset(&all, 0, sizeof all);
    /* the whole map, for reference (at most 64 keys) */
    CS_TRY(consort_kv_scan(tx, "p", NULL, 0, 0, log_visit, &all));
    /* recipe 1: ask for n + 1, the extra key starts the next page */
    p.has_next = true;
    for (int pages_done = 0; p.has_next; pages_done++) {
        assert_true(pages_done < 100);
        p.has_next = false;
        p.got = 0;
        uint8_t start[64];
        size_t start_len = p.next_len;
        memcpy(start, p.next, start_len);
        CS_TRY(consort_kv_scan(tx, "p", start, start_len, n + 1, page_visit, &p));
        assert_true(p.got <= n);
    }
    assert_int_equal(p.total, all.n);
    for (size_t i = 0; i < all.n; i++) {
        assert_int_equal(p.key_lens[i], all.key_len[i]);
        assert_memory_equal(p.keys[i], all.key[i], all.key_len[i]);
    }
    /* recipe 2: start after the last key seen, i.e. at it followed by 0x00 */
    size_t total = 0;
    uint8_t start[64];
    size_t start_len = 0;
    for (;;) {
        scan_log l;
        memset(&l, 0, sizeof l);
        CS_TRY(consort_kv_scan(tx, "p", start, start_len, n, log_visit, &l));
        for (size_t i = 0; i < l.n; i++, total++) {
            assert_int_equal(l.key_len[i], all.key_len[total]);
            assert_memory_equal(l.key[i], all.key[total], l.key_len[i]);
        }
        if (l.n < n)
            break;
        memcpy(start, l.key[l.n - 1], l.key_len[l.n - 1]);
        start[l.key_len[l.n - 1]] = 0x00;
        start_len = l.key_len[l.n - 1] + 1;
    }
    assert_int_equal(total, all.n);
    consort_response_set_status(rs, 204);
    return CONSORT_OK;
}

static void paging_visits_every_key_once(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    /* 60 keys of 0..8 bytes, some prefixes of others, some with 0x00 and 0xff */
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(store, &tx));
    uint32_t x = 12345;
    for (int i = 0; i < 60; i++) {
        uint8_t key[8];
        x = x * 1103515245u + 12345u;
        size_t len = (x >> 8) % 9;
        for (size_t k = 0; k < len; k++) {
            x = x * 1103515245u + 12345u;
            uint8_t choices[] = {0x00, 0x01, 'a', 'b', 0xff};
            key[k] = choices[(x >> 16) % 5];
        }
        cst_ok(cs_kv_put(tx, CS_SLICE_LIT("p"), CS_SLICE(key, len), CS_SLICE_LIT("v")));
    }
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init_secret(&priv, 0);
    cst_ok(cs_kv_tx_commit(tx, 1, &pub, &priv));
    cs_kv_tx_free(tx);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    static const size_t sizes[] = {1, 2, 7, 64};
    for (size_t i = 0; i < CS_ARRAY_LEN(sizes); i++) {
        size_t n = sizes[i];
        cst_call c;
        run(store, pages, &n, false, &c);
        cst_ok(c.rc);
        cst_call_cleanup(&c);
    }
    cs_kv_store_free(store);
}

static consort_err scan_and_write(consort_request *rq, consort_tx *tx, consort_response *rs,
                                  void *ctx)
{
    (void)rq;
    (void)rs;
    bool by_scan = *(bool *)ctx;
    if (by_scan) {
        scan_log l;
        CS_TRY(scan(tx, NULL, 0, 0, &l));
    } else {
        const uint8_t *v;
        size_t n;
        CS_TRY(consort_kv_get(tx, "s", "x", 1, &v, &n));
    }
    return consort_kv_put(tx, "out", "k", 1, "v", 1);
}

/* app.h: a scan counts as reading the whole map, so it conflicts with a
 * write to any key of it; a get conflicts only with writes of its key. */
static void a_scan_conflicts_with_any_write_to_its_map(void **state)
{
    (void)state;
    for (int by_scan = 0; by_scan < 2; by_scan++) {
        cs_kv_store *store;
        cst_ok(cs_kv_store_new(NULL, &store));
        put_committed(store, "s", "x", "1");
        bool flag = by_scan;
        cs_app_endpoint ep = {
            .method = "POST", .path = "/app/t", .handler = scan_and_write, .ctx = &flag};
        consort_request req;
        cs_app_request_init(&req, "POST", "/app/t", "", NULL, 0, CS_SLICE_EMPTY, NULL);
        consort_response resp;
        cs_app_response_init(&resp);
        cs_kv_tx *tx;
        cst_ok(cs_kv_tx_begin(store, &tx));
        cs_tx_outcome out;
        cst_ok(cs_app_invoke(&ep, &req, tx, true, &resp, &out));
        assert_true(out.commit);
        /* meanwhile another transaction writes another key of the map */
        put_committed(store, "s", "y", "2");
        cs_buf pub, priv;
        cs_buf_init(&pub, 0);
        cs_buf_init_secret(&priv, 0);
        consort_err rc = cs_kv_tx_commit(tx, cs_kv_last_seqno(store) + 1, &pub, &priv);
        if (by_scan)
            cst_fails(rc, CONSORT_E_BUSY); /* run again from scratch */
        else
            cst_ok(rc);
        cs_kv_tx_free(tx);
        cs_buf_cleanup(&pub);
        cs_buf_cleanup(&priv);
        cs_app_response_cleanup(&resp);
        cs_kv_store_free(store);
    }
}

static consort_err scan_big(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)rq;
    (void)rs;
    scan_log *l = ctx;
    memset(l, 0, sizeof *l);
    consort_err rc = consort_kv_scan(tx, "big", NULL, 0, 0, log_visit, l);
    /* what was visited before the cap stays valid */
    for (size_t i = 0; i < l->n; i++) {
        assert_int_equal(l->value_len[i], MIB);
        assert_true(l->value[i][0] == (uint8_t)i && l->value[i][MIB - 1] == (uint8_t)i);
    }
    return rc;
}

static void a_scan_is_capped_like_gets(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    uint8_t *value = cs_malloc(MIB);
    assert_non_null(value);
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(store, &tx));
    size_t keys = CONSORT_APP_READ_MAX / MIB + 2;
    for (size_t i = 0; i < keys; i++) {
        memset(value, (int)i, MIB);
        uint8_t key = (uint8_t)i;
        cst_ok(cs_kv_put(tx, CS_SLICE_LIT("big"), CS_SLICE(&key, 1), CS_SLICE(value, MIB)));
    }
    /* a handler in this same transaction (its own writes are scanned) */
    scan_log l;
    cs_app_endpoint ep = {.method = "GET", .path = "/app/t", .handler = scan_big, .ctx = &l};
    consort_request req;
    cs_app_request_init(&req, "GET", "/app/t", "", NULL, 0, CS_SLICE_EMPTY, NULL);
    consort_response resp;
    cs_app_response_init(&resp);
    cs_tx_outcome out;
    cst_fails(cs_app_invoke(&ep, &req, tx, false, &resp, &out), CONSORT_E_TOO_LARGE);
    /* each key costs its byte too: one value fewer than gets */
    assert_int_equal(l.n, CONSORT_APP_READ_MAX / MIB - 1);
    assert_int_equal(resp.status, 500); /* passed on unchanged: consortd's error */
    assert_non_null(strstr(cst_error_message(&(cst_call){.resp = resp}, "InternalError"),
                           "CONSORT_APP_READ_MAX"));
    cs_app_response_cleanup(&resp);
    cs_kv_tx_free(tx);
    cs_free(value);
    cs_kv_store_free(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scan_order_start_limit_and_own_writes),
        cmocka_unit_test(paging_visits_every_key_once),
        cmocka_unit_test(a_scan_conflicts_with_any_write_to_its_map),
        cmocka_unit_test(a_scan_is_capped_like_gets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
