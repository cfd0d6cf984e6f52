/*
 * HTTPS requests from the sandbox to its nodes (sandbox.h): TLS 1.3 with
 * the pinned service certificate as the only root and user0's certificate
 * as the client certificate, one request per connection, on a private libuv
 * loop run until the answer (or a bounded failure) is in.
 */
#include "sandbox.h"

#include "base/alloc.h"
#include "net/http_client.h"
#include "net/timer.h"
#include "net/tls_stream.h"

#include <jansson.h>
#include <string.h>
#include <time.h>

#define BODY_MAX    ((size_t)1 << 20)
#define CLOSE_SPINS 400 /* x 5 ms */

struct cs_sbx_client {
    uv_loop_t loop;
    cs_key *key;
    cs_x509 *cert;
    cs_x509 *service;
    cs_tls_pinned pin;
    cs_tls_config *tls;
};

/* One request in flight: lives on cs_sbx_get's stack until every callback ran. */
typedef struct get_op {
    const char *method;
    const char *path;
    const cs_http_header *headers;
    size_t header_count;
    cs_slice request_body;
    bool connected_cb; /* cs_tls_connect's callback ran */
    bool done;         /* the answer or the failure is in */
    consort_err rc;
    char why[CS_ERRMSG_MAX];
    int status;
    cs_buf *body;
    cs_http_client *http;
} get_op;

/* Ends the GET with `rc` and, on failure, its message `msg`. */
static void finish(get_op *op, consort_err rc, const char *msg)
{
    if (op->done)
        return;
    op->done = true;
    op->rc = rc;
    if (rc != CONSORT_OK)
        snprintf(op->why, sizeof op->why, "%s", msg);
}

static void on_response(void *ctx, consort_err err, const char *msg, const cs_http_response *resp)
{
    get_op *op = ctx;
    if (err == CONSORT_OK) {
        op->status = resp->status;
        err = cs_buf_append_slice(op->body, resp->body);
        msg = consort_errmsg(); /* synchronous: the append's failure */
    }
    finish(op, err, msg);
}

static void on_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    get_op *op = ctx;
    op->connected_cb = true;
    if (err != CONSORT_OK) {
        finish(op, err, msg);
        return;
    }
    const cs_http_client_params params = {.limits = {.max_body_bytes = BODY_MAX}};
    err = cs_http_client_new(s, &params, &op->http);
    if (err == CONSORT_OK)
        err = cs_http_client_request(op->http, op->method, op->path, op->headers, op->header_count,
                                     op->request_body, on_response, op);
    if (err != CONSORT_OK)
        finish(op, err, consort_errmsg()); /* synchronous */
}

static void on_timeout(void *ctx)
{
    get_op *op = ctx;
    char why[CS_ERRMSG_MAX];
    snprintf(why, sizeof why, "no answer to %s %s in time", op->method, op->path);
    finish(op, CONSORT_E_TIMEOUT, why);
}

consort_err cs_sbx_get(cs_sbx_client *c, const char *address, const char *path, uint32_t timeout_ms,
                       int *status, cs_buf *body)
{
    return cs_sbx_request(c, address, "GET", path, NULL, CS_SLICE_EMPTY, timeout_ms, status, body);
}

consort_err cs_sbx_request(cs_sbx_client *c, const char *address, const char *method,
                           const char *path, const char *content_type, cs_slice request_body,
                           uint32_t timeout_ms, int *status, cs_buf *body)
{
    const cs_http_header ct = {"Content-Type", content_type};
    get_op op = {.method = method,
                 .path = path,
                 .headers = content_type != NULL ? &ct : NULL,
                 .header_count = content_type != NULL ? 1 : 0,
                 .request_body = request_body,
                 .body = body};
    cs_timer *timer = NULL;
    CS_TRY(cs_timer_new(&c->loop, on_timeout, &op, &timer));
    cs_timer_start(timer, timeout_ms);
    consort_err rc = cs_tls_connect(&c->loop, address, c->tls, on_connect, &op);
    if (rc != CONSORT_OK) {
        cs_timer_free(timer);
        return cs_err_context(rc, "%s https://%s%s", method, address, path);
    }
    /* The connect callback always runs (the handshake has its own timeout). */
    while (!(op.done && op.connected_cb)) {
        if (uv_run(&c->loop, UV_RUN_ONCE) == 0 && !(op.done && op.connected_cb)) {
            finish(&op, CONSORT_E_STATE, "the event loop ran dry");
            break;
        }
        if (op.done && op.http != NULL) {
            cs_http_client_free(op.http); /* runs on_response at once if still pending */
            op.http = NULL;
        }
    }
    cs_timer_free(timer);
    cs_http_client_free(op.http);
    uv_run(&c->loop, UV_RUN_NOWAIT); /* let the closes proceed */
    if (op.rc != CONSORT_OK)
        return cs_fail(op.rc, "%s https://%s%s: %s", method, address, path, op.why);
    *status = op.status;
    return CONSORT_OK;
}

consort_err cs_sbx_client_new(const char *service_cert, const char *user_cert, const char *user_key,
                              cs_sbx_client **out)
{
    cs_sbx_client *c = cs_calloc(1, sizeof *c);
    CS_ENSURE(c != NULL, CONSORT_E_NOMEM, "sandbox client: out of memory");
    consort_err rc = CONSORT_OK;
    int uv = uv_loop_init(&c->loop);
    if (uv != 0) {
        cs_free(c);
        return cs_fail(CONSORT_E_IO, "uv_loop_init: %s", uv_strerror(uv));
    }
    CS_TRY_GOTO(rc, cs_x509_load_file(service_cert, &c->service), fail);
    CS_TRY_GOTO(rc, cs_x509_load_file(user_cert, &c->cert), fail);
    CS_TRY_GOTO(rc, cs_key_load_pem_file(user_key, &c->key), fail);
    c->pin = (cs_tls_pinned){.roots = &c->service, .root_count = 1};
    static const char *const alpn[] = {"http/1.1", NULL};
    const cs_tls_params params = {
        .role = CS_TLS_CLIENT,
        .key = c->key,
        .cert = c->cert,
        .verify = cs_tls_verify_pinned,
        .verify_ctx = &c->pin,
        .alpn = alpn,
    };
    CS_TRY_GOTO(rc, cs_tls_config_new(&params, &c->tls), fail);
    *out = c;
    return CONSORT_OK;
fail:
    cs_sbx_client_free(c);
    return rc;
}

void cs_sbx_client_free(cs_sbx_client *c)
{
    if (c == NULL)
        return;
    /* every handle of a finished request is closing; let them go (bounded: a
     * peer that never finishes its close must not hang the sandbox) */
    for (int i = 0; i < CLOSE_SPINS && uv_run(&c->loop, UV_RUN_NOWAIT) != 0; i++) {
        const struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    (void)uv_loop_close(&c->loop); /* EBUSY if something lingered: released at exit */
    cs_tls_config_free(c->tls);
    cs_key_free(c->key);
    cs_x509_free(c->cert);
    cs_x509_free(c->service);
    cs_free(c);
}

/* GET `path` and parse a 200 answer as a JSON object (*doc; caller decrefs). */
static consort_err get_json(cs_sbx_client *c, const char *address, const char *path, json_t **doc)
{
    cs_buf body;
    cs_buf_init(&body, BODY_MAX);
    int status = 0;
    consort_err rc = cs_sbx_get(c, address, path, 3000, &status, &body);
    if (rc == CONSORT_OK && status != 200)
        rc = cs_fail(CONSORT_E_STATE, "GET %s: HTTP %d: %.*s", path, status,
                     (int)(body.len > 200 ? 200 : body.len), (const char *)body.ptr);
    if (rc == CONSORT_OK) {
        json_error_t jerr;
        *doc = json_loadb((const char *)body.ptr, body.len, 0, &jerr);
        if (*doc == NULL || !json_is_object(*doc)) {
            json_decref(*doc);
            *doc = NULL;
            rc = cs_fail(CONSORT_E_MALFORMED, "GET %s: not a JSON object: %s", path, jerr.text);
        }
    }
    cs_buf_cleanup(&body);
    return rc;
}

consort_err cs_sbx_node_open(cs_sbx_client *c, const char *address, bool *open, char *why,
                             size_t why_len)
{
    json_t *doc = NULL;
    *open = false;
    consort_err rc = get_json(c, address, "/node/state", &doc);
    if (rc != CONSORT_OK) {
        snprintf(why, why_len, "%s", consort_errmsg());
        return CONSORT_OK; /* not answering yet is not an error of the sandbox */
    }
    const char *state = json_string_value(json_object_get(doc, "state"));
    *open = state != NULL && strcmp(state, "PartOfNetwork") == 0;
    snprintf(why, why_len, "GET /node/state says state %s", state ? state : "(missing)");
    json_decref(doc);
    return CONSORT_OK;
}

consort_err cs_sbx_trusted_nodes(cs_sbx_client *c, const char *address, size_t *count)
{
    json_t *doc = NULL;
    CS_TRY(get_json(c, address, "/node/network", &doc));
    json_t *nodes = json_object_get(doc, "nodes");
    size_t index;
    json_t *node;
    *count = 0;
    json_array_foreach(nodes, index, node)
    {
        const char *status = json_string_value(json_object_get(node, "status"));
        if (status != NULL && strcmp(status, "Trusted") == 0)
            (*count)++;
    }
    json_decref(doc);
    return CONSORT_OK;
}
