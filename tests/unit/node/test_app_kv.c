/*
 * The lifetimes and the transaction rules of include/consort/app.h, run
 * through cs_app_invoke as consortd runs handlers (and under ASan, where a
 * broken promise is a use-after-free report):
 *
 *   - a value from consort_kv_get stays valid until the handler returns,
 *     whatever it writes afterwards (the same key included);
 *   - the copies are bounded per invocation (CONSORT_APP_READ_MAX, then
 *     TOO_LARGE), and a re-run after a conflict starts with a fresh arena
 *     and a fresh response;
 *   - (consort_kv_scan: test_app_scan.c);
 *   - request accessors stay valid for the whole invocation;
 *   - a read-only handler cannot write (STATE).
 */
#include "app_kv_fixture.h"

/* ---- consort_kv_get: copies that outlive the handler's writes ---- */

#define LONG_OLD "the committed value, long enough that ASan sees any byte of it freed"
#define LONG_OWN "the transaction's own first write, also long enough to be noticed"

static consort_err get_put_get(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)rq;
    (void)ctx;
    const uint8_t *old, *own;
    size_t old_len, own_len;
    CS_TRY(consort_kv_get(tx, "m", "k", 1, &old, &old_len));
    CS_TRY(consort_kv_put(tx, "m", "k", 1, LONG_OWN, strlen(LONG_OWN)));
    CS_TRY(consort_kv_get(tx, "m", "k", 1, &own, &own_len));
    /* the record `own` was read from is freed by this write (kv.h) */
    CS_TRY(consort_kv_put(tx, "m", "k", 1, "newer", 5));
    CS_TRY(consort_kv_remove(tx, "m", "k", 1));
    CS_TRY(consort_kv_put(tx, "m", "k", 1, "newest", 6));
    /* both still read as they were */
    assert_true(bytes_are(old, old_len, LONG_OLD));
    assert_true(bytes_are(own, own_len, LONG_OWN));
    /* and can be sent: the response copies them */
    char body[256];
    int n = snprintf(body, sizeof body, "%.*s|%.*s", (int)old_len, (const char *)old, (int)own_len,
                     (const char *)own);
    return consort_response_set_body(rs, body, (size_t)n, "text/plain");
}

static void a_value_outlives_writes_of_its_key(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    put_committed(store, "m", "k", LONG_OLD);
    cst_call c;
    run(store, get_put_get, NULL, true, &c);
    cst_ok(c.rc);
    assert_string_equal(cst_body(&c), LONG_OLD "|" LONG_OWN);
    assert_true(c.out.commit);
    cst_call_cleanup(&c);
    cs_kv_store_free(store);
}

/* ---- the per-invocation cap, and re-runs ---- */

typedef struct big_reads {
    size_t ok;             /* 1 MiB gets that succeeded */
    consort_err last;      /* the first failure */
    size_t arena_at_entry; /* bytes the arena held when the handler started */
    int status_at_entry;
    size_t body_at_entry, headers_at_entry;
    int runs;
} big_reads;

/* Reads a 1 MiB value until the cap refuses, checks the copies, then sets a
 * response the next run must not see. */
static consort_err read_until_refused(consort_request *rq, consort_tx *tx, consort_response *rs,
                                      void *ctx)
{
    (void)rq;
    big_reads *b = ctx;
    b->runs++;
    b->arena_at_entry = tx->arena.used;
    b->status_at_entry = rs->status;
    b->body_at_entry = rs->body.len;
    b->headers_at_entry = rs->header_count;
    b->ok = 0;
    const uint8_t *first = NULL, *v = NULL;
    size_t n;
    consort_err rc;
    while ((rc = consort_kv_get(tx, "big", "v", 1, &v, &n)) == CONSORT_OK) {
        assert_int_equal(n, MIB);
        assert_true(b->ok <= CONSORT_APP_READ_MAX / MIB); /* bounded */
        if (first == NULL)
            first = v;
        b->ok++;
    }
    b->last = rc;
    /* what was handed out before the refusal is intact */
    assert_non_null(first);
    assert_true(first[0] == 'x' && first[MIB - 1] == 'y' && v[MIB - 1] == 'y');
    /* small reads are refused too once the cap is reached; an empty one is free */
    cst_fails(consort_kv_get(tx, "big", "small", 5, &v, &n), CONSORT_E_TOO_LARGE);
    cst_ok(consort_kv_get(tx, "big", "empty", 5, &v, &n));
    assert_int_equal(n, 0);
    assert_non_null(v);
    CS_TRY(consort_response_set_header(rs, "X-Run", "1"));
    CS_TRY(consort_response_set_body(rs, "run", 3, NULL));
    consort_response_set_status(rs, 201);
    return CONSORT_OK;
}

static void reads_are_capped_per_invocation(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    uint8_t *value = cs_malloc(MIB);
    assert_non_null(value);
    memset(value, 'x', MIB);
    value[MIB - 1] = 'y';
    cs_kv_tx *kv;
    cst_ok(cs_kv_tx_begin(store, &kv));
    cst_ok(cs_kv_put(kv, CS_SLICE_LIT("big"), CS_SLICE_LIT("v"), CS_SLICE(value, MIB)));
    cst_ok(cs_kv_put(kv, CS_SLICE_LIT("big"), CS_SLICE_LIT("small"), CS_SLICE_LIT("s")));
    cst_ok(cs_kv_put(kv, CS_SLICE_LIT("big"), CS_SLICE_LIT("empty"), CS_SLICE_EMPTY));
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init_secret(&priv, 0);
    cst_ok(cs_kv_tx_commit(kv, 1, &pub, &priv));
    cs_kv_tx_free(kv);

    /* as rpc runs a write: one request and one response, the handler run
     * again on a new transaction after a conflict */
    consort_request req;
    cs_app_request_init(&req, "POST", "/app/t", "", NULL, 0, CS_SLICE_EMPTY, NULL);
    consort_response resp;
    cs_app_response_init(&resp);
    big_reads b = {0};
    cs_app_endpoint ep = {
        .method = "POST", .path = "/app/t", .handler = read_until_refused, .ctx = &b};
    for (int run_no = 0; run_no < 2; run_no++) {
        cst_ok(cs_kv_tx_begin(store, &kv));
        cs_tx_outcome out;
        cst_ok(cs_app_invoke(&ep, &req, kv, true, &resp, &out));
        cs_kv_tx_free(kv);
        /* exactly CONSORT_APP_READ_MAX bytes, then TOO_LARGE */
        assert_int_equal(b.ok, CONSORT_APP_READ_MAX / MIB);
        assert_int_equal(b.last, CONSORT_E_TOO_LARGE);
        /* every run starts with an empty arena and a fresh response */
        assert_int_equal(b.arena_at_entry, 0);
        assert_int_equal(b.status_at_entry, 200);
        assert_int_equal(b.body_at_entry, 0);
        assert_int_equal(b.headers_at_entry, 0);
        assert_int_equal(resp.status, 201);
        assert_int_equal(resp.header_count, 1);
    }
    assert_int_equal(b.runs, 2);
    cs_app_response_cleanup(&resp);
    cs_free(value);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_kv_store_free(store);
}

static void the_arena(void **state)
{
    (void)state;
    cs_app_arena a;
    cs_app_arena_init(&a, 100000);
    const uint8_t *p[64];
    static uint8_t big[60000];
    uint8_t small[100];
    memset(big, 'B', sizeof big);
    memset(small, 's', sizeof small);
    /* small copies share chunks, big ones get their own; all stay put */
    for (size_t i = 0; i < 64; i++) {
        cs_slice s = i % 8 == 7 ? CS_SLICE(big, 5000 + i) : CS_SLICE(small, i);
        cst_ok(cs_app_arena_copy(&a, s, &p[i]));
        assert_non_null(p[i]);
    }
    for (size_t i = 0; i < 64; i++) {
        if (i % 8 == 7)
            assert_memory_equal(p[i], big, 5000 + i);
        else if (i > 0)
            assert_memory_equal(p[i], small, i);
    }
    /* the cap: the arena is unchanged by a refusal */
    size_t used = a.used;
    /* 8 big ones (5000 + 7, ..., 5000 + 63: 40280) and the small ones (0..63 but
     * those: 2016 - 280): the bytes copied, nothing else */
    assert_int_equal(used, 40280 + 1736);
    cst_fails(cs_app_arena_copy(&a, CS_SLICE(big, 100000 - used + 1), &p[0]), CONSORT_E_TOO_LARGE);
    assert_int_equal(a.used, used);
    cst_ok(cs_app_arena_copy(&a, CS_SLICE(big, 100000 - used), &p[0])); /* exactly full */
    cst_ok(cs_app_arena_copy(&a, CS_SLICE_EMPTY, &p[1]));               /* empty is free */
    assert_non_null(p[1]);
    cs_app_arena_cleanup(&a);
    assert_int_equal(a.used, 0);
    assert_null(a.chunks);
    cs_app_arena_cleanup(&a); /* twice is fine */

    /* every allocation failure: NOMEM, unchanged, nothing leaked */
    cst_alloc_install();
    long live = cst_alloc_live();
    int failures = 0;
    for (long n = 0; n < 16; n++) {
        cs_app_arena_init(&a, 1 << 20);
        cst_alloc_fail_after(n);
        consort_err rc = CONSORT_OK;
        for (size_t i = 0; i < 8 && rc == CONSORT_OK; i++)
            rc = cs_app_arena_copy(&a, i % 2 ? CS_SLICE(big, 20000) : CS_SLICE(small, 99), &p[i]);
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (failed) {
            cst_fails(rc, CONSORT_E_NOMEM);
            failures++;
        } else {
            cst_ok(rc);
        }
        cs_app_arena_cleanup(&a);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed)
            break;
    }
    cst_alloc_uninstall();
    assert_int_equal(failures, 5); /* one shared chunk, four own chunks */
}

/* ---- request accessors, read-only handlers ---- */

static consort_err accessors_live(consort_request *rq, consort_tx *tx, consort_response *rs,
                                  void *ctx)
{
    int *runs = ctx;
    (*runs)++;
    const char *method = consort_request_method(rq);
    const char *path = consort_request_path(rq);
    size_t body_len;
    const uint8_t *body = consort_request_body(rq, &body_len);
    const char *header = consort_request_header(rq, "x-test");
    const char *caller = consort_request_caller(rq);
    /* everything a handler may do in between */
    for (int i = 0; i < 50; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "k%d", i);
        CS_TRY(consort_kv_put(tx, "m", key, (size_t)n, method, strlen(method)));
        const uint8_t *v;
        size_t vlen;
        CS_TRY(consort_kv_get(tx, "m", key, (size_t)n, &v, &vlen));
        CS_TRY(consort_kv_remove(tx, "m", key, (size_t)n));
    }
    char q[8];
    CS_TRY(consort_request_query(rq, "q", q, sizeof q));
    CS_TRY(consort_response_set_header(rs, "X-A", "1"));
    CS_TRY(consort_response_set_body(rs, body, body_len, "text/plain"));
    CS_TRY(consort_response_error(rs, 409, "Conflict", "x"));
    (void)consort_fail(CONSORT_E_POLICY, "not returned");
    /* still what they were (read here: instrumented) */
    assert_true(bytes_are((const uint8_t *)method, strlen(method), "POST"));
    assert_true(bytes_are((const uint8_t *)path, strlen(path), "/app/t"));
    assert_true(bytes_are(body, body_len, "the body"));
    assert_true(bytes_are((const uint8_t *)header, strlen(header), "yes"));
    assert_int_equal(strlen(caller), 64);
    assert_true(bytes_are((const uint8_t *)caller, 8, "01000000"));
    assert_string_equal(q, "1");
    consort_response_set_status(rs, 200);
    return CONSORT_OK;
}

static void request_accessors_live_until_return(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    int runs = 0;
    cs_app_endpoint ep = {
        .method = "POST", .path = "/app/t", .handler = accessors_live, .ctx = &runs};
    const uint8_t caller[32] = {1};
    cst_call c;
    cst_run(store, &ep, "q=1", "the body", caller, true, &c);
    cst_ok(c.rc);
    assert_int_equal(c.resp.status, 200);
    cst_call_cleanup(&c);
    assert_int_equal(runs, 1);
    cs_kv_store_free(store);
}

typedef struct tries {
    consort_err put, remove, claims;
    bool pass_on; /* return the refusal instead of 200 */
} tries;

static consort_err tries_to_write(consort_request *rq, consort_tx *tx, consort_response *rs,
                                  void *ctx)
{
    (void)rq;
    tries *t = ctx;
    const uint8_t d[32] = {1};
    t->put = consort_kv_put(tx, "m", "k", 1, "v", 1);
    t->remove = consort_kv_remove(tx, "m", "k", 1);
    t->claims = consort_tx_set_claims_digest(tx, d);
    scan_log l;
    CS_TRY(consort_kv_scan(tx, "m", NULL, 0, 0, log_visit, &l)); /* reads are fine */
    if (t->pass_on)
        return t->put;
    consort_response_set_status(rs, 200);
    return CONSORT_OK;
}

static void read_only_handlers_cannot_write(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    tries t = {0};
    cst_call c;
    run(store, tries_to_write, &t, false, &c);
    cst_ok(c.rc);
    cst_fails(t.put, CONSORT_E_STATE);
    cst_fails(t.remove, CONSORT_E_STATE);
    cst_fails(t.claims, CONSORT_E_STATE);
    assert_int_equal(c.resp.status, 200);
    assert_false(c.out.commit);
    assert_false(c.out.has_claims);
    cst_call_cleanup(&c);
    /* passing the refusal on: consortd's 500, nothing written */
    t = (tries){.pass_on = true};
    run(store, tries_to_write, &t, false, &c);
    cst_fails(c.rc, CONSORT_E_STATE);
    assert_int_equal(c.resp.status, 500);
    assert_non_null(strstr(cst_error_message(&c, "InternalError"), "read-only"));
    cst_call_cleanup(&c);
    assert_int_equal(cs_kv_last_seqno(store), 0);
    cs_kv_store_free(store);
}

static void reads_survive_allocation_failures(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    put_committed(store, "s", "a", "1");
    put_committed(store, "s", "b", "2");
    cst_alloc_install();
    long live = cst_alloc_live();
    int failures = 0;
    for (long n = 0; n < 64; n++) {
        cs_kv_tx *kv;
        cst_ok(cs_kv_tx_begin(store, &kv));
        cs_tx_outcome out = {0};
        consort_tx tx;
        cs_app_tx_init(&tx, kv, false, &out);
        cst_alloc_fail_after(n);
        const uint8_t *v;
        size_t vlen;
        scan_log l;
        consort_err rc = consort_kv_get(&tx, "s", "a", 1, &v, &vlen);
        if (rc == CONSORT_OK)
            rc = scan(&tx, NULL, 0, 0, &l);
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (failed) {
            cst_fails(rc, CONSORT_E_NOMEM);
            failures++;
        } else {
            cst_ok(rc);
            assert_string_equal(seen(&l), "a=1,b=2");
        }
        cs_app_tx_cleanup(&tx);
        cs_kv_tx_free(kv);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed)
            break;
    }
    cst_alloc_uninstall();
    assert_true(failures >= 3);
    cs_kv_store_free(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_value_outlives_writes_of_its_key),
        cmocka_unit_test(reads_are_capped_per_invocation),
        cmocka_unit_test(the_arena),
        cmocka_unit_test(request_accessors_live_until_return),
        cmocka_unit_test(read_only_handlers_cannot_write),
        cmocka_unit_test(reads_survive_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
