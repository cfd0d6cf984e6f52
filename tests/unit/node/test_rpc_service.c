/*
 * The HTTP API end to end, in process: a single-node service (virtual
 * platform, the logging sample) with its HTTPS server, and TLS clients
 * presenting a user's, a member's, a stranger's or no certificate. Covers
 * the built-in endpoints, private and public records, transaction status,
 * receipts that verify offline, and the error statuses (400, 401, 403, 404,
 * 405, 413, 431).
 */
#include "rpc_fixture.h"

#include "crypto/b64.h"
#include "crypto/cose.h"
#include "e2e/statement.h"
#include "node/console.h"
#include "node/service_maps.h"
#include "store/receipt.h"

#include <inttypes.h>

static cst_svc svc;

static int setup(void **state)
{
    (void)state;
    cst_svc_start(&svc, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cst_svc_stop(&svc);
    return 0;
}

static json_t *body_json(const cst_resp *r)
{
    json_error_t err;
    json_t *doc = json_loadb((const char *)r->body.ptr, r->body.len, 0, &err);
    if (doc == NULL)
        fail_msg("not JSON (%s): %s", err.text, (const char *)r->body.ptr);
    return doc;
}

static const cs_http_header JSON_CT[] = {{"Content-Type", "application/json"}};

static void node_endpoints(void **state)
{
    (void)state;
    cst_client c;
    cst_client_open(&svc, 0, NULL, &c); /* no certificate needed */
    cst_resp r;

    cst_send(&c, "GET", "/node/state", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json");
    json_t *doc = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "state")), "PartOfNetwork");
    assert_string_equal(json_string_value(json_object_get(doc, "node_id")),
                        cs_node_id(svc.node[0]));
    assert_true(json_is_true(json_object_get(doc, "is_leader")));
    json_decref(doc);
    cst_resp_cleanup(&r);

    cst_send(&c, "GET", "/node/network", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    doc = body_json(&r);
    const char *pem = json_string_value(json_object_get(doc, "service_certificate"));
    assert_non_null(pem);
    cs_x509 *cert;
    cst_ok(cs_x509_from_pem(cs_slice_str(pem), &cert));
    uint8_t a[32], b[32];
    cst_ok(cs_x509_fingerprint(cert, a));
    cst_ok(cs_x509_fingerprint(svc.service_cert, b));
    assert_memory_equal(a, b, 32);
    cs_x509_free(cert);
    json_t *nodes = json_object_get(doc, "nodes");
    assert_int_equal(json_array_size(nodes), 1);
    json_t *n0 = json_array_get(nodes, 0);
    assert_string_equal(json_string_value(json_object_get(n0, "rpc_address")),
                        svc.cfg[0].rpc_address);
    assert_string_equal(json_string_value(json_object_get(n0, "status")), "Trusted");
    json_decref(doc);
    cst_resp_cleanup(&r);

    cst_send(&c, "GET", "/node/quotes", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    doc = body_json(&r);
    assert_int_equal(json_array_size(json_object_get(doc, "quotes")), 1);
    json_decref(doc);
    cst_resp_cleanup(&r);

    cst_send(&c, "GET", "/node/version", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    doc = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(doc, "app_abi_version")),
                     CONSORT_APP_ABI_VERSION);
    assert_int_equal(json_integer_value(json_object_get(doc, "app_endpoints")), 6);
    json_decref(doc);
    cst_resp_cleanup(&r);

    cst_send(&c, "GET", "/node/metrics", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.ctype, "text/plain"));
    assert_non_null(strstr((const char *)r.body.ptr, "# TYPE consort_rpc_requests_total counter"));
    assert_non_null(strstr((const char *)r.body.ptr, "consort_commit_seqno{node=\""));
    char metric[96];
    snprintf(metric, sizeof metric, "consort_rpc_responses_total{node=\"%s\",class=\"2xx\"} ",
             cs_node_id(svc.node[0]));
    assert_non_null(strstr((const char *)r.body.ptr, metric));
    cst_resp_cleanup(&r);

    cst_send(&c, "GET", "/node/commit", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    doc = body_json(&r);
    cs_txid t;
    cst_ok(cs_txid_parse(json_string_value(json_object_get(doc, "transaction_id")), &t));
    assert_true(t.seqno >= 1); /* the genesis transaction at least */
    json_decref(doc);
    cst_resp_cleanup(&r);
    cst_client_close(&c);
}

/* Fetches a receipt, retrying while the answer is 202 (not signed yet). */
static void fetch_receipt(cst_client *c, const char *txid, cst_resp *r)
{
    char target[128];
    snprintf(target, sizeof target, "/app/receipt?transaction_id=%s", txid);
    for (int i = 0; i < 200; i++) {
        cst_send(c, "GET", target, NULL, 0, NULL, r);
        if (r->status != 202)
            return;
        (void)cst_resp_error(r, "TransactionPendingOrUnknown");
        assert_string_equal(r->retry, "1");
        cst_resp_cleanup(r);
        cst_loop_sleep(&svc.loop, 10);
    }
    fail_msg("no receipt for %s", txid);
}

static void records_round_trip(void **state)
{
    (void)state;
    cst_client c;
    cst_client_open(&svc, 0, &svc.user, &c);
    cst_resp r;
    cst_send(&c, "POST", "/app/log/private", JSON_CT, 1, "{\"id\": 42, \"msg\": \"secret\"}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal((const char *)r.body.ptr, "{}");
    cs_txid t1;
    cst_ok(cs_txid_parse(r.txid, &t1));
    char txid1[64];
    snprintf(txid1, sizeof txid1, "%s", r.txid);
    cst_resp_cleanup(&r);
    /* answered after commit: the status says so at once */
    char target[128];
    snprintf(target, sizeof target, "/node/tx?transaction_id=%s", txid1);
    cst_send(&c, "GET", target, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *doc = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "status")), "Committed");
    assert_string_equal(json_string_value(json_object_get(doc, "transaction_id")), txid1);
    json_decref(doc);
    cst_resp_cleanup(&r);

    cst_send(&c, "POST", "/app/log/public", JSON_CT, 1, "{\"id\": 42, \"msg\": \"open\"}", &r);
    assert_int_equal(r.status, 200);
    cs_txid t2;
    cst_ok(cs_txid_parse(r.txid, &t2));
    assert_true(t2.seqno > t1.seqno);
    cst_resp_cleanup(&r);

    cst_send(&c, "GET", "/app/log/private?id=42", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal((const char *)r.body.ptr, "{\"msg\":\"secret\"}");
    assert_string_equal(r.txid, ""); /* reads carry no txid */
    cst_resp_cleanup(&r);
    cst_send(&c, "GET", "/app/log/public?id=42", NULL, 0, NULL, &r);
    assert_string_equal((const char *)r.body.ptr, "{\"msg\":\"open\"}");
    cst_resp_cleanup(&r);

    /* the application's own errors: nothing committed, no txid */
    cst_send(&c, "GET", "/app/log/private?id=43", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 404);
    /* consort_fail(CONSORT_E_NOT_FOUND, ...): the code's name (app.h "Errors") */
    assert_string_equal(cst_resp_error(&r, "NOT_FOUND"), "no record with id 43");
    cst_resp_cleanup(&r);
    cst_send(&c, "POST", "/app/log/private", JSON_CT, 1, "{\"id\": \"x\"}", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.txid, "");
    (void)cst_resp_error(&r, "InvalidInput");
    cst_resp_cleanup(&r);

    /* the receipt verifies offline against the pinned service certificate */
    fetch_receipt(&c, txid1, &r);
    assert_int_equal(r.status, 200);
    doc = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "txid")), txid1);
    json_decref(doc);
    const cs_receipt_verify_opts opts = {.now = (int64_t)time(NULL)};
    cst_ok(cs_receipt_verify_json(cs_buf_slice(&r.body), svc.service_cert, &opts));
    /* one changed byte of the commit evidence and it does not */
    char *ce = strstr((char *)r.body.ptr, "\"ce:");
    assert_non_null(ce);
    ce[strlen("\"ce:") + strlen(txid1) + 2] ^= 0x01;
    cst_fails_any(cs_receipt_verify_json(cs_buf_slice(&r.body), svc.service_cert, &opts));
    cst_resp_cleanup(&r);
    cst_client_close(&c);
}

static void transaction_ids_and_receipts_errors(void **state)
{
    (void)state;
    cst_client c;
    cst_client_open(&svc, 0, &svc.member, &c); /* members may fetch receipts too */
    cst_resp r;
    static const char *const malformed[] = {"/node/tx",
                                            "/node/tx?transaction_id=",
                                            "/node/tx?transaction_id=abc",
                                            "/node/tx?transaction_id=1",
                                            "/node/tx?transaction_id=0.1",
                                            "/node/tx?transaction_id=1.0",
                                            "/node/tx?transaction_id=1.2.3",
                                            "/node/tx?transaction_id=-1.2",
                                            "/node/tx?transaction_id=1.99999999999999999999999",
                                            "/app/receipt",
                                            "/app/receipt?transaction_id=1.x",
                                            "/app/receipt?transaction_id=%zz"};
    for (size_t i = 0; i < CS_ARRAY_LEN(malformed); i++) {
        cst_send(&c, "GET", malformed[i], NULL, 0, NULL, &r);
        if (r.status != 400)
            fail_msg("%s: status %d, expected 400", malformed[i], r.status);
        (void)cst_resp_error(&r, "InvalidInput");
        cst_resp_cleanup(&r);
    }
    /* well-formed but unknown here: it may still commit, so 202 with
     * Retry-After, never 404 (docs/consistency.md) */
    cs_txid now = cs_node_commit_txid(svc.node[0]);
    char future[128];
    snprintf(future, sizeof future, "/node/tx?transaction_id=%" PRIu64 ".999999", now.term);
    cst_send(&c, "GET", future, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.retry, "1");
    assert_non_null(strstr((const char *)r.body.ptr, "\"status\":\"Unknown\""));
    cst_resp_cleanup(&r);
    snprintf(future, sizeof future, "/app/receipt?transaction_id=%" PRIu64 ".999999", now.term);
    cst_send(&c, "GET", future, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(r.retry, "1");
    (void)cst_resp_error(&r, "TransactionPendingOrUnknown");
    cst_resp_cleanup(&r);
    /* a committed seqno under another term is Invalid, and has no receipt */
    cs_txid last = cs_node_commit_txid(svc.node[0]);
    char target[128];
    snprintf(target, sizeof target, "/node/tx?transaction_id=%" PRIu64 ".%" PRIu64, last.term + 7,
             last.seqno);
    cst_send(&c, "GET", target, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr((const char *)r.body.ptr, "\"status\":\"Invalid\""));
    cst_resp_cleanup(&r);
    snprintf(target, sizeof target, "/app/receipt?transaction_id=%" PRIu64 ".%" PRIu64,
             last.term + 7, last.seqno);
    cst_send(&c, "GET", target, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 404);
    (void)cst_resp_error(&r, "TransactionInvalid");
    cst_resp_cleanup(&r);
    /* the genesis transaction's receipt (seqno 1, in whichever term the
     * first leader had), fetched by a member */
    cs_txid genesis = {0};
    for (uint64_t t = 1; t <= last.term && genesis.term == 0; t++)
        if (cs_node_tx_status(svc.node[0], (cs_txid){t, 1}) == CS_TX_COMMITTED)
            genesis = (cs_txid){t, 1};
    assert_true(genesis.term > 0);
    snprintf(target, sizeof target, "%" PRIu64 ".1", genesis.term);
    fetch_receipt(&c, target, &r);
    assert_int_equal(r.status, 200);
    cst_resp_cleanup(&r);
    cst_client_close(&c);
}

/* GET /gov/members and /gov/users: anyone may ask; exactly the configured
 * identities, each with its id (hex SHA-256 of the certificate DER) and its
 * certificate. */
static void check_cert_list(cst_client *c, const char *path, const char *name, const cst_ident *who)
{
    cst_resp r;
    cst_send(c, "GET", path, NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *doc = body_json(&r);
    json_t *list = json_object_get(doc, name);
    assert_int_equal(json_array_size(list), 1);
    json_t *e = json_array_get(list, 0);
    char hex[65];
    cs_hex_encode(CS_SLICE(who->fp, 32), hex);
    assert_string_equal(json_string_value(json_object_get(e, "id")), hex);
    cs_x509 *cert;
    cst_ok(cs_x509_from_pem(cs_slice_str(json_string_value(json_object_get(e, "certificate"))),
                            &cert));
    uint8_t fp[32];
    cst_ok(cs_x509_fingerprint(cert, fp));
    assert_memory_equal(fp, who->fp, 32);
    cs_x509_free(cert);
    json_decref(doc);
    cst_resp_cleanup(&r);
    cst_send(c, "POST", path, NULL, 0, "{}", &r);
    assert_int_equal(r.status, 405);
    cst_resp_cleanup(&r);
}

static void gov_members_and_users(void **state)
{
    (void)state;
    cst_client c;
    cst_client_open(&svc, 0, NULL, &c); /* no certificate needed */
    check_cert_list(&c, "/gov/members", "members", &svc.member);
    check_cert_list(&c, "/gov/users", "users", &svc.user);
    cst_client_close(&c);
}

static void routing_errors(void **state)
{
    (void)state;
    cst_client c;
    cst_client_open(&svc, 0, &svc.user, &c);
    cst_resp r;
    static const char *const unknown[] = {
        "/", "/app/log", "/app/log/private/", "/APP/log/private", "/node/states", "/gov/member"};
    for (size_t i = 0; i < CS_ARRAY_LEN(unknown); i++) {
        cst_send(&c, "GET", unknown[i], NULL, 0, NULL, &r);
        if (r.status != 404)
            fail_msg("%s: status %d, expected 404", unknown[i], r.status);
        (void)cst_resp_error(&r, "ResourceNotFound");
        cst_resp_cleanup(&r);
    }
    cst_send(&c, "DELETE", "/app/log/private", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST, GET");
    (void)cst_resp_error(&r, "MethodNotAllowed");
    cst_resp_cleanup(&r);
    cst_send(&c, "POST", "/node/state", NULL, 0, "{}", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET");
    cst_resp_cleanup(&r);
    /* the connection survived every error */
    cst_send(&c, "GET", "/node/version", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    cst_resp_cleanup(&r);
    cst_client_close(&c);
}

static void authentication(void **state)
{
    (void)state;
    cst_client none, stranger, member, user;
    cst_client_open(&svc, 0, NULL, &none);
    cst_client_open(&svc, 0, &svc.stranger, &stranger);
    cst_client_open(&svc, 0, &svc.member, &member);
    cst_client_open(&svc, 0, &svc.user, &user);
    cst_resp r;
    static const struct {
        const char *method, *target, *body;
    } user_only[] = {{"POST", "/app/log/private", "{\"id\": 1, \"msg\": \"x\"}"},
                     {"GET", "/app/log/public?id=42", NULL}};
    for (size_t i = 0; i < CS_ARRAY_LEN(user_only); i++) {
        cst_send(&none, user_only[i].method, user_only[i].target, JSON_CT, 1, user_only[i].body,
                 &r);
        assert_int_equal(r.status, 401);
        (void)cst_resp_error(&r, "Unauthorized");
        cst_resp_cleanup(&r);
        cst_send(&stranger, user_only[i].method, user_only[i].target, JSON_CT, 1, user_only[i].body,
                 &r);
        assert_int_equal(r.status, 403);
        (void)cst_resp_error(&r, "Forbidden");
        cst_resp_cleanup(&r);
        cst_send(&member, user_only[i].method, user_only[i].target, JSON_CT, 1, user_only[i].body,
                 &r);
        assert_int_equal(r.status, 403);
        cst_resp_cleanup(&r);
    }
    cst_send(&none, "GET", "/app/receipt?transaction_id=1.1", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 401);
    cst_resp_cleanup(&r);
    cst_send(&stranger, "GET", "/app/receipt?transaction_id=1.1", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 403);
    cst_resp_cleanup(&r);
    /* a client may not name a caller: only service nodes forward */
    char fp[65];
    cs_hex_encode(CS_SLICE(svc.user.fp, 32), fp);
    const cs_http_header spoof[] = {{"Content-Type", "application/json"},
                                    {"x-consort-forwarded-caller", fp}};
    cst_send(&stranger, "POST", "/app/log/private", spoof, 2, "{\"id\": 1, \"msg\": \"x\"}", &r);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(cst_resp_error(&r, "Forbidden"), "x-consort-forwarded-caller"));
    cst_resp_cleanup(&r);
    cst_send(&user, "GET", "/app/log/public?id=42", spoof, 2, NULL, &r);
    assert_int_equal(r.status, 403);
    cst_resp_cleanup(&r);
    cst_send(&user, "GET", "/app/log/private?id=1", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 404); /* none of the refused writes happened */
    cst_resp_cleanup(&r);
    cst_client_close(&none);
    cst_client_close(&stranger);
    cst_client_close(&member);
    cst_client_close(&user);
}

static void server_limits(void **state)
{
    (void)state;
    cst_client c;
    cst_client_open(&svc, 0, &svc.user, &c);
    cst_resp r;
    /* a body over 1 MiB: 413, then the server closes the connection */
    size_t big = ((size_t)1 << 20) + 1;
    char *body = malloc(big + 1);
    assert_non_null(body);
    memset(body, 'a', big);
    body[big] = '\0';
    cst_send(&c, "POST", "/app/log/private", JSON_CT, 1, body, &r);
    assert_int_equal(r.status, 413);
    (void)cst_resp_error(&r, "RequestTooLarge");
    cst_resp_cleanup(&r);
    cst_client_close(&c);
    /* headers over 16 KiB: 431 */
    cst_client_open(&svc, 0, &svc.user, &c);
    body[16 << 10] = '\0';
    const cs_http_header huge[] = {{"x-filler", body}};
    cst_send(&c, "GET", "/node/state", huge, 1, NULL, &r);
    assert_int_equal(r.status, 431);
    (void)cst_resp_error(&r, "RequestHeaderTooLarge");
    cst_resp_cleanup(&r);
    cst_client_close(&c);
    free(body);
}

/* ---- every committed transaction gets a receipt ---- */

#define RECEIPT_WRITES 40

typedef struct txid_resp {
    bool done;
    int status;
    char txid[64];
} txid_resp;

static void txid_cb(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    txid_resp *out = ctx;
    cst_cb_ok(err, msg);
    out->done = true;
    out->status = r->status;
    cst_copy_header(r, "x-consort-txid", out->txid, sizeof out->txid);
}

static bool txids_done(void *ctx)
{
    txid_resp *r = ctx;
    for (size_t i = 0; i < RECEIPT_WRITES; i++)
        if (!r[i].done)
            return false;
    return true;
}

/* Writes that commit together, in one signature interval or across
 * several (40 pipelined, then one alone after a pause): each one's receipt
 * comes, and verifies offline. */
static void every_write_gets_a_receipt(void **state)
{
    (void)state;
    cst_client c;
    cst_client_open(&svc, 0, &svc.user, &c);
    txid_resp resp[RECEIPT_WRITES + 1];
    memset(resp, 0, sizeof resp);
    char bodies[RECEIPT_WRITES][64];
    for (size_t i = 0; i < RECEIPT_WRITES; i++) {
        snprintf(bodies[i], sizeof bodies[i], "{\"id\": %zu, \"msg\": \"r\"}", 500 + i);
        cst_ok(cs_http_client_request(c.http, "POST", "/app/log/private", JSON_CT, 1,
                                      cs_slice_str(bodies[i]), txid_cb, &resp[i]));
    }
    cst_run_until(&svc.loop, 30000, txids_done, resp, "the writes");
    cst_loop_sleep(&svc.loop, 50);
    cst_resp r;
    cst_send(&c, "POST", "/app/log/private", JSON_CT, 1, "{\"id\": 999, \"msg\": \"alone\"}", &r);
    assert_int_equal(r.status, 200);
    snprintf(resp[RECEIPT_WRITES].txid, sizeof resp[RECEIPT_WRITES].txid, "%s", r.txid);
    resp[RECEIPT_WRITES].status = 200;
    cst_resp_cleanup(&r);
    const cs_receipt_verify_opts opts = {.now = (int64_t)time(NULL)};
    for (size_t i = 0; i <= RECEIPT_WRITES; i++) {
        assert_int_equal(resp[i].status, 200);
        fetch_receipt(&c, resp[i].txid, &r);
        assert_int_equal(r.status, 200);
        cst_ok(cs_receipt_verify_json(cs_buf_slice(&r.body), svc.service_cert, &opts));
        cst_resp_cleanup(&r);
    }
    cst_client_close(&c);
}

/* ---- handling statements signed in batches (rpc_statement.c) ---- */

#define STMT_REQS 32

typedef struct stmt_resp {
    bool done;
    int status;
    cs_buf body, statement; /* the statement decoded from base64 */
} stmt_resp;

static void stmt_cb(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    stmt_resp *out = ctx;
    cst_cb_ok(err, msg);
    out->done = true;
    out->status = r->status;
    cst_ok(cs_buf_append_slice(&out->body, r->body));
    const char *b64 = cs_http_response_header(r, CS_E2E_HEADER);
    assert_non_null(b64);
    cst_ok(cs_b64_decode(cs_slice_str(b64), &out->statement));
}

static bool stmts_done(void *ctx)
{
    stmt_resp *r = ctx;
    for (size_t i = 0; i < STMT_REQS; i++)
        if (!r[i].done)
            return false;
    return true;
}

static uint64_t metric(const char *text, const char *name)
{
    const char *p = text;
    while ((p = strstr(p, name)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[strlen(name)] == '{')
            return strtoull(strchr(p, '}') + 2, NULL, 10);
        p++;
    }
    fail_msg("no metric %s", name);
    return 0;
}

/* Attested requests answered in one turn of the node's loop share one
 * signature, and each statement still verifies on its own and answers its
 * own request (nonce, request and response digests). Before batching,
 * every statement had its own signature. */
static void statements_share_a_signature(void **state)
{
    (void)state;
    cst_client c;
    cst_client_open(&svc, 0, &svc.user, &c);
    cst_resp r;
    cst_send(&c, "GET", "/node/metrics", NULL, 0, NULL, &r);
    uint64_t stmts0 = metric((const char *)r.body.ptr, "consort_rpc_statements_total");
    uint64_t sigs0 = metric((const char *)r.body.ptr, "consort_rpc_statement_signatures_total");
    cst_resp_cleanup(&r);
    cst_send(&c, "POST", "/app/log/private", JSON_CT, 1, "{\"id\": 77, \"msg\": \"x\"}", &r);
    assert_int_equal(r.status, 200);
    cst_resp_cleanup(&r);
    /* pipelined on one connection, all written before the loop runs: the
     * node reads them in one turn and answers them in the same turn */
    stmt_resp *resp = calloc(STMT_REQS, sizeof *resp);
    assert_non_null(resp);
    char nonces[STMT_REQS][33];
    for (size_t i = 0; i < STMT_REQS; i++) {
        cs_buf_init(&resp[i].body, 0);
        cs_buf_init(&resp[i].statement, CS_E2E_MAX);
        snprintf(nonces[i], sizeof nonces[i], "%032zx", i + 1);
        const cs_http_header h[1] = {{CS_E2E_ATTEST_HEADER, nonces[i]}};
        cst_ok(cs_http_client_request(c.http, "GET", "/app/log/private?id=77", h, 1, CS_SLICE_EMPTY,
                                      stmt_cb, &resp[i]));
    }
    cst_run_until(&svc.loop, 30000, stmts_done, resp, "the attested reads");
    cs_e2e_statement *s = calloc(1, sizeof *s);
    assert_non_null(s);
    cs_slice sig0 = CS_SLICE_EMPTY;
    bool shared = false;
    for (size_t i = 0; i < STMT_REQS; i++) {
        assert_int_equal(resp[i].status, 200);
        cst_ok(cs_e2e_verify(cs_buf_slice(&resp[i].statement), svc.service_cert, s));
        uint8_t want[CS_E2E_NONCE_MAX];
        cst_ok(cs_hex_decode(nonces[i], want, 16));
        assert_int_equal(s->nonce_len, 16);
        assert_memory_equal(s->nonce, want, 16);
        uint8_t d[32];
        cs_e2e_request_digest("GET", "/app/log/private?id=77", CS_SLICE_EMPTY, d);
        assert_memory_equal(s->request, d, 32);
        cs_e2e_response_digest(200, cs_buf_slice(&resp[i].body), d);
        assert_memory_equal(s->response, d, 32);
        cs_cose_sign1 m;
        cst_ok(cs_cose_sign1_decode(cs_buf_slice(&resp[i].statement), &m));
        if (i == 0)
            sig0 = m.signature;
        else
            shared = shared || (m.signature.len == sig0.len &&
                                memcmp(m.signature.ptr, sig0.ptr, sig0.len) == 0);
    }
    assert_true(shared);
    cst_send(&c, "GET", "/node/metrics", NULL, 0, NULL, &r);
    uint64_t stmts = metric((const char *)r.body.ptr, "consort_rpc_statements_total") - stmts0;
    uint64_t sigs =
        metric((const char *)r.body.ptr, "consort_rpc_statement_signatures_total") - sigs0;
    cst_resp_cleanup(&r);
    assert_int_equal(stmts, STMT_REQS);
    if (sigs * 4 > stmts)
        fail_msg("%" PRIu64 " signatures for %" PRIu64 " statements read in one turn", sigs, stmts);
    for (size_t i = 0; i < STMT_REQS; i++) {
        cs_buf_cleanup(&resp[i].body);
        cs_buf_cleanup(&resp[i].statement);
    }
    free(s);
    free(resp);
    cst_client_close(&c);
}

/* One attested request at a time, each answered in its own turn: nothing of
 * an earlier answer may show in a later statement (a write's transaction id
 * in a read's, an earlier payload or base64 in front of the next), whatever
 * the node keeps between answers. Each statement must verify and describe
 * exactly its own exchange. */
typedef struct one_stmt {
    stmt_resp r;
    char txid[48];
} one_stmt;

static void one_stmt_cb(void *ctx, consort_err err, const char *msg, const cs_http_response *r)
{
    one_stmt *out = ctx;
    const char *txid = cs_http_response_header(r, "x-consort-txid");
    snprintf(out->txid, sizeof out->txid, "%s", txid != NULL ? txid : "");
    stmt_cb(&out->r, err, msg, r);
}

static bool one_done(void *ctx)
{
    return ((one_stmt *)ctx)->r.done;
}

static void reused_statements_carry_nothing_of_earlier_answers(void **state)
{
    (void)state;
    cst_client c;
    cst_client_open(&svc, 0, &svc.user, &c);
    static const struct {
        const char *method, *target, *body;
        int status;
        bool writes;
    } ex[] = {
        {"POST", "/app/log/private", "{\"id\": 78, \"msg\": \"a longer message than the next\"}",
         200, true},
        {"GET", "/app/log/private?id=78", "", 200, false},
        {"GET", "/app/log/private?id=7800", "", 404, false},
        {"POST", "/app/log/private", "{\"id\": 79, \"msg\": \"m\"}", 200, true},
        {"GET", "/app/log/private?id=79", "", 200, false},
    };
    cs_e2e_statement *s = calloc(1, sizeof *s);
    assert_non_null(s);
    for (size_t round = 0; round < 2; round++) {
        for (size_t i = 0; i < CS_ARRAY_LEN(ex); i++) {
            one_stmt o = {0};
            cs_buf_init(&o.r.body, 0);
            cs_buf_init(&o.r.statement, CS_E2E_MAX);
            char nonce[33];
            snprintf(nonce, sizeof nonce, "%032zx", 1000 + round * 100 + i);
            const cs_http_header h[2] = {{CS_E2E_ATTEST_HEADER, nonce}, JSON_CT[0]};
            const cs_slice body = cs_slice_str(ex[i].body);
            cst_ok(cs_http_client_request(c.http, ex[i].method, ex[i].target, h,
                                          body.len > 0 ? 2 : 1, body, one_stmt_cb, &o));
            cst_run_until(&svc.loop, 30000, one_done, &o, "an attested request");
            assert_int_equal(o.r.status, ex[i].status);
            cst_ok(cs_e2e_verify(cs_buf_slice(&o.r.statement), svc.service_cert, s));
            uint8_t want[16], d[32];
            cst_ok(cs_hex_decode(nonce, want, 16));
            assert_int_equal(s->nonce_len, 16);
            assert_memory_equal(s->nonce, want, 16);
            cs_e2e_request_digest(ex[i].method, ex[i].target, body, d);
            assert_memory_equal(s->request, d, 32);
            cs_e2e_response_digest(o.r.status, cs_buf_slice(&o.r.body), d);
            assert_memory_equal(s->response, d, 32);
            /* a write names its transaction; a read after it names none */
            assert_int_equal(o.txid[0] != '\0', ex[i].writes);
            assert_string_equal(s->written, o.txid);
            assert_int_equal(s->n_calls, 0);
            cs_buf_cleanup(&o.r.body);
            cs_buf_cleanup(&o.r.statement);
        }
    }
    free(s);
    cst_client_close(&c);
}

/* A node record for a node that never joined, with evidence whose report
 * is the real node's with one byte flipped: it must not verify. */
typedef struct fake_node {
    cs_buf evidence;
    bool done;
    consort_err rc;
} fake_node;

#define FAKE_NODE_ID "00000000000000aa"

static consort_err fake_node_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    fake_node *f = ctx;
    node_record r;
    node_record_init(&r);
    r.raft_id = 0xaa;
    snprintf(r.node_address, sizeof r.node_address, "127.0.0.1:1");
    snprintf(r.rpc_address, sizeof r.rpc_address, "127.0.0.1:2");
    snprintf(r.status, sizeof r.status, "Pending");
    consort_err rc = cs_buf_append_slice(&r.evidence, cs_buf_slice(&f->evidence));
    if (rc == CONSORT_OK)
        rc = svc_record_put(tx, FAKE_NODE_ID, &r);
    node_record_cleanup(&r);
    out->commit = true;
    return rc;
}

static void fake_node_done(void *ctx, const cs_node_result *res)
{
    fake_node *f = ctx;
    f->done = true;
    f->rc = res->rc;
}

static bool fake_node_written(void *ctx)
{
    return ((fake_node *)ctx)->done;
}

static json_t *overview_node(json_t *doc, const char *id)
{
    json_t *nodes = json_object_get(doc, "nodes");
    for (size_t i = 0; i < json_array_size(nodes); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(nodes, i), "node_id")), id) ==
            0)
            return json_array_get(nodes, i);
    fail_msg("node %s not in /node/overview", id);
    return NULL;
}

/* GET /node/overview: each node's role, leadership, platform, code id and
 * whether its evidence verifies now (docs/http-api.md). */
static void node_overview(void **state)
{
    (void)state;
    cst_client c;
    cst_client_open(&svc, 0, NULL, &c);
    cst_resp r;
    cst_send(&c, "GET", "/node/quotes", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *quotes = body_json(&r);
    cst_resp_cleanup(&r);
    json_t *q0 = json_array_get(json_object_get(quotes, "quotes"), 0);
    const char *id = cs_node_id(svc.node[0]);

    cst_send(&c, "GET", "/node/overview", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json");
    json_t *doc = body_json(&r);
    cst_resp_cleanup(&r);
    assert_string_equal(json_string_value(json_object_get(doc, "node_id")), id);
    assert_string_equal(json_string_value(json_object_get(doc, "leader_id")), id);
    assert_true(json_integer_value(json_object_get(doc, "raft_term")) >= 1);
    assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 1);
    json_t *n = overview_node(doc, id);
    assert_string_equal(json_string_value(json_object_get(n, "raft_role")), "voter");
    assert_true(json_is_true(json_object_get(n, "is_leader")));
    assert_string_equal(json_string_value(json_object_get(n, "status")), "Trusted");
    assert_string_equal(json_string_value(json_object_get(n, "platform")), "virtual");
    assert_string_equal(json_string_value(json_object_get(n, "code_id")),
                        json_string_value(json_object_get(q0, "code_id")));
    json_t *a = json_object_get(n, "attestation");
    assert_true(json_is_true(json_object_get(a, "verified")));
    assert_true(json_is_false(json_object_get(a, "debug")));
    assert_true(json_is_integer(json_object_get(a, "security_version")));
    assert_null(json_object_get(a, "error"));
    json_decref(doc);

    /* a record whose evidence does not verify: listed, not verified, with why */
    fake_node f = {0};
    cs_buf raw;
    cs_buf_init(&raw, 0);
    cst_ok(cs_b64_decode(cs_slice_str(json_string_value(json_object_get(q0, "evidence"))), &raw));
    cs_evidence ev;
    cs_evidence_init(&ev);
    cst_ok(cs_evidence_decode(cs_buf_slice(&raw), &ev));
    ev.evidence.ptr[ev.evidence.len / 2] ^= 0x01;
    cs_buf_init(&f.evidence, 0);
    cst_ok(cs_evidence_encode(&ev, &f.evidence));
    cs_evidence_cleanup(&ev);
    cs_buf_cleanup(&raw);
    cst_ok(cs_node_write(svc.node[0], fake_node_fn, &f, fake_node_done, &f));
    cst_run_until(&svc.loop, 10000, fake_node_written, &f, "the record written");
    cst_ok(f.rc);
    cs_buf_cleanup(&f.evidence);

    cst_send(&c, "GET", "/node/overview", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    doc = body_json(&r);
    cst_resp_cleanup(&r);
    assert_int_equal(json_array_size(json_object_get(doc, "nodes")), 2);
    n = overview_node(doc, FAKE_NODE_ID);
    assert_string_equal(json_string_value(json_object_get(n, "raft_role")), "none");
    assert_true(json_is_false(json_object_get(n, "is_leader")));
    assert_string_equal(json_string_value(json_object_get(n, "status")), "Pending");
    assert_string_equal(json_string_value(json_object_get(n, "platform")), "virtual");
    a = json_object_get(n, "attestation");
    assert_true(json_is_false(json_object_get(a, "verified")));
    const char *why = json_string_value(json_object_get(a, "error"));
    assert_non_null(why);
    assert_true(strlen(why) > 0);
    assert_null(json_object_get(a, "security_version"));
    /* the real node still verifies */
    n = overview_node(doc, id);
    assert_true(json_is_true(json_object_get(json_object_get(n, "attestation"), "verified")));
    json_decref(doc);
    json_decref(quotes);
    cst_client_close(&c);
}

/* GET /console: the embedded files (node/console.h) over HTTPS. */
static void console_files(void **state)
{
    (void)state;
    cst_client c;
    cst_client_open(&svc, 0, NULL, &c);
    cst_resp r;
    const cs_console_asset *index = cs_console_find("/console/index.html");
    assert_non_null(index);
    cst_send(&c, "GET", "/console", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/html; charset=utf-8");
    assert_int_equal(r.body.len, index->len);
    assert_memory_equal(r.body.ptr, index->data, index->len);
    cst_resp_cleanup(&r);
    cst_send(&c, "GET", "/console/console.js", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/javascript; charset=utf-8");
    cst_resp_cleanup(&r);
    const cs_http_header inm[] = {{"If-None-Match", index->etag}};
    cst_send(&c, "GET", "/console/index.html", inm, 1, NULL, &r);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.body.len, 0);
    cst_resp_cleanup(&r);
    cst_send(&c, "GET", "/console/x.html", NULL, 0, NULL, &r);
    assert_int_equal(r.status, 404);
    cst_resp_cleanup(&r);
    cst_send(&c, "PUT", "/console", NULL, 0, "x", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET");
    cst_resp_cleanup(&r);
    cst_client_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(node_endpoints),
        cmocka_unit_test(records_round_trip),
        cmocka_unit_test(transaction_ids_and_receipts_errors),
        cmocka_unit_test(gov_members_and_users),
        cmocka_unit_test(routing_errors),
        cmocka_unit_test(authentication),
        cmocka_unit_test(server_limits),
        cmocka_unit_test(statements_share_a_signature),
        cmocka_unit_test(reused_statements_carry_nothing_of_earlier_answers),
        cmocka_unit_test(every_write_gets_a_receipt),
        cmocka_unit_test(console_files),
        cmocka_unit_test(node_overview), /* last: it adds a node record */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
