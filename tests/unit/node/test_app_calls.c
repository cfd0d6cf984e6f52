/*
 * Outbound calls, the handler's side (app.h consort_call, app_calls.c):
 * declared egress (CONSORT_APP_EGRESS checked and copied), the refusal of
 * an undeclared service, a run that makes a new call discarded with its
 * writes (CONSORT_E_PENDING), the next run getting the recorded answer (a
 * call is made once per request, whatever the re-runs), a failed call's
 * error, and the limits.
 */
#include "app_fixture.h"

static const consort_egress DECLARED[] = {
    {"storage", NULL},
    {"audit", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"},
    {NULL, NULL},
};

static void egress_declarations(void **state)
{
    (void)state;
    consort_app *app;
    cst_ok(cs_app_new(&app));
    cst_ok(cs_app_set_egress(app, DECLARED));
    assert_int_equal(cs_app_egress_count(app), 2);
    const cs_app_egress *e = cs_app_egress_find(app, "audit");
    assert_non_null(e);
    assert_true(e->pinned);
    assert_int_equal(e->cert_sha256[1], 0x11);
    assert_false(cs_app_egress_find(app, "storage")->pinned);
    assert_null(cs_app_egress_find(app, "analytics"));

    /* refused whole: the list stays empty */
    const consort_egress bad_name[] = {{"storage", NULL}, {"Not Valid", NULL}, {NULL, NULL}};
    cst_fails(cs_app_set_egress(app, bad_name), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(cs_app_egress_count(app), 0);
    const consort_egress twice[] = {{"storage", NULL}, {"storage", NULL}, {NULL, NULL}};
    cst_fails(cs_app_set_egress(app, twice), CONSORT_E_INVALID_ARGUMENT);
    const consort_egress bad_pin[] = {{"storage", "abcd"}, {NULL, NULL}};
    cst_fails(cs_app_set_egress(app, bad_pin), CONSORT_E_INVALID_ARGUMENT);
    consort_egress many[CONSORT_APP_EGRESS_MAX + 2];
    char names[CONSORT_APP_EGRESS_MAX + 1][8];
    for (int i = 0; i <= CONSORT_APP_EGRESS_MAX; i++) {
        snprintf(names[i], sizeof names[i], "s%d", i);
        many[i] = (consort_egress){names[i], NULL};
    }
    many[CONSORT_APP_EGRESS_MAX + 1] = (consort_egress){NULL, NULL};
    cst_fails(cs_app_set_egress(app, many), CONSORT_E_TOO_LARGE);
    many[CONSORT_APP_EGRESS_MAX] = (consort_egress){NULL, NULL};
    cst_ok(cs_app_set_egress(app, many));
    assert_int_equal(cs_app_egress_count(app), CONSORT_APP_EGRESS_MAX);
    cst_ok(cs_app_set_egress(app, NULL)); /* none declared */
    assert_int_equal(cs_app_egress_count(app), 0);
    cs_app_free(app);
}

/* A handler that writes, then calls storage with `body`, and answers with
 * what storage said. */
typedef struct caller_script {
    const char *service;
    const char *body;
    int runs;
    consort_err call_rc; /* what consort_call returned in the last run */
    char message[256];
    bool ignore_pending; /* answers 200 even when the call is pending */
} caller_script;

static consort_err calling(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    caller_script *s = ctx;
    s->runs++;
    CS_TRY(consort_kv_put(tx, "m", "k", 1, "v", 1));
    const consort_call_response *r = NULL;
    s->call_rc = consort_call(rq, s->service, "POST", "/app/store", s->body, strlen(s->body), &r);
    snprintf(s->message, sizeof s->message, "%s", consort_errmsg());
    if (s->call_rc == CONSORT_E_PENDING && s->ignore_pending)
        return CONSORT_OK;
    if (s->call_rc != CONSORT_OK)
        return s->call_rc;
    consort_response_set_status(rs, r->status);
    return consort_response_set_body(rs, r->body, r->body_len, NULL);
}

typedef struct rig {
    consort_app *app;
    cs_kv_store *store;
    cs_app_calls calls;
    cs_app_endpoint ep;
} rig;

static void rig_init(rig *g, caller_script *s)
{
    cst_ok(cs_app_new(&g->app));
    cst_ok(cs_app_set_egress(g->app, DECLARED));
    cst_ok(cs_kv_store_new(NULL, &g->store));
    cs_app_calls_init(&g->calls, g->app);
    g->ep = (cs_app_endpoint){.method = "POST", .path = "/app/r", .handler = calling, .ctx = s};
}

static void rig_free(rig *g)
{
    cs_app_calls_cleanup(&g->calls);
    cs_kv_store_free(g->store);
    cs_app_free(g->app);
}

/* One run of the handler with the rig's call record. */
static consort_err run(rig *g, cs_tx_outcome *out, consort_response *resp)
{
    consort_request req;
    cs_app_request_init(&req, "POST", "/app/r", "", NULL, 0, CS_SLICE_EMPTY, NULL);
    req.calls = &g->calls;
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(g->store, &tx));
    consort_err rc = cs_app_invoke(&g->ep, &req, tx, true, resp, out);
    cs_kv_tx_free(tx);
    return rc;
}

static void a_call_spans_two_runs(void **state)
{
    (void)state;
    caller_script s = {.service = "storage", .body = "{\"id\": 1}"};
    rig g;
    rig_init(&g, &s);
    consort_response resp;
    cs_app_response_init(&resp);
    cs_tx_outcome out;

    /* run 1: the call is recorded, the run (its write included) discarded */
    cst_fails(run(&g, &out, &resp), CONSORT_E_PENDING);
    assert_int_equal(s.call_rc, CONSORT_E_PENDING);
    assert_false(out.commit);
    assert_int_equal(resp.status, 200); /* reset, not an error answer */
    assert_int_equal(resp.body.len, 0);
    assert_int_equal(g.calls.count, 1);
    assert_int_equal(cs_app_calls_pending(&g.calls), 1);
    cs_app_call *call = g.calls.items[0];
    assert_string_equal(call->service, "storage");
    assert_string_equal(call->method, "POST");
    assert_string_equal(call->path, "/app/store");
    assert_memory_equal(call->body.ptr, s.body, strlen(s.body));

    /* a run while it is still out: pending again, nothing new recorded */
    cst_fails(run(&g, &out, &resp), CONSORT_E_PENDING);
    assert_int_equal(g.calls.count, 1);

    /* answered: the next run gets it and commits */
    call->started = true;
    cs_app_call_answer(call, 201, CS_SLICE_LIT("{\"stored\": 1}"), CS_SLICE_EMPTY);
    assert_int_equal(cs_app_calls_pending(&g.calls), 0);
    cst_ok(run(&g, &out, &resp));
    cst_ok(s.call_rc);
    assert_true(out.commit);
    assert_int_equal(resp.status, 201);
    assert_memory_equal(resp.body.ptr, "{\"stored\": 1}", 13);
    /* a re-run (a conflict) gets the same recorded answer: no second call */
    cst_ok(run(&g, &out, &resp));
    assert_int_equal(g.calls.count, 1);
    assert_int_equal(s.runs, 4);

    /* another body is another call */
    s.body = "{\"id\": 2}";
    cst_fails(run(&g, &out, &resp), CONSORT_E_PENDING);
    assert_int_equal(g.calls.count, 2);

    /* ignoring CONSORT_E_PENDING changes nothing: the run is discarded */
    s.body = "{\"id\": 3}";
    s.ignore_pending = true;
    cst_fails(run(&g, &out, &resp), CONSORT_E_PENDING);
    assert_false(out.commit);
    assert_int_equal(g.calls.count, 3);

    cs_app_response_cleanup(&resp);
    rig_free(&g);
}

static void a_failed_call_tells_the_handler(void **state)
{
    (void)state;
    caller_script s = {.service = "storage", .body = "{}"};
    rig g;
    rig_init(&g, &s);
    consort_response resp;
    cs_app_response_init(&resp);
    cs_tx_outcome out;
    cst_fails(run(&g, &out, &resp), CONSORT_E_PENDING);
    g.calls.items[0]->started = true;
    cs_app_call_fail(g.calls.items[0], CONSORT_E_TIMEOUT, "no answer within 10000 ms");
    /* the handler returns the call's error: its own failure, 503 */
    cst_fails(run(&g, &out, &resp), CONSORT_E_TIMEOUT);
    assert_int_equal(s.call_rc, CONSORT_E_TIMEOUT);
    assert_non_null(strstr(s.message, "no answer within 10000 ms"));
    assert_false(out.commit);
    assert_int_equal(resp.status, 503);
    cs_app_response_cleanup(&resp);
    rig_free(&g);
}

static void undeclared_egress_is_refused(void **state)
{
    (void)state;
    caller_script s = {.service = "analytics", .body = "{}"};
    rig g;
    rig_init(&g, &s);
    consort_response resp;
    cs_app_response_init(&resp);
    cs_tx_outcome out;
    cst_fails(run(&g, &out, &resp), CONSORT_E_POLICY);
    assert_int_equal(g.calls.count, 0); /* nothing recorded, nothing will be called */
    assert_non_null(strstr(s.message, "undeclared egress is refused"));
    assert_int_equal(resp.status, 403);
    /* an application without a module declares nothing */
    cs_app_calls_cleanup(&g.calls);
    cs_app_calls_init(&g.calls, NULL);
    s.service = "storage";
    cst_fails(run(&g, &out, &resp), CONSORT_E_POLICY);
    cs_app_response_cleanup(&resp);
    rig_free(&g);
}

static void limits_and_bad_arguments(void **state)
{
    (void)state;
    consort_app *app;
    cst_ok(cs_app_new(&app));
    cst_ok(cs_app_set_egress(app, DECLARED));
    cs_app_calls calls;
    cs_app_calls_init(&calls, app);
    consort_request req;
    cs_app_request_init(&req, "GET", "/app/x", "", NULL, 0, CS_SLICE_EMPTY, NULL);
    const consort_call_response *r = (const consort_call_response *)&req;
    /* outside a request that may call */
    cst_fails(consort_call(&req, "storage", "GET", "/a", NULL, 0, &r), CONSORT_E_STATE);
    assert_null(r);
    req.calls = &calls;
    cst_fails(consort_call(&req, "storage", "get", "/a", NULL, 0, &r), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_call(&req, "storage", "GET", "a", NULL, 0, &r), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_call(&req, "storage", "GET", "/a b", NULL, 0, &r),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_call(&req, "storage", "GET", "/a", NULL, 3, &r), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_call(&req, NULL, "GET", "/a", NULL, 0, &r), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_call(&req, "storage", "GET", "/a", NULL, 0, NULL),
              CONSORT_E_INVALID_ARGUMENT);
    static uint8_t big[CONSORT_CALL_BODY_MAX + 1];
    cst_fails(consort_call(&req, "storage", "POST", "/a", big, sizeof big, &r),
              CONSORT_E_TOO_LARGE);
    assert_int_equal(calls.count, 0);
    /* at most CONSORT_CALL_MAX distinct calls per request */
    for (int i = 0; i < CONSORT_CALL_MAX; i++) {
        char path[16];
        snprintf(path, sizeof path, "/a/%d", i);
        cst_fails(consort_call(&req, "storage", "GET", path, NULL, 0, &r), CONSORT_E_PENDING);
    }
    cst_fails(consort_call(&req, "storage", "GET", "/one-more", NULL, 0, &r), CONSORT_E_TOO_LARGE);
    assert_int_equal(calls.count, CONSORT_CALL_MAX);
    /* the same call again is not a new one */
    cst_fails(consort_call(&req, "storage", "GET", "/a/0", NULL, 0, &r), CONSORT_E_PENDING);
    assert_int_equal(cs_app_calls_pending(&calls), CONSORT_CALL_MAX);
    cs_app_calls_cleanup(&calls);
    cs_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(egress_declarations),
        cmocka_unit_test(a_call_spans_two_runs),
        cmocka_unit_test(a_failed_call_tells_the_handler),
        cmocka_unit_test(undeclared_egress_is_refused),
        cmocka_unit_test(limits_and_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
