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

consort_err cs_e2e_check(const cs_e2e_statement *s, const cs_e2e_expect *e, const cs_e2e_policy *p)
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
    CS_ENSURE(s->n_calls == 0, CONSORT_E_UNSUPPORTED,
              "the statement names %zu back-end calls; this verifier does not check nested "
              "statements yet",
              s->n_calls);
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
