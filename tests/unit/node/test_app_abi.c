/*
 * The application ABI as a handler sees it (include/consort/app.h): request
 * accessors, KV functions over a real store (read-your-writes, read-only
 * refusal, reserved maps, caps), claims digests, responses and JSON error
 * bodies, cs_app_invoke's rules for what commits, and the errors a handler
 * returns with consort_fail (the status each code maps to, consortd's own
 * errors kept apart). The copies, scans and re-runs are in test_app_kv.c.
 */
#include "app_fixture.h"

#include <pthread.h>

static const cs_http_header HEADERS[] = {{"Content-Type", "text/plain"}, {"X-Mixed-Case", "v1"}};

static void request_accessors(void **state)
{
    (void)state;
    const uint8_t fp[32] = {0xab, 0xcd, [31] = 0x01};
    consort_request req;
    cs_app_request_init(&req, "POST", "/app/x%20y", "a=1&b=x%20y&c=a+b&d=%00&e&f=%zz&g=toolonger",
                        HEADERS, 2, cs_slice_str("body!"), fp);
    assert_string_equal(consort_request_method(&req), "POST");
    assert_string_equal(consort_request_path(&req), "/app/x%20y");
    size_t len;
    const uint8_t *body = consort_request_body(&req, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(body, "body!", 5);
    /* header names are case-insensitive (RFC 9110 §5.1) */
    assert_string_equal(consort_request_header(&req, "x-mixed-case"), "v1");
    assert_string_equal(consort_request_header(&req, "CONTENT-TYPE"), "text/plain");
    assert_null(consort_request_header(&req, "x-absent"));
    assert_null(consort_request_header(&req, NULL));
    const char *caller = consort_request_caller(&req);
    assert_non_null(caller);
    assert_int_equal(strlen(caller), 64);
    assert_memory_equal(caller, "abcd0000", 8);
    assert_string_equal(caller + 62, "01");

    char out[8];
    cst_ok(consort_request_query(&req, "a", out, sizeof out));
    assert_string_equal(out, "1");
    cst_ok(consort_request_query(&req, "b", out, sizeof out));
    assert_string_equal(out, "x y");
    cst_ok(consort_request_query(&req, "c", out, sizeof out));
    assert_string_equal(out, "a b");
    cst_ok(consort_request_query(&req, "e", out, sizeof out)); /* present without a value */
    assert_string_equal(out, "");
    cst_fails(consort_request_query(&req, "z", out, sizeof out), CONSORT_E_NOT_FOUND);
    assert_string_equal(out, "");
    /* "toolonger" needs 10 bytes with its NUL; out holds "" after any failure */
    memcpy(out, "dirty", 6);
    cst_fails(consort_request_query(&req, "g", out, sizeof out), CONSORT_E_TOO_LARGE);
    assert_string_equal(out, "");
    char big[10];
    cst_fails(consort_request_query(&req, "g", big, sizeof big - 1), CONSORT_E_TOO_LARGE);
    cst_ok(consort_request_query(&req, "g", big, sizeof big));
    assert_string_equal(big, "toolonger");
    /* a NUL would cut the string short: refused, not truncated */
    memcpy(out, "dirty", 6);
    cst_fails(consort_request_query(&req, "d", out, sizeof out), CONSORT_E_MALFORMED);
    assert_string_equal(out, "");
    memcpy(out, "dirty", 6);
    cst_fails(consort_request_query(&req, "f", out, sizeof out), CONSORT_E_MALFORMED);
    assert_string_equal(out, "");
    cst_fails(consort_request_query(&req, "a", out, 0), CONSORT_E_INVALID_ARGUMENT);
    memcpy(out, "dirty", 6);
    cst_fails(consort_request_query(&req, NULL, out, sizeof out), CONSORT_E_INVALID_ARGUMENT);
    assert_string_equal(out, "");

    /* no body, no caller, no query */
    cs_app_request_init(&req, "GET", "/app/y", NULL, NULL, 0, CS_SLICE_EMPTY, NULL);
    body = consort_request_body(&req, &len);
    assert_int_equal(len, 0);
    assert_non_null(body); /* never NULL, so callers can pass it on */
    assert_null(consort_request_caller(&req));
    cst_fails(consort_request_query(&req, "a", out, sizeof out), CONSORT_E_NOT_FOUND);
}

static void kv_functions(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    cs_kv_tx *kv;
    cst_ok(cs_kv_tx_begin(store, &kv));
    cs_tx_outcome out = {0};
    consort_tx tx;
    cs_app_tx_init(&tx, kv, true, &out);
    const uint8_t *v;
    size_t vlen;
    cst_fails(consort_kv_get(&tx, "m", "k", 1, &v, &vlen), CONSORT_E_NOT_FOUND);
    /* key and value are copied: the caller's buffers may change at once */
    char key[2] = "k", value[6] = "value";
    cst_ok(consort_kv_put(&tx, "m", key, 1, value, 5));
    memcpy(value, "VALUE", 5);
    key[0] = 'x';
    cst_ok(consort_kv_get(&tx, "m", "k", 1, &v, &vlen)); /* read your writes */
    assert_int_equal(vlen, 5);
    assert_memory_equal(v, "value", 5);
    cst_ok(consort_kv_put(&tx, "m", "empty", 5, NULL, 0));
    cst_ok(consort_kv_get(&tx, "m", "empty", 5, &v, &vlen));
    assert_int_equal(vlen, 0);
    assert_non_null(v);
    cst_ok(consort_kv_remove(&tx, "m", "k", 1));
    cst_fails(consort_kv_get(&tx, "m", "k", 1, &v, &vlen), CONSORT_E_NOT_FOUND);
    cst_ok(consort_kv_put(&tx, "public:m", "", 0, "p", 1)); /* the empty key is a key */
    /* reserved maps: nothing under consort., no writes under public:consort. */
    cst_fails(consort_kv_put(&tx, "consort.secrets", "k", 1, "v", 1), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_kv_get(&tx, "consort.secrets", "k", 1, &v, &vlen),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_kv_put(&tx, "public:consort.users", "k", 1, "v", 1),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_kv_remove(&tx, "public:consort.users", "k", 1), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_kv_get(&tx, "public:consort.users", "k", 1, &v, &vlen),
              CONSORT_E_NOT_FOUND); /* readable: it is public anyway */
    /* the store's own checks come through */
    cst_fails(consort_kv_put(&tx, "", "k", 1, "v", 1), CONSORT_E_INVALID_ARGUMENT);
    static uint8_t big_key[CS_KV_KEY_MAX_DEFAULT + 1];
    cst_fails(consort_kv_put(&tx, "m", big_key, sizeof big_key, "v", 1), CONSORT_E_TOO_LARGE);
    cst_fails(consort_kv_get(&tx, "m", big_key, sizeof big_key, &v, &vlen), CONSORT_E_TOO_LARGE);
    cst_fails(consort_kv_get(&tx, "m", "k", 1, NULL, &vlen), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_kv_put(&tx, "m", "k", 1, NULL, 3), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_kv_put(&tx, NULL, "k", 1, "v", 1), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_kv_get(&tx, "m", NULL, 2, &v, &vlen), CONSORT_E_INVALID_ARGUMENT);
    /* claims */
    const uint8_t claims[32] = {9, 8, 7};
    cst_ok(consort_tx_set_claims_digest(&tx, claims));
    assert_true(out.has_claims);
    assert_memory_equal(out.claims_digest, claims, 32);
    cs_buf pub, priv;
    cs_buf_init(&pub, 0);
    cs_buf_init_secret(&priv, 0);
    cst_ok(cs_kv_tx_commit(kv, 1, &pub, &priv));
    assert_non_null(memmem(priv.ptr, priv.len, "empty", 5));
    assert_non_null(memmem(pub.ptr, pub.len, "public:m", 8));
    cs_app_tx_cleanup(&tx);
    cs_kv_tx_free(kv);

    /* read-only: reads work, writes and claims are refused */
    cst_ok(cs_kv_tx_begin(store, &kv));
    memset(&out, 0, sizeof out);
    cs_app_tx_init(&tx, kv, false, &out);
    cst_ok(consort_kv_get(&tx, "public:m", "", 0, &v, &vlen));
    assert_int_equal(vlen, 1);
    cst_fails(consort_kv_put(&tx, "m", "k", 1, "v", 1), CONSORT_E_STATE);
    cst_fails(consort_kv_remove(&tx, "m", "empty", 5), CONSORT_E_STATE);
    cst_fails(consort_tx_set_claims_digest(&tx, claims), CONSORT_E_STATE);
    assert_false(out.has_claims);
    assert_false(cs_kv_tx_has_writes(kv));
    cs_app_tx_cleanup(&tx);
    cs_kv_tx_free(kv);
    cs_buf_cleanup(&pub);
    cs_buf_cleanup(&priv);
    cs_kv_store_free(store);
}

static void responses(void **state)
{
    (void)state;
    consort_response r;
    cs_app_response_init(&r);
    assert_int_equal(r.status, 200);
    cst_ok(consort_response_set_body(&r, "hi", 2, "text/plain"));
    assert_string_equal(r.content_type, "text/plain");
    cst_ok(consort_response_set_body(&r, "{}", 2, NULL));
    assert_string_equal(r.content_type, "application/json");
    assert_int_equal(r.body.len, 2);
    cst_fails(consort_response_set_body(&r, "x", 1, "text/plain\r\nX: y"),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_response_set_body(&r, NULL, 1, NULL), CONSORT_E_INVALID_ARGUMENT);
    /* the body cap: exactly CS_APP_MAX_RESP_BODY is kept, one byte more refused */
    char *big = calloc(1, CS_APP_MAX_RESP_BODY + 1);
    assert_non_null(big);
    cst_ok(consort_response_set_body(&r, big, CS_APP_MAX_RESP_BODY, "application/octet-stream"));
    assert_int_equal(r.body.len, CS_APP_MAX_RESP_BODY);
    cst_fails(consort_response_set_body(&r, big, CS_APP_MAX_RESP_BODY + 1, NULL),
              CONSORT_E_TOO_LARGE);
    assert_non_null(strstr(consort_errmsg(), "response: body of 16777217 bytes, at most 16777216"));
    free(big);
    cst_ok(consort_response_set_body(&r, "{}", 2, NULL));

    cst_ok(consort_response_set_header(&r, "X-One", "1"));
    cst_ok(consort_response_set_header(&r, "x-one", "2")); /* replaces */
    cst_ok(consort_response_set_header(&r, "Cache-Control", "no-store"));
    cst_ok(consort_response_set_header(&r, "Content-Type", "text/csv"));
    assert_int_equal(r.header_count, 2);
    cs_http_header hs[CS_APP_MAX_RESP_HEADERS + 1];
    size_t n = cs_app_response_headers(&r, hs);
    assert_int_equal(n, 3);
    assert_string_equal(hs[0].name, "Content-Type");
    assert_string_equal(hs[0].value, "text/csv");
    assert_string_equal(hs[1].value, "2");
    /* framing and the txid are consortd's; names are tokens; values have no CR/LF */
    static const char *const reserved[] = {"Content-Length", "transfer-encoding", "Connection",
                                           "Keep-Alive", "X-Consort-TxId"};
    for (size_t i = 0; i < CS_ARRAY_LEN(reserved); i++)
        cst_fails(consort_response_set_header(&r, reserved[i], "1"), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_response_set_header(&r, "Bad Name", "1"), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_response_set_header(&r, "", "1"), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_response_set_header(&r, "X-Split", "a\r\nSet-Cookie: b"),
              CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_response_set_header(&r, "X-Nul", "a\x01"), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(r.header_count, 2);
    char name[16];
    for (size_t i = r.header_count; i < CS_APP_MAX_RESP_HEADERS; i++) {
        snprintf(name, sizeof name, "X-H%zu", i);
        cst_ok(consort_response_set_header(&r, name, "v"));
    }
    cst_fails(consort_response_set_header(&r, "X-Too-Many", "v"), CONSORT_E_TOO_LARGE);
    cst_ok(consort_response_set_header(&r, "X-One", "3")); /* replacing still works */

    cs_app_response_reset(&r);
    assert_int_equal(r.header_count, 0);
    assert_int_equal(r.body.len, 0);
    assert_int_equal(r.status, 200);
    cs_app_response_cleanup(&r);
}

static void error_bodies(void **state)
{
    (void)state;
    cst_call c;
    memset(&c, 0, sizeof c);
    cs_app_response_init(&c.resp);
    cst_ok(consort_response_error(&c.resp, 409, "Conflict", "id %d \"taken\"\n", 5));
    assert_int_equal(c.resp.status, 409);
    assert_string_equal(cst_error_message(&c, "Conflict"), "id 5 \"taken\"\n");
    /* bytes that are not UTF-8 still make valid JSON */
    cst_ok(consort_response_error(&c.resp, 400, "InvalidInput", "bad %s", "\xff\xfe ok"));
    assert_string_equal(cst_error_message(&c, "InvalidInput"), "bad ?? ok");
    /* long messages are cut, still JSON */
    char long_msg[4000];
    memset(long_msg, 'm', sizeof long_msg - 1);
    long_msg[sizeof long_msg - 1] = '\0';
    cst_ok(consort_response_error(&c.resp, 500, "X", "%s", long_msg));
    assert_int_equal(strlen(cst_error_message(&c, "X")), 1023);
    /* an error needs an error status and an identifier for a code */
    cst_fails(consort_response_error(&c.resp, 200, "Fine", "x"), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_response_error(&c.resp, 600, "Bad", "x"), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_response_error(&c.resp, 400, "", "x"), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(consort_response_error(&c.resp, 400, "a\"b", "x"), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(c.resp.status, 500); /* unchanged by the refusals */
    cs_app_response_cleanup(&c.resp);
}

/* ---- cs_app_invoke ---- */

typedef struct script {
    int status;     /* what the handler sets */
    consort_err rc; /* what it returns */
    bool write;     /* writes a key first */
    bool claims;    /* sets a claims digest */
    bool header;    /* sets a header */
    int runs;
} script;

static consort_err scripted(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)rq;
    script *s = ctx;
    s->runs++;
    if (s->write)
        CS_TRY(consort_kv_put(tx, "m", "k", 1, "v", 1));
    if (s->claims) {
        const uint8_t d[32] = {1};
        CS_TRY(consort_tx_set_claims_digest(tx, d));
    }
    if (s->header)
        CS_TRY(consort_response_set_header(rs, "X-Run", "1"));
    consort_response_set_status(rs, s->status);
    if (s->rc != CONSORT_OK)
        return cs_fail(s->rc, "scripted failure %d", s->runs);
    return CONSORT_OK;
}

static void run_script(cs_kv_store *store, script *s, bool writable, cst_call *c)
{
    cs_app_endpoint ep = {.method = "POST", .path = "/app/s", .handler = scripted, .ctx = s};
    cst_run(store, &ep, "", NULL, NULL, writable, c);
}

static void invoke_decides_what_commits(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    cst_call c;
    /* 2xx, OK, writable: commits, with claims */
    script s = {.status = 201, .write = true, .claims = true};
    run_script(store, &s, true, &c);
    cst_ok(c.rc);
    assert_true(c.out.commit);
    assert_true(c.out.has_claims);
    assert_int_equal(c.seqno, 1);
    cst_call_cleanup(&c);
    /* a 4xx discards the writes (and the claims) */
    s = (script){.status = 409, .write = true, .claims = true};
    run_script(store, &s, true, &c);
    cst_ok(c.rc);
    assert_false(c.out.commit);
    assert_false(c.out.has_claims);
    assert_int_equal(c.seqno, 0);
    cst_call_cleanup(&c);
    /* an error: 500 with its message, nothing commits, the handler's headers are gone */
    s = (script){.status = 200, .rc = CONSORT_E_CORRUPT, .write = true, .header = true};
    run_script(store, &s, true, &c);
    cst_fails(c.rc, CONSORT_E_CORRUPT);
    assert_int_equal(c.resp.status, 500);
    assert_false(c.out.commit);
    assert_int_equal(c.resp.header_count, 0);
    const char *m = cst_error_message(&c, "InternalError");
    assert_non_null(strstr(m, "POST /app/s"));
    assert_non_null(strstr(m, "CORRUPT"));
    assert_non_null(strstr(m, "scripted failure 1"));
    cst_call_cleanup(&c);
    /* a status outside 100..599 is the handler's bug: 500 */
    static const int bad_status[] = {0, 99, 600, -200};
    for (size_t i = 0; i < CS_ARRAY_LEN(bad_status); i++) {
        s = (script){.status = bad_status[i], .write = true};
        run_script(store, &s, true, &c);
        cst_fails(c.rc, CONSORT_E_INVALID_ARGUMENT);
        assert_int_equal(c.resp.status, 500);
        assert_false(c.out.commit);
        cst_call_cleanup(&c);
    }
    /* read-only never commits, even with 200 */
    s = (script){.status = 200};
    run_script(store, &s, false, &c);
    cst_ok(c.rc);
    assert_false(c.out.commit);
    cst_call_cleanup(&c);
    assert_int_equal(cs_kv_last_seqno(store), 1);

    /* a re-run (after a conflict) starts from a fresh response */
    consort_response resp;
    cs_app_response_init(&resp);
    cs_tx_outcome out;
    consort_request req;
    cs_app_request_init(&req, "POST", "/app/s", "", NULL, 0, CS_SLICE_EMPTY, NULL);
    cs_app_endpoint ep = {.method = "POST", .path = "/app/s", .handler = scripted, .ctx = &s};
    s = (script){.status = 202, .header = true, .claims = true};
    cs_kv_tx *tx;
    cst_ok(cs_kv_tx_begin(store, &tx));
    cst_ok(cs_app_invoke(&ep, &req, tx, true, &resp, &out));
    assert_int_equal(resp.header_count, 1);
    s.header = false;
    s.claims = false;
    s.status = 200;
    cst_ok(cs_app_invoke(&ep, &req, tx, true, &resp, &out));
    assert_int_equal(resp.header_count, 0);
    assert_int_equal(resp.status, 200);
    assert_false(out.has_claims);
    assert_int_equal(s.runs, 2);
    cs_kv_tx_free(tx);
    cs_app_response_cleanup(&resp);
    cs_kv_store_free(store);
}

/* ---- errors a handler returns ---- */

typedef struct failing {
    consort_err code;    /* what consort_fail records */
    consort_err returns; /* what the handler returns */
    bool later_failure;  /* a consortd function fails after consort_fail */
    const char *message;
} failing;

static consort_err fails(consort_request *rq, consort_tx *tx, consort_response *rs, void *ctx)
{
    (void)rq;
    const failing *f = ctx;
    CS_TRY(consort_kv_put(tx, "m", "k", 1, "v", 1)); /* discarded: nothing commits */
    CS_TRY(consort_response_set_header(rs, "X-Gone", "1"));
    consort_response_set_status(rs, 201);
    consort_err rc = consort_fail(f->code, "%s", f->message);
    assert_int_equal(rc, f->code);
    /* consort_errmsg() holds it too (its first CS_ERRMSG_MAX - 1 bytes) */
    assert_true(strlen(consort_errmsg()) > 0);
    assert_memory_equal(consort_errmsg(), f->message, strlen(consort_errmsg()));
    if (f->later_failure) {
        const uint8_t *v;
        size_t n;
        assert_int_equal(consort_kv_get(tx, "m", "absent", 6, &v, &n), CONSORT_E_NOT_FOUND);
    }
    return f->returns;
}

static void run_failing(cs_kv_store *store, failing *f, cst_call *c)
{
    cs_app_endpoint ep = {.method = "PUT", .path = "/app/f", .handler = fails, .ctx = f};
    cst_run(store, &ep, "", NULL, NULL, true, c);
    assert_false(c->out.commit);
    assert_int_equal(c->seqno, 0);
    assert_null(cs_http_header_find(c->resp.headers, c->resp.header_count, "X-Gone"));
}

/* app.h "Errors": the status every code answers with, from its category. */
static void every_code_has_its_status(void **state)
{
    (void)state;
    for (int i = 1; i < CONSORT_E__COUNT; i++) {
        consort_err code = (consort_err)i;
        int want;
        if (code == CONSORT_E_NOT_FOUND)
            want = 404;
        else if (code == CONSORT_E_BUSY || code == CONSORT_E_TIMEOUT)
            want = 503;
        else if (code == CONSORT_E_STATE || code == CONSORT_E_ROLLBACK ||
                 code == CONSORT_E_FROZEN)
            want = 409;
        else if (code == CONSORT_E_CRYPTO || code == CONSORT_E_PENDING)
            want = 500;
        else
            switch (consort_err_category_of(code)) {
            case CONSORT_CAT_USAGE:
            case CONSORT_CAT_PROTOCOL:
            case CONSORT_CAT_CRYPTO:
            case CONSORT_CAT_ATTESTATION:
                want = 400;
                break;
            case CONSORT_CAT_POLICY:
                want = 403;
                break;
            default: /* io, corrupt, nomem */
                want = 500;
            }
        if (cs_app_error_status(code) != want)
            fail_msg("%s: status %d, app.h says %d", consort_err_name(code),
                     cs_app_error_status(code), want);
    }
    /* the table in app.h, spelled out */
    assert_int_equal(cs_app_error_status(CONSORT_E_INVALID_ARGUMENT), 400);
    assert_int_equal(cs_app_error_status(CONSORT_E_MALFORMED), 400);
    assert_int_equal(cs_app_error_status(CONSORT_E_TOO_LARGE), 400);
    assert_int_equal(cs_app_error_status(CONSORT_E_BAD_SIGNATURE), 400);
    assert_int_equal(cs_app_error_status(CONSORT_E_EXPIRED), 400);
    assert_int_equal(cs_app_error_status(CONSORT_E_POLICY), 403);
    assert_int_equal(cs_app_error_status(CONSORT_E_IO), 500);
    assert_int_equal(cs_app_error_status(CONSORT_E_CORRUPT), 500);
    assert_int_equal(cs_app_error_status(CONSORT_E_NOMEM), 500);
}

static void a_handler_fails_with_a_message(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    cst_call c;
    /* every code: its status, its name as the code, the message as given */
    for (int i = 1; i < CONSORT_E__COUNT; i++) {
        consort_err code = (consort_err)i;
        failing f = {.code = code, .returns = code, .message = "record 7 \"x\""};
        run_failing(store, &f, &c);
        cst_fails(c.rc, code);
        assert_int_equal(c.resp.status, cs_app_error_status(code));
        assert_string_equal(cst_error_message(&c, consort_err_name(code)), "record 7 \"x\"");
        assert_string_equal(c.resp.content_type, "application/json");
        const char *retry = cs_http_header_find(c.resp.headers, c.resp.header_count, "Retry-After");
        if (c.resp.status == 503)
            assert_string_equal(retry, "1");
        else
            assert_null(retry);
        cst_call_cleanup(&c);
    }
    /* the message is printf-formatted, cut at 1023 bytes */
    char long_msg[2000];
    memset(long_msg, 'm', sizeof long_msg - 1);
    long_msg[sizeof long_msg - 1] = '\0';
    failing f = {.code = CONSORT_E_NOT_FOUND, .returns = CONSORT_E_NOT_FOUND, .message = long_msg};
    run_failing(store, &f, &c);
    assert_int_equal(c.resp.status, 404);
    assert_int_equal(strlen(cst_error_message(&c, "NOT_FOUND")), CS_APP_ERROR_MESSAGE_MAX - 1);
    cst_call_cleanup(&c);
    assert_int_equal(cs_kv_last_seqno(store), 0);
    cs_kv_store_free(store);
}

static void consortd_errors_stay_500(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    cst_call c;
    /* another code returned than the one consort_fail recorded: consortd's 500 */
    failing f = {.code = CONSORT_E_NOT_FOUND, .returns = CONSORT_E_POLICY, .message = "m"};
    run_failing(store, &f, &c);
    cst_fails(c.rc, CONSORT_E_POLICY);
    assert_int_equal(c.resp.status, 500);
    assert_non_null(strstr(cst_error_message(&c, "InternalError"), "PUT /app/f: POLICY"));
    cst_call_cleanup(&c);
    /* a consortd function that fails after consort_fail supersedes it, even with
     * the same code: the handler passes consortd's NOT_FOUND on */
    f = (failing){.code = CONSORT_E_NOT_FOUND,
                  .returns = CONSORT_E_NOT_FOUND,
                  .later_failure = true,
                  .message = "stale"};
    run_failing(store, &f, &c);
    assert_int_equal(c.resp.status, 500);
    const char *m = cst_error_message(&c, "InternalError");
    assert_non_null(strstr(m, "NOT_FOUND"));
    assert_non_null(strstr(m, "no such key"));
    assert_null(strstr(m, "stale"));
    cst_call_cleanup(&c);
    assert_int_equal(cs_kv_last_seqno(store), 0);
    cs_kv_store_free(store);
}

static consort_err fails_with_ok(consort_request *rq, consort_tx *tx, consort_response *rs,
                                 void *ctx)
{
    (void)rq;
    (void)tx;
    (void)rs;
    (void)ctx;
    return consort_fail(CONSORT_OK, "not an error");
}

static consort_err fail_ignored(consort_request *rq, consort_tx *tx, consort_response *rs,
                                void *ctx)
{
    (void)rq;
    (void)tx;
    (void)ctx;
    (void)consort_fail(CONSORT_E_POLICY, "recorded, then not returned");
    consort_response_set_status(rs, 202);
    return CONSORT_OK;
}

static void consort_fail_rules(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    cst_call c;
    cs_app_endpoint ep = {.method = "GET", .path = "/app/ok", .handler = fails_with_ok};
    cst_run(store, &ep, "", NULL, NULL, false, &c);
    cst_fails(c.rc, CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(c.resp.status, 500);
    assert_non_null(strstr(cst_error_message(&c, "InternalError"), "consort_fail"));
    cst_call_cleanup(&c);
    /* only the failure returned counts */
    ep.handler = fail_ignored;
    cst_run(store, &ep, "", NULL, NULL, false, &c);
    cst_ok(c.rc);
    assert_int_equal(c.resp.status, 202);
    assert_int_equal(c.resp.body.len, 0);
    cst_call_cleanup(&c);
    /* outside a handler (consort_app_init): the code, and consort_errmsg() */
    cs_err_clear();
    assert_int_equal(consort_fail(CONSORT_E_MALFORMED, "config %d", 3), CONSORT_E_MALFORMED);
    assert_string_equal(consort_errmsg(), "config 3");
    /* codes that are no error */
    assert_int_equal(consort_fail(CONSORT_OK, "x"), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(consort_fail((consort_err)CONSORT_E__COUNT, "x"), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(consort_fail((consort_err)-1, "x"), CONSORT_E_INVALID_ARGUMENT);
    cs_kv_store_free(store);
}

static void response_survives_allocation_failures(void **state)
{
    (void)state;
    cst_alloc_install();
    long live = cst_alloc_live();
    int failures = 0;
    for (long n = 0; n < 64; n++) {
        consort_response r;
        cs_app_response_init(&r);
        cst_alloc_fail_after(n);
        consort_err rc = consort_response_set_header(&r, "X-A", "1");
        if (rc == CONSORT_OK)
            rc = consort_response_set_body(&r, "body", 4, NULL);
        if (rc == CONSORT_OK)
            rc = consort_response_set_header(&r, "X-A", "2");
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        if (failed) {
            cst_fails(rc, CONSORT_E_NOMEM);
            failures++;
        } else {
            cst_ok(rc);
            assert_int_equal(r.header_count, 1);
            assert_string_equal(r.headers[0].value, "2");
        }
        cs_app_response_cleanup(&r);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed)
            break;
    }
    cst_alloc_uninstall();
    assert_true(failures >= 4);
}

static void failing_handlers_survive_allocation_failures(void **state)
{
    (void)state;
    cs_kv_store *store;
    cst_ok(cs_kv_store_new(NULL, &store));
    failing f = {.code = CONSORT_E_BUSY, .returns = CONSORT_E_BUSY, .message = "later"};
    cs_app_endpoint ep = {.method = "PUT", .path = "/app/f", .handler = fails, .ctx = &f};
    consort_request req;
    cs_app_request_init(&req, "PUT", "/app/f", "", NULL, 0, CS_SLICE_EMPTY, NULL);
    cst_alloc_install();
    long live = cst_alloc_live();
    int failures = 0;
    for (long n = 0; n < 200; n++) {
        consort_response resp;
        cs_app_response_init(&resp);
        cs_kv_tx *kv;
        cst_ok(cs_kv_tx_begin(store, &kv));
        cs_tx_outcome out;
        cst_alloc_fail_after(n);
        consort_err rc = cs_app_invoke(&ep, &req, kv, true, &resp, &out);
        int failed = cst_alloc_failed();
        cst_alloc_fail_after(-1);
        /* the handler's 503, or consortd's 500 when it could not run to its end */
        assert_false(out.commit);
        if (failed) {
            failures++;
            assert_true(resp.status == 503 || resp.status == 500);
            assert_true(rc == CONSORT_E_BUSY || rc == CONSORT_E_NOMEM);
        } else {
            cst_fails(rc, CONSORT_E_BUSY);
            assert_int_equal(resp.status, 503);
        }
        cs_kv_tx_free(kv);
        cs_app_response_cleanup(&resp);
        assert_int_equal(cst_alloc_live(), live);
        if (!failed)
            break;
    }
    cst_alloc_uninstall();
    assert_true(failures >= 3);
    cs_kv_store_free(store);
}

/* ---- include/consort/error.h, as handlers use it ---- */

static void *fail_elsewhere(void *arg)
{
    (void)arg;
    assert_string_equal(consort_errmsg(), ""); /* this thread's: nothing failed here */
    (void)consort_fail(CONSORT_E_POLICY, "another thread");
    return strcmp(consort_errmsg(), "another thread") == 0 ? arg : NULL;
}

static void error_codes_and_messages(void **state)
{
    (void)state;
    /* every code but OK is in exactly one category; names are stable and unique */
    assert_int_equal(consort_err_category_of(CONSORT_OK), CONSORT_CAT_NONE);
    for (int i = 1; i < CONSORT_E__COUNT; i++) {
        consort_err_category cat = consort_err_category_of((consort_err)i);
        assert_true(cat > CONSORT_CAT_NONE && cat <= CONSORT_CAT_STATE);
        const char *name = consort_err_name((consort_err)i);
        for (const char *p = name; *p != '\0'; p++)
            assert_true((*p >= 'A' && *p <= 'Z') || *p == '_');
        for (int k = 1; k < i; k++)
            assert_string_not_equal(consort_err_name((consort_err)k), name);
    }
    assert_string_equal(consort_err_name(CONSORT_E_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(consort_err_name(CONSORT_E_BAD_SIGNATURE), "BAD_SIGNATURE");
    assert_string_equal(consort_err_category_name(CONSORT_CAT_CRYPTO), "crypto");
    assert_string_equal(consort_err_category_name(CONSORT_CAT_STATE), "state");
    /* the message is the calling thread's, and stays until its next failure */
    (void)consort_fail(CONSORT_E_MALFORMED, "this thread %d", 1);
    const char *mine = consort_errmsg();
    pthread_t t;
    int token;
    assert_int_equal(pthread_create(&t, NULL, fail_elsewhere, &token), 0);
    void *ok;
    assert_int_equal(pthread_join(t, &ok), 0);
    assert_ptr_equal(ok, &token);
    assert_string_equal(mine, "this thread 1");
    assert_string_equal(consort_errmsg(), "this thread 1");
    (void)consort_fail(CONSORT_E_IO, "next");
    assert_string_equal(consort_errmsg(), "next");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_accessors),
        cmocka_unit_test(kv_functions),
        cmocka_unit_test(responses),
        cmocka_unit_test(error_bodies),
        cmocka_unit_test(invoke_decides_what_commits),
        cmocka_unit_test(every_code_has_its_status),
        cmocka_unit_test(a_handler_fails_with_a_message),
        cmocka_unit_test(consortd_errors_stay_500),
        cmocka_unit_test(consort_fail_rules),
        cmocka_unit_test(error_codes_and_messages),
        cmocka_unit_test(response_survives_allocation_failures),
        cmocka_unit_test(failing_handlers_survive_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
