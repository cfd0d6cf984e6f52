/*
 * Handling statements on answers (e2e/statement.h, docs/e2e.md): when a
 * request carries x-consort-attest, its answer carries the service's signed
 * statement of what it received, what it answered, which code ids it
 * trusted then (with their logged code certificates) and the transaction it
 * wrote. Called by cs_rpc_respond only; it calls no other rpc file.
 */
#include "node/rpc_priv.h"

#include "base/alloc.h"
#include "base/log.h"
#include "crypto/b64.h"
#include "crypto/hash.h"
#include "e2e/statement.h"
#include "node/service_maps.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The code ids the service trusts and their logged certificates, as read
 * at one policy generation (cs_node_policy_generation): only governance
 * transactions change them, so every statement until the next one reuses
 * the read instead of walking the maps and decoding the certificates'
 * JSON and base64 again. */
struct rpc_codes {
    bool valid;
    uint64_t generation;
    size_t count;
    uint8_t id[CS_E2E_MAX_CODE_IDS][32];
    cs_buf cert[CS_E2E_MAX_CODE_IDS]; /* empty: none logged */
};

typedef struct codes_ctx {
    cs_kv_tx *tx;
    rpc_codes *codes;
    consort_err rc;
} codes_ctx;

static bool code_cb(void *ctx, cs_slice key, cs_slice value)
{
    codes_ctx *c = ctx;
    if (!cs_slice_eq(value, CS_SLICE_LIT(SVC_CODE_ID_OK)) || key.len != 64)
        return true;
    rpc_codes *codes = c->codes;
    if (codes->count == CS_E2E_MAX_CODE_IDS) {
        c->rc = cs_fail(CONSORT_E_TOO_LARGE, "more than %d trusted code ids", CS_E2E_MAX_CODE_IDS);
        return false;
    }
    char hex[65];
    memcpy(hex, key.ptr, 64);
    hex[64] = '\0';
    if ((c->rc = cs_hex_decode(hex, codes->id[codes->count], 32)) != CONSORT_OK)
        return false;
    cs_slice v;
    bool found = false;
    c->rc = cs_kv_get(c->tx, CS_SLICE_LIT(SVC_MAP_CODE_CERTS), key, &v, &found);
    json_t *e = found ? json_loadb((const char *)v.ptr, v.len, 0, NULL) : NULL;
    const char *b64 = json_string_value(json_object_get(e, "certificate"));
    cs_buf *cert = &codes->cert[codes->count];
    cs_buf_reset(cert);
    if (c->rc == CONSORT_OK && b64 != NULL)
        c->rc = cs_b64_decode(cs_slice_str(b64), cert);
    json_decref(e);
    codes->count++;
    return c->rc == CONSORT_OK;
}

static consort_err codes_fn(void *ctx, cs_kv_tx *tx, cs_tx_outcome *out)
{
    codes_ctx *c = ctx;
    out->commit = false;
    c->tx = tx;
    CS_TRY(cs_kv_foreach(tx, CS_SLICE_LIT(SVC_MAP_CODE_IDS), code_cb, c));
    return c->rc;
}

/* The trusted code ids as of now: read again only after governance may
 * have changed them. */
static consort_err current_codes(cs_rpc *rpc, const rpc_codes **out)
{
    const uint64_t generation = cs_node_policy_generation(rpc->node);
    rpc_codes *codes = rpc->codes;
    if (codes == NULL) {
        codes = cs_calloc(1, sizeof *codes);
        CS_ENSURE(codes != NULL, CONSORT_E_NOMEM, "handling statement: out of memory");
        for (size_t i = 0; i < CS_E2E_MAX_CODE_IDS; i++)
            cs_buf_init(&codes->cert[i], CS_E2E_MAX / 4);
        rpc->codes = codes;
    }
    if (!codes->valid || codes->generation != generation) {
        codes->valid = false;
        codes->count = 0;
        codes_ctx c = {.codes = codes, .rc = CONSORT_OK};
        CS_TRY(cs_node_read(rpc->node, codes_fn, &c));
        codes->valid = true;
        codes->generation = generation;
    }
    *out = codes;
    return CONSORT_OK;
}

void cs_rpc_statements_cleanup(cs_rpc *rpc)
{
    if (rpc->codes == NULL)
        return;
    for (size_t i = 0; i < CS_E2E_MAX_CODE_IDS; i++)
        cs_buf_cleanup(&rpc->codes->cert[i]);
    cs_free(rpc->codes);
    rpc->codes = NULL;
}

consort_err cs_rpc_attest_policy(const cs_http_request *req, cs_e2e_policy_doc *doc, bool *present)
{
    const char *b64 = cs_http_request_header(req, CS_E2E_POLICY_HEADER);
    *present = b64 != NULL;
    if (b64 == NULL)
        return CONSORT_OK;
    cs_buf json;
    cs_buf_init(&json, 64 << 10);
    consort_err rc = cs_b64_decode(cs_slice_str(b64), &json);
    if (rc == CONSORT_OK)
        rc = cs_e2e_policy_parse(cs_buf_slice(&json), doc);
    cs_buf_cleanup(&json);
    return rc == CONSORT_OK
               ? rc
               : cs_err_context(rc, "%s (base64 of the policy's JSON)", CS_E2E_POLICY_HEADER);
}

/* The calls of a summary statement: by the digest of each callee's
 * statement and whether it met the client's policy (rpc_egress.c). */
static consort_err add_summary_calls(cs_e2e_statement *s, const cs_app_calls *calls)
{
    for (size_t i = 0; calls != NULL && i < calls->count; i++) {
        const cs_app_call *c = calls->items[i];
        if (c->service_cert.len == 0)
            continue; /* sent nothing anywhere (add_calls) */
        CS_ENSURE(s->n_calls < CS_E2E_MAX_CALLS, CONSORT_E_TOO_LARGE, "more than %d calls",
                  CS_E2E_MAX_CALLS);
        cs_e2e_call *e = &s->calls[s->n_calls++];
        e->has_statement_digest = c->statement.len > 0;
        if (e->has_statement_digest)
            cs_sha256(cs_buf_slice(&c->statement), e->statement_digest);
        e->met_policy = c->met_policy;
    }
    return CONSORT_OK;
}

/* The calls the request made, into s->calls (slices borrow from `calls`). */
static consort_err add_calls(cs_e2e_statement *s, const cs_app_calls *calls)
{
    for (size_t i = 0; calls != NULL && i < calls->count; i++) {
        const cs_app_call *c = calls->items[i];
        /* a call refused before any connection (no binding, a pin that does
         * not match) sent nothing anywhere: there is nothing to attest */
        if (c->service_cert.len == 0)
            continue;
        CS_ENSURE(s->n_calls < CS_E2E_MAX_CALLS, CONSORT_E_TOO_LARGE, "more than %d calls",
                  CS_E2E_MAX_CALLS);
        cs_e2e_call *e = &s->calls[s->n_calls++];
        snprintf(e->service, sizeof e->service, "%s", c->service);
        e->service_cert = cs_buf_slice(&c->service_cert);
        cs_e2e_request_digest(c->method, c->path, cs_buf_slice(&c->body), e->request);
        e->answered = c->answered && c->rc == CONSORT_OK;
        if (e->answered)
            cs_e2e_response_digest(c->status, cs_buf_slice(&c->response), e->response);
        e->statement = cs_buf_slice(&c->statement);
    }
    return CONSORT_OK;
}

/* The payload of the statement for this answer, into `payload`. */
static consort_err build(cs_rpc *rpc, const cs_http_request *req, int status,
                         const cs_http_header *headers, size_t count, cs_slice body,
                         const cs_app_calls *calls, cs_buf *payload)
{
    CS_ENSURE(cs_node_service_key(rpc->node) != NULL && cs_node_service_cert(rpc->node) != NULL,
              CONSORT_E_STATE, "this node does not hold the service identity yet");
    cs_e2e_statement *s = cs_calloc(1, sizeof *s);
    consort_err rc = s != NULL ? CONSORT_OK : cs_fail(CONSORT_E_NOMEM, "handling statement");
    if (rc == CONSORT_OK)
        rc = cs_e2e_parse_nonce(cs_http_request_header(req, CS_E2E_ATTEST_HEADER), s);
    if (rc == CONSORT_OK) {
        cs_e2e_request_digest(req->method, req->target, req->body, s->request);
        cs_e2e_response_digest(status, body, s->response);
        snprintf(s->node, sizeof s->node, "%s", cs_node_id(rpc->node));
        for (size_t i = 0; i < count; i++)
            if (strcasecmp(headers[i].name, CS_RPC_TXID_HEADER) == 0)
                snprintf(s->written, sizeof s->written, "%s", headers[i].value);
        const rpc_codes *codes = NULL;
        rc = current_codes(rpc, &codes);
        for (size_t i = 0; rc == CONSORT_OK && i < codes->count; i++) {
            memcpy(s->codes[i].code_id, codes->id[i], 32);
            s->codes[i].certificate = cs_buf_slice(&codes->cert[i]);
        }
        s->n_codes = rc == CONSORT_OK ? codes->count : 0;
    }
    /* a summary: the client sent its policy (18 KiB parsed: only then) */
    const bool summary = cs_http_request_header(req, CS_E2E_POLICY_HEADER) != NULL;
    cs_e2e_policy_doc *policy = rc == CONSORT_OK && summary ? cs_calloc(1, sizeof *policy) : NULL;
    if (rc == CONSORT_OK && summary && policy == NULL)
        rc = cs_fail(CONSORT_E_NOMEM, "handling statement");
    if (rc == CONSORT_OK && summary)
        rc = cs_rpc_attest_policy(req, policy, &s->summary);
    if (rc == CONSORT_OK && s->summary)
        rc = cs_e2e_policy_digest(&policy->p, s->policy);
    if (rc == CONSORT_OK)
        rc = s->summary ? add_summary_calls(s, calls) : add_calls(s, calls);
    if (policy != NULL)
        cs_e2e_policy_doc_cleanup(policy);
    cs_free(policy);
    if (rc == CONSORT_OK)
        rc = cs_e2e_encode(s, payload);
    cs_free(s);
    return rc;
}

/* ---- signing in batches ----
 * An answer that needs a statement waits, with a copy of its status,
 * headers and body, for the end of the loop's turn; then everything that
 * waits is signed at once (cs_e2e_sign_batch: one signature per up to
 * CS_E2E_BATCH_MAX statements) and answered. Under load many answers
 * complete in one turn (a commit releases a group of writes), so the
 * signature's cost is shared; alone, an answer waits for nothing but the
 * turn to end. */

struct rpc_stmt {
    rpc_stmt *next;
    cs_http_request *req;
    int status;
    size_t count;
    cs_http_header headers[CS_RPC_STMT_MAX_HEADERS + 1]; /* + the statement */
    cs_buf strings;                                      /* the headers' names and values */
    cs_buf body;
    cs_buf payload;
    cs_buf cose;
};

static void stmt_free(rpc_stmt *st)
{
    cs_buf_cleanup(&st->strings);
    cs_buf_cleanup(&st->body);
    cs_buf_cleanup(&st->payload);
    cs_buf_cleanup(&st->cose);
    cs_free(st);
}

/* Copies the answer into `st` (headers other than a relayed statement). */
static consort_err stmt_copy(rpc_stmt *st, const cs_http_header *headers, size_t count,
                             cs_slice body)
{
    size_t offs[2 * CS_RPC_STMT_MAX_HEADERS], total = 0;
    for (size_t i = 0; i < count; i++)
        total += strlen(headers[i].name) + strlen(headers[i].value) + 2;
    CS_TRY(cs_buf_reserve(&st->strings, total));
    CS_TRY(cs_buf_reserve(&st->body, body.len));
    for (size_t i = 0; i < count; i++) {
        if (strcasecmp(headers[i].name, CS_E2E_HEADER) == 0)
            continue; /* a relayed leader's own: this one replaces it */
        CS_ENSURE(st->count < CS_RPC_STMT_MAX_HEADERS, CONSORT_E_TOO_LARGE, "more than %d headers",
                  CS_RPC_STMT_MAX_HEADERS);
        offs[2 * st->count] = st->strings.len;
        CS_TRY(cs_buf_append(&st->strings, headers[i].name, strlen(headers[i].name) + 1));
        offs[2 * st->count + 1] = st->strings.len;
        CS_TRY(cs_buf_append(&st->strings, headers[i].value, strlen(headers[i].value) + 1));
        st->count++;
    }
    for (size_t i = 0; i < st->count; i++) /* the buffer no longer moves */
        st->headers[i] = (cs_http_header){(const char *)st->strings.ptr + offs[2 * i],
                                          (const char *)st->strings.ptr + offs[2 * i + 1]};
    return cs_buf_append_slice(&st->body, body);
}

/* Answers `st` with its statement (st->cose), or without one if `signed_ok`
 * is false (the client's check then fails closed), and frees it. */
static void stmt_answer(rpc_stmt *st, bool signed_ok)
{
    cs_buf b64;
    cs_buf_init(&b64, CS_E2E_MAX * 2);
    if (signed_ok && cs_buf_reserve(&b64, (st->cose.len + 2) / 3 * 4 + 1) == CONSORT_OK &&
        cs_b64_encode(cs_buf_slice(&st->cose), &b64) == CONSORT_OK &&
        cs_buf_append_u8(&b64, 0) == CONSORT_OK)
        st->headers[st->count++] = (cs_http_header){CS_E2E_HEADER, (const char *)b64.ptr};
    else if (signed_ok)
        cs_log_warn("rpc", "no handling statement for %s %s: %s", st->req->method, st->req->path,
                    consort_errmsg());
    if (cs_http_respond(st->req, st->status, st->headers, st->count, cs_buf_slice(&st->body)) !=
        CONSORT_OK)
        cs_log_warn("rpc", "response %d not sent: %s", st->status, consort_errmsg());
    cs_buf_cleanup(&b64);
    stmt_free(st);
}

/* Signs and answers up to CS_E2E_BATCH_MAX waiting answers. */
static void sign_some(cs_rpc *rpc)
{
    rpc_stmt *batch[CS_E2E_BATCH_MAX];
    cs_slice payloads[CS_E2E_BATCH_MAX];
    cs_buf outs[CS_E2E_BATCH_MAX];
    size_t n = 0;
    while (rpc->stmts != NULL && n < CS_E2E_BATCH_MAX) {
        rpc_stmt *st = rpc->stmts;
        rpc->stmts = st->next;
        batch[n] = st;
        payloads[n] = cs_buf_slice(&st->payload);
        outs[n] = st->cose;
        n++;
    }
    if (rpc->stmts == NULL)
        rpc->stmts_tail = &rpc->stmts;
    const cs_key *key = cs_node_service_key(rpc->node);
    const cs_x509 *cert = cs_node_service_cert(rpc->node);
    consort_err rc = key != NULL && cert != NULL
                         ? cs_e2e_sign_batch(payloads, n, key, cert, outs)
                         : cs_fail(CONSORT_E_STATE, "the service identity is gone");
    if (rc == CONSORT_OK) {
        rpc->stats.statements += n;
        rpc->stats.statement_signatures++;
    } else {
        cs_log_warn("rpc", "%zu handling statements not signed: %s", n, consort_errmsg());
    }
    for (size_t i = 0; i < n; i++) {
        batch[i]->cose = outs[i];
        stmt_answer(batch[i], rc == CONSORT_OK);
    }
}

static void sign_waiting(void *ctx)
{
    cs_rpc *rpc = ctx;
    while (rpc->stmts != NULL)
        sign_some(rpc);
}

void cs_rpc_statements_flush(cs_rpc *rpc)
{
    cs_defer_cancel(rpc->defer, &rpc->stmts_item);
    sign_waiting(rpc);
}

consort_err cs_rpc_respond_with_statement(cs_rpc *rpc, cs_http_request *req, int status,
                                          const cs_http_header *headers, size_t count,
                                          cs_slice body, const cs_app_calls *calls)
{
    rpc_stmt *st = cs_calloc(1, sizeof *st);
    if (st == NULL)
        return cs_http_respond(req, status, headers, count, body);
    cs_buf_init(&st->strings, (size_t)64 << 10);
    cs_buf_init(&st->body, 0);
    cs_buf_init(&st->payload, CS_E2E_MAX);
    cs_buf_init(&st->cose, CS_E2E_MAX + 4096);
    consort_err rc = build(rpc, req, status, headers, count, body, calls, &st->payload);
    if (rc == CONSORT_OK)
        rc = stmt_copy(st, headers, count, body);
    if (rc != CONSORT_OK) { /* answered without one: the client's check fails closed */
        cs_log_warn("rpc", "no handling statement for %s %s: %s", req->method, req->path,
                    consort_errmsg());
        stmt_free(st);
        return cs_http_respond(req, status, headers, count, body);
    }
    st->req = req;
    st->status = status;
    *rpc->stmts_tail = st;
    rpc->stmts_tail = &st->next;
    cs_defer_call(rpc->defer, &rpc->stmts_item, sign_waiting, rpc);
    return CONSORT_OK;
}
