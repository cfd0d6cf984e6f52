/*
 * The logging sample as an application (samples/logging/logging.c over
 * include/consort/app.h): its endpoints over a real KV store (records,
 * errors, paged lists), and the application's life around them: the state
 * it keeps per application, consort_app_fini run exactly once after the
 * last handler (for a module, and for an application without one), no fini
 * after a failed init, fini optional.
 */
#include "app_fixture.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

static void logging_sample_runs_over_the_store(void **state)
{
    (void)state;
    consort_app *app;
    cst_ok(cs_app_load(cst_logging_module(), &app));
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    const uint8_t caller[32] = {1, 2, 3};
    cst_call c;

    /* a private record: committed, its write in the private write set */
    cst_run(store, cst_must_find(app, "POST", "/app/log/private"), "",
            "{\"id\": 7, \"msg\": \"hello\"}", caller, true, &c);
    cst_ok(c.rc);
    assert_int_equal(c.resp.status, 200);
    assert_true(c.out.commit);
    assert_int_equal(c.seqno, 1);
    assert_non_null(memmem(c.priv.ptr, c.priv.len, "records", 7));
    assert_non_null(memmem(c.priv.ptr, c.priv.len, "hello", 5));
    assert_int_equal(c.pub.len, 1); /* the empty write set, 0xa0 (docs/kv.md) */
    assert_int_equal(c.pub.ptr[0], 0xa0);
    cst_call_cleanup(&c);

    /* a public record lands in the public write set */
    cst_run(store, cst_must_find(app, "POST", "/app/log/public"), "",
            "{\"id\": 7, \"msg\": \"open\"}", caller, true, &c);
    cst_ok(c.rc);
    assert_int_equal(c.seqno, 2);
    assert_non_null(memmem(c.pub.ptr, c.pub.len, "public:records", 14));
    assert_non_null(memmem(c.pub.ptr, c.pub.len, "open", 4));
    cst_call_cleanup(&c);

    /* read back, read-only */
    cst_run(store, cst_must_find(app, "GET", "/app/log/private"), "id=7", NULL, caller, false, &c);
    cst_ok(c.rc);
    assert_int_equal(c.resp.status, 200);
    assert_string_equal(cst_body(&c), "{\"msg\":\"hello\"}");
    assert_string_equal(c.resp.content_type, "application/json");
    assert_false(c.out.commit);
    cst_call_cleanup(&c);
    cst_run(store, cst_must_find(app, "GET", "/app/log/public"), "id=7", NULL, caller, false, &c);
    assert_string_equal(cst_body(&c), "{\"msg\":\"open\"}");
    cst_call_cleanup(&c);

    /* unknown id: 404; no id or a bad one: 400 */
    cst_run(store, cst_must_find(app, "GET", "/app/log/private"), "id=8", NULL, caller, false, &c);
    assert_int_equal(c.resp.status, 404);
    /* consort_fail(CONSORT_E_NOT_FOUND, ...): the code's name, the sample's message */
    assert_string_equal(cst_error_message(&c, "NOT_FOUND"), "no record with id 8");
    cst_call_cleanup(&c);
    cst_run(store, cst_must_find(app, "GET", "/app/log/private"), "", NULL, caller, false, &c);
    assert_int_equal(c.resp.status, 400);
    (void)cst_error_message(&c, "InvalidInput");
    cst_call_cleanup(&c);
    cst_run(store, cst_must_find(app, "GET", "/app/log/private"), "id=-1", NULL, caller, false, &c);
    assert_int_equal(c.resp.status, 400);
    cst_call_cleanup(&c);

    /* bad bodies: 400 and nothing committed */
    static const char *const bad[] = {"",
                                      "{",
                                      "[]",
                                      "{\"id\": 1}",
                                      "{\"id\": \"1\", \"msg\": \"x\"}",
                                      "{\"id\": 1, \"msg\": 2}",
                                      "{\"id\": 1, \"msg\": \"x\", \"z\": 0}"};
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        cst_run(store, cst_must_find(app, "POST", "/app/log/private"), "", bad[i], caller, true,
                &c);
        cst_ok(c.rc);
        assert_int_equal(c.resp.status, 400);
        assert_false(c.out.commit);
        assert_int_equal(c.seqno, 0);
        cst_call_cleanup(&c);
    }
    assert_int_equal(cs_kv_last_seqno(store), 2);

    /* a write endpoint run read-only (a misrouted request) cannot write */
    cst_run(store, cst_must_find(app, "POST", "/app/log/private"), "",
            "{\"id\": 9, \"msg\": \"no\"}", caller, false, &c);
    cst_fails(c.rc, CONSORT_E_STATE);
    assert_int_equal(c.resp.status, 500);
    assert_non_null(strstr(cst_error_message(&c, "InternalError"), "read-only"));
    assert_false(c.out.commit);
    cst_call_cleanup(&c);

    cs_kv_store_free(store);
    cs_app_free(app);
}

/* The ids of a list page (at most `max`) and its "next" (-1 if none). */
static size_t page_ids(const cst_call *c, uint64_t *ids, size_t max, long long *next)
{
    assert_int_equal(c->resp.status, 200);
    json_error_t err;
    json_t *doc = json_loadb((const char *)c->resp.body.ptr, c->resp.body.len, 0, &err);
    if (doc == NULL)
        fail_msg("list page is not JSON: %s (%s)", err.text, cst_body(c));
    json_t *recs = json_object_get(doc, "records");
    assert_true(json_is_array(recs));
    json_t *jn = json_object_get(doc, "next");
    *next = jn != NULL ? (long long)json_integer_value(jn) : -1;
    assert_int_equal(json_object_size(doc), jn != NULL ? 2 : 1);
    size_t n = json_array_size(recs);
    assert_true(n <= max);
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(recs, i);
        ids[i] = (uint64_t)json_integer_value(json_object_get(r, "id"));
        char want[32];
        snprintf(want, sizeof want, "m%llu", (unsigned long long)ids[i]);
        assert_string_equal(json_string_value(json_object_get(r, "msg")), want);
    }
    json_decref(doc);
    return n;
}

static void logging_sample_pages_through_records(void **state)
{
    (void)state;
    consort_app *app;
    cst_ok(cs_app_load(cst_logging_module(), &app));
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    const uint8_t caller[32] = {4};
    cst_call c;
    /* private records 0, 3, ..., 72 (25 of them); public ones 1 and 2 */
    for (unsigned id = 0; id <= 72; id++) {
        if (id % 3 != 0 && id > 2)
            continue;
        char body[64];
        snprintf(body, sizeof body, "{\"id\": %u, \"msg\": \"m%u\"}", id, id);
        const char *path = id % 3 == 0 ? "/app/log/private" : "/app/log/public";
        cst_run(store, cst_must_find(app, "POST", path), "", body, caller, true, &c);
        cst_ok(c.rc);
        cst_call_cleanup(&c);
    }
    const cs_app_endpoint *list = cst_must_find(app, "GET", "/app/log/private/list");
    uint64_t ids[128];
    long long next;
    /* pages of 10: every record once, in id order, "next" until the last page */
    char query[64] = "limit=10";
    size_t seen = 0;
    for (int page = 0; page < 3; page++) {
        cst_run(store, list, query, NULL, caller, false, &c);
        size_t n = page_ids(&c, ids, 10, &next);
        assert_int_equal(n, page < 2 ? 10 : 5);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(ids[i], 3 * (seen + i));
        seen += n;
        assert_int_equal(next, page < 2 ? (long long)(3 * seen) : -1);
        assert_false(c.out.commit);
        cst_call_cleanup(&c);
        snprintf(query, sizeof query, "start=%lld&limit=10", next);
    }
    assert_int_equal(seen, 25);
    /* start is inclusive, and need not be an id that exists */
    cst_run(store, list, "start=31&limit=2", NULL, caller, false, &c);
    assert_int_equal(page_ids(&c, ids, 2, &next), 2);
    assert_int_equal(ids[0], 33);
    assert_int_equal(next, 39);
    cst_call_cleanup(&c);
    /* the defaults: from 0, 20 records */
    cst_run(store, list, "", NULL, caller, false, &c);
    assert_int_equal(page_ids(&c, ids, 20, &next), 20);
    assert_int_equal(next, 60);
    cst_call_cleanup(&c);
    /* past the end: no records, no next */
    cst_run(store, list, "start=73", NULL, caller, false, &c);
    assert_int_equal(page_ids(&c, ids, 1, &next), 0);
    assert_int_equal(next, -1);
    cst_call_cleanup(&c);
    /* the public map holds only public records */
    cst_run(store, cst_must_find(app, "GET", "/app/log/public/list"), "limit=100", NULL, caller,
            false, &c);
    assert_int_equal(page_ids(&c, ids, 100, &next), 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 2);
    cst_call_cleanup(&c);
    /* bad parameters: 400 */
    static const char *const bad[] = {"limit=0", "limit=101", "limit=x", "start=-1", "start=1x"};
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        cst_run(store, list, bad[i], NULL, caller, false, &c);
        assert_int_equal(c.resp.status, 400);
        (void)cst_error_message(&c, "InvalidInput");
        cst_call_cleanup(&c);
    }
    cs_kv_store_free(store);
    cs_app_free(app);
}

/* Ids are uint64 (the sample's header, docs/http-api.md): ids from 2^63 to
 * 2^64 - 1 are written, read and listed like any other; 2^64, negative and
 * non-integer ids are refused (issue 11: they were readable, not writable,
 * and listed as negative numbers). */
static void logging_sample_takes_every_uint64_id(void **state)
{
    (void)state;
    consort_app *app;
    cst_ok(cs_app_load(cst_logging_module(), &app));
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    const uint8_t caller[32] = {1, 2, 3};
    cst_call c;
    const cs_app_endpoint *post = cst_must_find(app, "POST", "/app/log/private");
    static const char *const ids[] = {"9223372036854775807", "9223372036854775808",
                                      "18446744073709551615"};
    for (size_t i = 0; i < CS_ARRAY_LEN(ids); i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"msg\": \"m%s\", \"id\": %s}", ids[i], ids[i]);
        cst_run(store, post, "", body, caller, true, &c);
        cst_ok(c.rc);
        assert_int_equal(c.resp.status, 200);
        assert_true(c.out.commit);
        cst_call_cleanup(&c);
        char query[48], want[64];
        snprintf(query, sizeof query, "id=%s", ids[i]);
        cst_run(store, cst_must_find(app, "GET", "/app/log/private"), query, NULL, caller, false,
                &c);
        assert_int_equal(c.resp.status, 200);
        snprintf(want, sizeof want, "{\"msg\":\"m%s\"}", ids[i]);
        assert_string_equal(cst_body(&c), want);
        cst_call_cleanup(&c);
    }
    /* listed with their exact value, in order; "next" too */
    const cs_app_endpoint *list = cst_must_find(app, "GET", "/app/log/private/list");
    cst_run(store, list, "start=9223372036854775807&limit=2", NULL, caller, false, &c);
    assert_int_equal(c.resp.status, 200);
    assert_string_equal(
        cst_body(&c), "{\"records\":[{\"id\":9223372036854775807,\"msg\":\"m9223372036854775807\"},"
                      "{\"id\":9223372036854775808,\"msg\":\"m9223372036854775808\"}],"
                      "\"next\":18446744073709551615}");
    cst_call_cleanup(&c);
    cst_run(store, list, "start=18446744073709551615", NULL, caller, false, &c);
    assert_string_equal(
        cst_body(&c),
        "{\"records\":[{\"id\":18446744073709551615,\"msg\":\"m18446744073709551615\"}]}");
    cst_call_cleanup(&c);
    /* not a uint64: 400, nothing written */
    static const char *const bad[] = {"{\"id\": 18446744073709551616, \"msg\": \"x\"}",
                                      "{\"id\": -1, \"msg\": \"x\"}",
                                      "{\"id\": 1.0, \"msg\": \"x\"}",
                                      "{\"id\": 1e3, \"msg\": \"x\"}",
                                      "{\"id\": 99999999999999999999999, \"msg\": \"x\"}",
                                      "{\"id\": 01, \"msg\": \"x\"}",
                                      "{\"msg\": \"x\", \"id\": 1, \"id\": 2}"};
    uint64_t last = cs_kv_last_seqno(store);
    for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
        cst_run(store, post, "", bad[i], caller, true, &c);
        cst_ok(c.rc);
        if (c.resp.status != 400)
            fail_msg("%s answered %d: %s", bad[i], c.resp.status, cst_body(&c));
        (void)cst_error_message(&c, "InvalidInput");
        cst_call_cleanup(&c);
    }
    assert_int_equal(cs_kv_last_seqno(store), last);
    cs_kv_store_free(store);
    cs_app_free(app);
}

/* ---- the application's state and consort_app_fini ---- */

static int handler_runs, fini_runs, handler_runs_at_fini;
static void *state_at_fini;
static pthread_t fini_thread;

static consort_err counting(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)rq;
    (void)tx;
    (void)ctx;
    assert_int_equal(fini_runs, 0); /* never a handler after fini */
    handler_runs++;
    consort_response_set_status(rs, 204);
    return CONSORT_OK;
}

static void counting_fini(consort_app *app)
{
    fini_runs++;
    handler_runs_at_fini = handler_runs;
    state_at_fini = consort_app_state(app);
    fini_thread = pthread_self();
    /* registration is over */
    assert_int_equal(consort_app_endpoint(app, "GET", "/app/late", counting, CONSORT_AUTH_NONE,
                                          CONSORT_READ_ONLY, NULL),
                     CONSORT_E_STATE);
}

static void fini_runs_once_after_the_last_handler(void **state)
{
    (void)state;
    handler_runs = fini_runs = 0;
    consort_app *app;
    cst_ok(cs_app_new(&app));
    assert_null(consort_app_state(app)); /* NULL until set */
    cst_ok(consort_app_endpoint(app, "GET", "/app/c", counting, CONSORT_AUTH_NONE,
                                CONSORT_READ_ONLY, NULL));
    int mine;
    consort_app_set_state(app, &mine);
    assert_ptr_equal(consort_app_state(app), &mine);
    assert_null(cs_app_set_fini(app, counting_fini));
    cs_app_seal(app);
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    bool known;
    const cs_app_endpoint *ep = cs_app_find(app, "GET", "/app/c", &known, NULL, 0);
    for (int i = 0; i < 3; i++) {
        cst_call c;
        cst_run(store, ep, "", NULL, NULL, false, &c);
        cst_ok(c.rc);
        cst_call_cleanup(&c);
    }
    assert_int_equal(fini_runs, 0); /* not before the application goes */
    cs_app_free(app);
    assert_int_equal(fini_runs, 1);
    assert_int_equal(handler_runs_at_fini, 3);
    assert_ptr_equal(state_at_fini, &mine);                  /* still readable in fini */
    assert_true(pthread_equal(fini_thread, pthread_self())); /* the unloading thread */
    /* without a fini, and NULL: nothing runs */
    cst_ok(cs_app_new(&app));
    cs_app_free(app);
    cs_app_free(NULL);
    assert_int_equal(fini_runs, 1);
    assert_null(consort_app_state(NULL));
    consort_app_set_state(NULL, &mine);
    cs_kv_store_free(store);
}

static cs_app_fini_fn module_fini;
static int wrapped_runs;
static void *wrapped_state;

/* Wraps the module's consort_app_fini to see it run, then runs it. */
static void wrapped_fini(consort_app *app)
{
    wrapped_runs++;
    wrapped_state = consort_app_state(app);
    module_fini(app);
}

static void the_module_fini_runs_at_unload(void **state)
{
    (void)state;
    wrapped_runs = 0;
    /* the same bytes for two applications: one loaded object, one state each */
    consort_app *a = NULL, *b = NULL;
    cst_ok(cs_app_load(cst_logging_module(), &a));
    cst_ok(cs_app_load(cst_logging_module(), &b));
    void *sa = consort_app_state(a), *sb = consort_app_state(b);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_ptr_not_equal(sa, sb);
    /* what the loader installed is the module's exported consort_app_fini */
    module_fini = cs_app_set_fini(a, wrapped_fini);
    assert_non_null(module_fini);
    char name[64];
    cst_memfd_module_name(name);
    void *dl = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(dl);
    void *sym = dlsym(dl, "consort_app_fini");
    dlclose(dl);
    assert_non_null(sym);
    assert_memory_equal(&sym, &module_fini, sizeof sym);
    assert_ptr_equal(cs_app_set_fini(b, wrapped_fini), module_fini);

    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    const uint8_t caller[32] = {5};
    cst_call c;
    cst_run(store, cst_must_find(a, "POST", "/app/log/private"), "", "{\"id\": 1, \"msg\": \"a\"}",
            caller, true, &c);
    cst_ok(c.rc);
    cst_call_cleanup(&c);
    cs_app_free(a);
    assert_int_equal(wrapped_runs, 1);
    assert_ptr_equal(wrapped_state, sa);
    /* the other application's state is its own: it still serves */
    cst_run(store, cst_must_find(b, "GET", "/app/log/private"), "id=1", NULL, caller, false, &c);
    assert_string_equal(cst_body(&c), "{\"msg\":\"a\"}");
    cst_call_cleanup(&c);
    cs_app_free(b);
    assert_int_equal(wrapped_runs, 2);
    assert_ptr_equal(wrapped_state, sb);
    cs_kv_store_free(store);
}

static void fini_is_optional(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/nofini.so", cst_tmpdir());
    cst_module_without(path, "consort_app_fini");
    consort_app *app = NULL;
    cst_ok(cs_app_load(path, &app));
    assert_null(cs_app_set_fini(app, NULL));
    /* without its fini, the sample's state is ours to free */
    free(consort_app_state(app));
    cs_app_free(app);
}

static void a_failing_init_loads_nothing_and_gets_no_fini(void **state)
{
    (void)state;
    /* the sample with one endpoint on a reserved path: its init fails, after
     * setting its state and freeing it (a fini now would free it twice: ASan) */
    char path[128];
    snprintf(path, sizeof path, "%s/reserved.so", cst_tmpdir());
    cst_module_with_string(path, "/app/log/public/list", CS_APP_RECEIPT_PATH);
    consort_app *app = NULL;
    cst_fails(cs_app_load(path, &app), CONSORT_E_INVALID_ARGUMENT);
    assert_null(app);
    const char *m = consort_errmsg();
    assert_non_null(strstr(m, "consort_app_init failed (INVALID_ARGUMENT)"));
    assert_non_null(strstr(m, "GET /app/receipt: the path is reserved"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(logging_sample_runs_over_the_store),
        cmocka_unit_test(logging_sample_pages_through_records),
        cmocka_unit_test(logging_sample_takes_every_uint64_id),
        cmocka_unit_test(fini_runs_once_after_the_last_handler),
        cmocka_unit_test(the_module_fini_runs_at_unload),
        cmocka_unit_test(fini_is_optional),
        cmocka_unit_test(a_failing_init_loads_nothing_and_gets_no_fini),
    };
    return cmocka_run_group_tests(tests, cst_tmpdir_make, cst_tmpdir_remove);
}
