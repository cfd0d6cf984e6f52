/*
 * Answers and the read-consistency headers (rpc_priv.h): the one place that
 * writes an HTTP answer or an error body, and that reads x-consort-read and
 * x-consort-min-txid (docs/consistency.md). The bottom of the rpc files:
 * it calls none of them but rpc_statement.c (handling statements) and
 * rpc_account.c (counting answers, the request log).
 */
#include "node/rpc_priv.h"

#include "base/log.h"
#include "e2e/statement.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- answering ---- */

void cs_rpc_respond_calls(cs_rpc *rpc, cs_http_request *req, int status,
                          const cs_http_header *headers, size_t count, cs_slice body,
                          const cs_app_calls *calls)
{
    if (rpc != NULL && status >= 100 && status <= 599)
        rpc->stats.responses[status / 100]++;
    if (rpc != NULL)
        cs_rpc_account_answer(rpc, req, status, headers, count);
    consort_err rc =
        rpc != NULL && cs_http_request_header(req, CS_E2E_ATTEST_HEADER) != NULL
            ? cs_rpc_respond_with_statement(rpc, req, status, headers, count, body, calls)
            : cs_http_respond(req, status, headers, count, body);
    if (rc != CONSORT_OK) /* a 500 went out instead */
        cs_log_warn("rpc", "response %d not sent: %s", status, consort_errmsg());
}

void cs_rpc_respond(cs_rpc *rpc, cs_http_request *req, int status, const cs_http_header *headers,
                    size_t count, cs_slice body)
{
    cs_rpc_respond_calls(rpc, req, status, headers, count, body, NULL);
}

static void respond_errorv(cs_rpc *rpc, cs_http_request *req, int status, const char *code,
                           const cs_http_header *extra, size_t extra_count, const char *fmt,
                           va_list ap) CS_PRINTF(7, 0);

static void respond_errorv(cs_rpc *rpc, cs_http_request *req, int status, const char *code,
                           const cs_http_header *extra, size_t extra_count, const char *fmt,
                           va_list ap)
{
    char message[512];
    vsnprintf(message, sizeof message, fmt, ap);
    /* what a client sent (a path) may not be UTF-8: JSON strings must be */
    for (char *p = message; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    json_t *doc = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (text == NULL) {
        cs_rpc_respond(rpc, req, 500, NULL, 0, CS_SLICE_EMPTY);
        return;
    }
    cs_http_header headers[1 + CS_RPC_MAX_EXTRA_HEADERS] = {{"Content-Type", "application/json"}};
    size_t count = 1;
    for (size_t i = 0; i < extra_count && i < CS_RPC_MAX_EXTRA_HEADERS; i++)
        headers[count++] = extra[i];
    cs_rpc_respond(rpc, req, status, headers, count, cs_slice_str(text));
    free(text);
}

void cs_rpc_respond_error_with(cs_rpc *rpc, cs_http_request *req, int status, const char *code,
                               const cs_http_header *extra, size_t extra_count, const char *fmt,
                               ...)
{
    va_list ap;
    va_start(ap, fmt);
    respond_errorv(rpc, req, status, code, extra, extra_count, fmt, ap);
    va_end(ap);
}

void cs_rpc_respond_error(cs_rpc *rpc, cs_http_request *req, int status, const char *code,
                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    respond_errorv(rpc, req, status, code, NULL, 0, fmt, ap);
    va_end(ap);
}

void cs_rpc_respond_unavailable(cs_rpc *rpc, cs_http_request *req, const char *fmt, ...)
{
    static const cs_http_header retry = {"Retry-After", CS_RPC_RETRY_AFTER};
    va_list ap;
    va_start(ap, fmt);
    respond_errorv(rpc, req, 503, "ServiceUnavailable", &retry, 1, fmt, ap);
    va_end(ap);
}

void cs_rpc_respond_internal(cs_rpc *rpc, cs_http_request *req, consort_err rc, const char *what)
{
    cs_log_warn("rpc", "%s %s: %s: %s", req->method, req->path, what, consort_errmsg());
    cs_rpc_respond_error(rpc, req, 500, "InternalError", "%s: %s (%s)", what, consort_errmsg(),
                         consort_err_name(rc));
}

/* ---- read consistency headers ---- */

bool cs_rpc_wants_linearizable(const cs_http_request *req)
{
    const char *v = cs_http_request_header(req, CS_RPC_READ_HEADER);
    return v != NULL && strcasecmp(v, "linearizable") == 0;
}

bool cs_rpc_read_mode(cs_rpc *rpc, cs_http_request *req, bool *linearizable)
{
    const char *v = cs_http_request_header(req, CS_RPC_READ_HEADER);
    *linearizable = cs_rpc_wants_linearizable(req);
    if (v == NULL || *linearizable || strcasecmp(v, "committed") == 0)
        return true;
    cs_rpc_respond_error(rpc, req, 400, "InvalidInput",
                         "%s must be \"committed\" (the default) or \"linearizable\", not "
                         "\"%.64s\"",
                         CS_RPC_READ_HEADER, v);
    return false;
}

bool cs_rpc_min_txid_invalid(cs_rpc *rpc, cs_http_request *req, cs_txid min)
{
    if (min.seqno == 0 || cs_node_tx_status(rpc->node, min) != CS_TX_INVALID)
        return false;
    cs_rpc_respond_error(rpc, req, 412, "TransactionInvalid",
                         "%s %" PRIu64 ".%" PRIu64
                         ": this transaction never committed and never will (its seqno "
                         "belongs to another term): the read would not see it",
                         CS_RPC_MIN_TXID_HEADER, min.term, min.seqno);
    return true;
}

bool cs_rpc_min_txid(cs_rpc *rpc, cs_http_request *req, cs_txid *out)
{
    *out = (cs_txid){0, 0};
    const char *v = cs_http_request_header(req, CS_RPC_MIN_TXID_HEADER);
    if (v == NULL)
        return true;
    if (cs_txid_parse(v, out) == CONSORT_OK)
        return true;
    cs_rpc_respond_error(rpc, req, 400, "InvalidInput",
                         "%s must be <term>.<seqno>, both decimal and >= 1: %s",
                         CS_RPC_MIN_TXID_HEADER, consort_errmsg());
    return false;
}

/* ---- requests in flight ---- */

void cs_rpc_inflight_add(cs_rpc *rpc, rpc_inflight *f)
{
    f->rpc = rpc;
    f->prev = NULL;
    f->next = rpc->inflight;
    if (rpc->inflight != NULL)
        rpc->inflight->prev = f;
    rpc->inflight = f;
}

void cs_rpc_inflight_remove(rpc_inflight *f)
{
    if (f->rpc == NULL)
        return;
    if (f->prev != NULL)
        f->prev->next = f->next;
    else
        f->rpc->inflight = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
    f->rpc = NULL;
    f->prev = f->next = NULL;
}

void cs_rpc_inflight_detach(cs_rpc *rpc)
{
    while (rpc->inflight != NULL) {
        rpc_inflight *f = rpc->inflight;
        rpc->inflight = f->next;
        f->prev = f->next = NULL;
        f->rpc = NULL;
    }
}
