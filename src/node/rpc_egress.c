/*
 * Outbound calls, the network side (include/consort/app.h consort_call;
 * docs/e2e.md "Calling other services"): each call a handler recorded
 * (app_calls.c) goes to the address the members bound to its egress name
 * (gov_egress.c), over TLS whose server must chain to the service
 * certificate bound with it (and match the module's pin, if it declared
 * one), with this service's identity as the client certificate. When the
 * client asked for a handling statement, the call asks the callee for one
 * bound to the call's nonce (cs_e2e_call_nonce) and checks it before the
 * answer is accepted: signed by that service, for this call and answer.
 *
 * Every completion comes from the loop (a connection, a response, a timer),
 * never from inside cs_rpc_egress_start; a call that fails at once (no
 * binding) is failed from a zero-delay timer.
 */
#include "node/rpc_priv.h"

#include "base/alloc.h"
#include "base/log.h"
#include "crypto/b64.h"
#include "crypto/hash.h"
#include "e2e/statement.h"
#include "net/http_client.h"
#include "net/timer.h"
#include "net/tls_stream.h"
#include "node/gov_egress.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* How long one call may take, connection and answer (app.h). */
#define EGRESS_TIMEOUT_MS 10000

/* ---- one call ---- */

typedef struct egress_call {
    rpc_egress_group *g;
    cs_app_call *call;
    size_t index;
    cs_x509 *root;
    cs_tls_pinned pinned;
    cs_tls_config *tls;
    cs_http_client *client;
    cs_timer *timer;
    bool connecting; /* cs_tls_connect's callback is still to come */
    bool finished;
    bool attest;
    uint8_t nonce[CS_E2E_CALL_NONCE_LEN];
    cs_e2e_policy_doc *policy; /* the client's, for a summary statement (or NULL) */
    rpc_egress_pool *pool;     /* where the connection goes back after a good answer */
    char address[128];
    uint8_t cert_fp[32];
    bool keep; /* the connection goes back to the pool */

    consort_err early_rc; /* a failure found before anything was sent */
    char early_msg[256];
} egress_call;

static void group_fire(void *ctx)
{
    rpc_egress_group *g = ctx;
    if (g->done != NULL)
        g->done(g->ctx);
}

static void group_one_done(rpc_egress_group *g)
{
    if (--g->outstanding == 0)
        cs_timer_start(g->timer, 0); /* rpc_priv.h: never from inside this callback */
}

void cs_rpc_egress_group_cleanup(rpc_egress_group *g)
{
    cs_timer_free(g->timer);
    g->timer = NULL;
}

static void call_free(egress_call *ec)
{
    if (ec->policy != NULL)
        cs_e2e_policy_doc_cleanup(ec->policy);
    cs_free(ec->policy);
    cs_timer_free(ec->timer);
    cs_tls_config_free(ec->tls);
    cs_x509_free(ec->root);
    cs_free(ec);
}

/* Ends the call once (answered or failed before); frees it when no
 * callback can still reach it. */
static void finish(egress_call *ec)
{
    if (!ec->finished) {
        ec->finished = true;
        cs_timer_stop(ec->timer);
        cs_http_client *c = ec->client;
        ec->client = NULL;
        if (ec->keep && c != NULL)
            cs_rpc_egress_pool_put(ec->pool, c, ec->address, ec->cert_fp);
        else
            cs_http_client_free(c); /* its pending callback sees `finished` */
        group_one_done(ec->g);
    }
    if (!ec->connecting)
        call_free(ec);
}

static void fail(egress_call *ec, consort_err rc, const char *fmt, ...) CS_PRINTF(3, 4);

static void fail(egress_call *ec, consort_err rc, const char *fmt, ...)
{
    if (ec->finished)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cs_log_info("rpc", "call to %s %s %s failed: %s", ec->call->service, ec->call->method,
                ec->call->path, msg);
    cs_app_call_fail(ec->call, rc, msg);
    finish(ec);
}

static void timed_out(void *ctx)
{
    egress_call *ec = ctx;
    if (ec->early_rc != CONSORT_OK)
        fail(ec, ec->early_rc, "%s", ec->early_msg);
    else
        fail(ec, CONSORT_E_TIMEOUT, "no answer within %d ms", EGRESS_TIMEOUT_MS);
}

/* The callee's statement, checked: by the bound service, for this call and answer. */
static consort_err check_statement(egress_call *ec, const cs_http_response *resp, cs_buf *cose)
{
    const char *b64 = cs_http_response_header(resp, CS_E2E_HEADER);
    CS_ENSURE(b64 != NULL, CONSORT_E_ATTESTATION,
              "the service answered without a handling statement");
    CS_TRY_CTX(cs_b64_decode(cs_slice_str(b64), cose), "its handling statement");
    /* Nested mode: the client checks this statement itself, hop by hop
     * (signature, nonce, digests, policy), and nothing here can make a
     * forged one pass; the connection is TLS to the bound service. So the
     * signature is not checked twice: a bad statement fails the client's
     * check, not the call. A summary names the callee by digest only: the
     * client cannot check it, so this node does, in full. */
    if (ec->policy == NULL)
        return CONSORT_OK;
    cs_e2e_statement *s = cs_calloc(1, sizeof *s);
    CS_ENSURE(s != NULL, CONSORT_E_NOMEM, "handling statement");
    consort_err rc = cs_e2e_verify(cs_buf_slice(cose), ec->root, s);
    uint8_t d[32];
    if (rc == CONSORT_OK &&
        (s->nonce_len != sizeof ec->nonce || memcmp(s->nonce, ec->nonce, sizeof ec->nonce) != 0))
        rc = cs_fail(CONSORT_E_ATTESTATION, "its handling statement answers another request");
    if (rc == CONSORT_OK) {
        cs_e2e_request_digest(ec->call->method, ec->call->path, cs_buf_slice(&ec->call->body), d);
        if (memcmp(d, s->request, 32) != 0)
            rc = cs_fail(CONSORT_E_ATTESTATION, "its handling statement is about another request");
    }
    if (rc == CONSORT_OK) {
        cs_e2e_response_digest(resp->status, resp->body, d);
        if (memcmp(d, s->response, 32) != 0)
            rc = cs_fail(CONSORT_E_ATTESTATION, "its handling statement is about another response");
    }
    /* a summary statement (the client sent its policy): whether this callee,
     * and every service it called, met it; a callee that does not is
     * reported as such, and the client's check fails on it */
    if (rc == CONSORT_OK && ec->policy != NULL) {
        cs_e2e_expect e = {.nonce = ec->nonce,
                           .nonce_len = sizeof ec->nonce,
                           .method = ec->call->method,
                           .target = ec->call->path,
                           .request_body = cs_buf_slice(&ec->call->body),
                           .status = resp->status,
                           .response_body = resp->body};
        ec->call->met_policy = cs_e2e_check_hops(s, &e, &ec->policy->p, NULL, NULL) == CONSORT_OK;
        if (!ec->call->met_policy)
            cs_log_info("rpc", "call to %s: its statement does not meet the client's policy: %s",
                        ec->call->service, consort_errmsg());
        cs_err_clear();
    }
    cs_free(s);
    return rc;
}

static void on_response(void *ctx, consort_err err, const char *msg, const cs_http_response *resp)
{
    egress_call *ec = ctx;
    if (ec->finished)
        return;
    if (err != CONSORT_OK) {
        fail(ec, err, "%s", msg);
        return;
    }
    cs_buf cose;
    cs_buf_init(&cose, CS_E2E_MAX);
    consort_err rc = ec->attest ? check_statement(ec, resp, &cose) : CONSORT_OK;
    if (rc != CONSORT_OK) {
        char why[256];
        snprintf(why, sizeof why, "%s", consort_errmsg());
        cs_buf_cleanup(&cose);
        fail(ec, rc, "%s", why);
        return;
    }
    if (resp->body.len > CONSORT_CALL_BODY_MAX) {
        cs_buf_cleanup(&cose);
        fail(ec, CONSORT_E_TOO_LARGE, "an answer of %zu bytes (at most %zu)", resp->body.len,
             CONSORT_CALL_BODY_MAX);
        return;
    }
    cs_app_call_answer(ec->call, resp->status, resp->body, cs_buf_slice(&cose));
    cs_buf_cleanup(&cose);
    ec->keep = true; /* a good answer: the connection serves the next call */
    finish(ec);
}

static consort_err send_call(egress_call *ec);

static void on_connect(void *ctx, cs_stream *s, consort_err err, const char *msg)
{
    egress_call *ec = ctx;
    ec->connecting = false;
    if (ec->finished) { /* timed out meanwhile */
        if (s != NULL)
            cs_stream_close(s);
        call_free(ec);
        return;
    }
    if (err != CONSORT_OK) {
        fail(ec, err, "connecting to %s: %s", ec->call->service, msg);
        return;
    }
    const cs_http_client_params p = {
        .limits = {.max_body_bytes = CONSORT_CALL_BODY_MAX + 1, .max_header_bytes = 2 * CS_E2E_MAX},
    };
    consort_err rc = cs_http_client_new(s, &p, &ec->client);
    if (rc != CONSORT_OK) {
        fail(ec, rc, "%s", consort_errmsg());
        return;
    }
    rc = send_call(ec);
    if (rc != CONSORT_OK)
        fail(ec, rc, "sending the call: %s", consort_errmsg());
}

/* The request, on ec->client (new, or taken from the pool); its answer
 * comes later, from the loop. */
static consort_err send_call(egress_call *ec)
{
    char nonce_hex[2 * CS_E2E_CALL_NONCE_LEN + 1];
    cs_hex_encode(CS_SLICE(ec->nonce, sizeof ec->nonce), nonce_hex);
    const cs_http_header h[2] = {{"Content-Type", "application/json"},
                                 {CS_E2E_ATTEST_HEADER, nonce_hex}};
    consort_err rc =
        cs_http_client_request(ec->client, ec->call->method, ec->call->path, h, ec->attest ? 2 : 1,
                               cs_buf_slice(&ec->call->body), on_response, ec);
    return rc;
}

typedef struct lookup {
    const char *name;
    rpc_egress_pool *pool;
    char address[128];
    cs_x509 *cert;
} lookup;

static consort_err lookup_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    lookup *l = ctx;
    out->commit = false;
    cs_slice v;
    CS_TRY(gov_egress_get_raw(tx, l->name, &v));
    return cs_rpc_egress_binding(l->pool, l->name, v, l->address, &l->cert);
}

/* The binding, the pin and the TLS configuration; then the connection. */
static consort_err connect_call(cs_rpc *rpc, egress_call *ec)
{
    const cs_app_egress *decl = cs_app_egress_find(rpc->app, ec->call->service);
    CS_ENSURE(decl != NULL, CONSORT_E_POLICY, "'%s' is not a declared egress service",
              ec->call->service);
    lookup l = {.name = ec->call->service, .pool = rpc->egress};
    consort_err rc = cs_node_read(rpc->node, lookup_fn, &l);
    ec->root = l.cert;
    CS_TRY(rc);
    CS_TRY(cs_x509_to_der(ec->root, &ec->call->service_cert));
    if (decl->pinned) {
        uint8_t fp[32];
        cs_sha256(cs_buf_slice(&ec->call->service_cert), fp);
        CS_ENSURE(memcmp(fp, decl->cert_sha256, 32) == 0, CONSORT_E_POLICY,
                  "the members bound '%s' to a service certificate the code does not pin",
                  ec->call->service);
    }
    const cs_key *key = cs_node_service_key(rpc->node);
    const cs_x509 *cert = cs_node_service_cert(rpc->node);
    CS_ENSURE(key != NULL && cert != NULL, CONSORT_E_STATE,
              "this node does not hold the service identity yet");
    ec->pinned = (cs_tls_pinned){.roots = &ec->root, .root_count = 1};
    const cs_tls_params params = {
        .role = CS_TLS_CLIENT,
        .key = key,
        .cert = cert,
        .verify = cs_tls_verify_pinned,
        .verify_ctx = &ec->pinned,
    };
    ec->pool = rpc->egress;
    snprintf(ec->address, sizeof ec->address, "%s", l.address);
    cs_sha256(cs_buf_slice(&ec->call->service_cert), ec->cert_fp);
    ec->client = cs_rpc_egress_pool_take(rpc->egress, ec->address, ec->cert_fp);
    rpc->stats.egress_calls++;
    if (ec->client != NULL)
        return send_call(ec); /* on failure, the early path frees the client */
    rpc->stats.egress_connections++;
    CS_TRY_CTX(cs_tls_config_new(&params, &ec->tls), "TLS configuration");
    CS_TRY(cs_tls_connect(rpc->loop, l.address, ec->tls, on_connect, ec));
    ec->connecting = true;
    return CONSORT_OK;
}

void cs_rpc_egress_start(cs_rpc *rpc, rpc_egress_group *g, cs_app_calls *calls,
                         const cs_http_request *req, void (*done)(void *ctx), void *ctx)
{
    g->done = done;
    g->ctx = ctx;
    if (g->timer == NULL && cs_timer_new(rpc->loop, group_fire, g, &g->timer) != CONSORT_OK) {
        /* no timer: every call fails, and the answer comes from the loop anyway */
        for (size_t i = 0; i < calls->count; i++)
            if (!calls->items[i]->started) {
                calls->items[i]->started = true;
                cs_app_call_fail(calls->items[i], CONSORT_E_NOMEM, "out of memory");
            }
        cs_defer_call(rpc->defer, &g->item, done, ctx);
        return;
    }
    g->outstanding = 1; /* held until every call is started */
    cs_e2e_statement nonce = {0};
    bool attest =
        cs_e2e_parse_nonce(cs_http_request_header(req, CS_E2E_ATTEST_HEADER), &nonce) == CONSORT_OK;
    for (size_t i = 0; i < calls->count; i++) {
        cs_app_call *call = calls->items[i];
        if (call->started)
            continue;
        call->started = true;
        egress_call *ec = cs_calloc(1, sizeof *ec);
        if (ec == NULL) {
            cs_app_call_fail(call, CONSORT_E_NOMEM, "out of memory");
            continue;
        }
        /* its place among the calls the statement will name: those that
         * reached a binding (rpc_statement.c leaves out the others) */
        size_t place = 0;
        for (size_t j = 0; j < i; j++)
            place += calls->items[j]->service_cert.len > 0;
        *ec = (egress_call){.g = g, .call = call, .index = place, .attest = attest};
        bool summary = false;
        if (attest && cs_http_request_header(req, CS_E2E_POLICY_HEADER) != NULL) {
            ec->policy = cs_calloc(1, sizeof *ec->policy);
            if (ec->policy == NULL ||
                cs_rpc_attest_policy(req, ec->policy, &summary) != CONSORT_OK) {
                /* checked at arrival (rpc.c), so out of memory: then the callee is
                 * never said to meet it (met_policy stays false: fail closed) */
                if (ec->policy != NULL)
                    cs_e2e_policy_doc_cleanup(ec->policy);
                cs_free(ec->policy);
                ec->policy = NULL;
                cs_err_clear();
            }
        }
        if (attest)
            cs_e2e_call_nonce(nonce.nonce, nonce.nonce_len, place, ec->nonce);
        if (cs_timer_new(rpc->loop, timed_out, ec, &ec->timer) != CONSORT_OK) {
            cs_free(ec);
            cs_app_call_fail(call, CONSORT_E_NOMEM, "out of memory");
            continue;
        }
        g->outstanding++;
        consort_err rc = connect_call(rpc, ec);
        if (rc != CONSORT_OK) { /* failed at once: told from the loop */
            ec->early_rc = rc;
            snprintf(ec->early_msg, sizeof ec->early_msg, "%s", consort_errmsg());
            cs_timer_start(ec->timer, 0);
        } else {
            cs_timer_start(ec->timer, EGRESS_TIMEOUT_MS);
        }
    }
    /* every start done; a completion is always later than this */
    if (--g->outstanding == 0) /* nothing started (out of memory): answer from the loop */
        cs_timer_start(g->timer, 0);
}
