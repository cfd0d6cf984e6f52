/* Holding a handling statement against an exchange and a policy (statement.h). */
#include "e2e/statement.h"

#include "base/alloc.h"
#include "supply/codecert.h"

#include <string.h>

static bool allowed(const cs_e2e_policy *p, const uint8_t id[32])
{
    for (size_t i = 0; i < p->n_code_ids; i++)
        if (memcmp(p->code_ids[i], id, 32) == 0)
            return true;
    return p->n_code_ids == 0;
}

/* The code id's certificate is by a policy issuer, for it, with every claim. */
static consort_err certified(const cs_e2e_policy *p, const cs_e2e_code *code, const char *hex)
{
    CS_ENSURE(code->certificate.len > 0, CONSORT_E_POLICY,
              "code id %.16s... has no code certificate, and the policy requires one", hex);
    cs_codecert *c = cs_calloc(1, sizeof *c);
    CS_ENSURE(c != NULL, CONSORT_E_NOMEM, "code certificate");
    consort_err rc = CONSORT_E_POLICY;
    for (size_t i = 0; i < p->n_issuers && rc != CONSORT_OK; i++)
        rc = cs_codecert_verify(code->certificate, p->issuers[i], c);
    if (rc != CONSORT_OK)
        rc = cs_fail(CONSORT_E_POLICY,
                     "code id %.16s...: its code certificate is not by an issuer the policy names",
                     hex);
    if (rc == CONSORT_OK && memcmp(c->code_id, code->code_id, 32) != 0)
        rc = cs_fail(CONSORT_E_POLICY, "code id %.16s...: its certificate is for another code id",
                     hex);
    for (size_t i = 0; rc == CONSORT_OK && i < p->n_claims; i++)
        rc = cs_codecert_require(c, p->claims[i]);
    cs_free(c);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "code id %.16s...", hex);
}

/* Every code id the statement names meets the policy. */
static consort_err codes_meet(const cs_e2e_statement *s, const cs_e2e_policy *p)
{
    CS_ENSURE(s->n_codes > 0, CONSORT_E_POLICY, "the statement names no code id");
    for (size_t i = 0; i < s->n_codes; i++) {
        char hex[65];
        cs_hex_encode(CS_SLICE(s->codes[i].code_id, 32), hex);
        CS_ENSURE(allowed(p, s->codes[i].code_id), CONSORT_E_POLICY,
                  "code id %.16s... is not one the policy allows", hex);
        if (p->n_issuers > 0)
            CS_TRY(certified(p, &s->codes[i], hex));
    }
    return CONSORT_OK;
}

typedef struct hop_walk {
    const cs_e2e_policy *p;
    cs_e2e_hop_fn fn;
    void *ctx;
} hop_walk;

static consort_err check_calls(const cs_e2e_statement *s, const hop_walk *w, unsigned depth);

/* Call i of `s`: the callee's statement, verified and held against the call. */
static consort_err check_call(const cs_e2e_statement *s, size_t i, const hop_walk *w,
                              unsigned depth)
{
    const cs_e2e_call *c = &s->calls[i];
    CS_ENSURE(c->statement.len > 0, CONSORT_E_POLICY,
              "no handling statement from the service it called: what handled the data there "
              "is not attested");
    CS_ENSURE(depth <= CS_E2E_MAX_DEPTH, CONSORT_E_POLICY,
              "statements nest deeper than %d services", CS_E2E_MAX_DEPTH);
    cs_x509 *cert = NULL;
    CS_TRY_CTX(cs_x509_from_der(c->service_cert, &cert), "its service certificate");
    cs_e2e_statement *callee = cs_calloc(1, sizeof *callee);
    consort_err rc = callee != NULL ? CONSORT_OK : cs_fail(CONSORT_E_NOMEM, "handling statement");
    if (rc == CONSORT_OK)
        rc = cs_e2e_verify(c->statement, cert, callee);
    uint8_t nonce[CS_E2E_CALL_NONCE_LEN];
    cs_e2e_call_nonce(s->nonce, s->nonce_len, i, nonce);
    if (rc == CONSORT_OK &&
        (callee->nonce_len != sizeof nonce || memcmp(callee->nonce, nonce, sizeof nonce) != 0))
        rc = cs_fail(CONSORT_E_POLICY, "its statement answers another request (its nonce is "
                                       "not this call's): replayed or substituted");
    if (rc == CONSORT_OK && memcmp(callee->request, c->request, 32) != 0)
        rc = cs_fail(CONSORT_E_POLICY,
                     "its statement is about another request than the call (request digest)");
    if (rc == CONSORT_OK && (!c->answered || memcmp(callee->response, c->response, 32) != 0))
        rc = cs_fail(CONSORT_E_POLICY,
                     "its statement is about another response than the caller received "
                     "(response digest)");
    if (rc == CONSORT_OK)
        rc = codes_meet(callee, w->p);
    if (rc == CONSORT_OK && w->fn != NULL)
        w->fn(w->ctx, depth, c, callee);
    if (rc == CONSORT_OK)
        rc = check_calls(callee, w, depth + 1);
    cs_free(callee);
    cs_x509_free(cert);
    return rc;
}

static consort_err check_calls(const cs_e2e_statement *s, const hop_walk *w, unsigned depth)
{
    for (size_t i = 0; i < s->n_calls; i++)
        CS_TRY_CTX(check_call(s, i, w, depth), "call %zu (to %s, depth %u)", i, s->calls[i].service,
                   depth);
    return CONSORT_OK;
}

/* A summary statement (statement.h): the service checked the client's
 * policy, this one, on every callee, and names them by digest only. */
static consort_err check_summary(const cs_e2e_statement *s, const cs_e2e_policy *p)
{
    uint8_t d[32];
    CS_TRY(cs_e2e_policy_digest(p, d));
    CS_ENSURE(memcmp(d, s->policy, 32) == 0, CONSORT_E_POLICY,
              "the summary asserts another policy than this one (policy digest): the service "
              "checked its back-ends against something else");
    for (size_t i = 0; i < s->n_calls; i++) {
        CS_ENSURE(s->calls[i].has_statement_digest, CONSORT_E_POLICY,
                  "call %zu: no handling statement from the service it called", i);
        CS_ENSURE(s->calls[i].met_policy, CONSORT_E_POLICY,
                  "call %zu: the service it called does not meet the policy (the summary says "
                  "so)",
                  i);
    }
    return CONSORT_OK;
}

consort_err cs_e2e_check_hops(const cs_e2e_statement *s, const cs_e2e_expect *e,
                              const cs_e2e_policy *p, cs_e2e_hop_fn hops, void *ctx)
{
    CS_ENSURE(e->nonce_len == s->nonce_len && memcmp(e->nonce, s->nonce, s->nonce_len) == 0,
              CONSORT_E_POLICY,
              "the statement answers another request (its nonce is not this request's)");
    uint8_t d[32];
    cs_e2e_request_digest(e->method, e->target, e->request_body, d);
    CS_ENSURE(memcmp(d, s->request, 32) == 0, CONSORT_E_POLICY,
              "the statement is about another request than the one sent (request digest)");
    cs_e2e_response_digest(e->status, e->response_body, d);
    CS_ENSURE(memcmp(d, s->response, 32) == 0, CONSORT_E_POLICY,
              "the statement is about another response than the one received (response "
              "digest)");
    CS_TRY(codes_meet(s, p));
    if (s->summary)
        return check_summary(s, p);
    const hop_walk w = {.p = p, .fn = hops, .ctx = ctx};
    return check_calls(s, &w, 1);
}

consort_err cs_e2e_check(const cs_e2e_statement *s, const cs_e2e_expect *e, const cs_e2e_policy *p)
{
    return cs_e2e_check_hops(s, e, p, NULL, NULL);
}
