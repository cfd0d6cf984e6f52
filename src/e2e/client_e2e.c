/*
 * The client library's handling-statement verification (include/consort/
 * client.h consort_e2e_verify): the statement decoded (base64 or COSE),
 * verified against the pinned service, held against the exchange and the
 * policy hop by hop (check.c), and a JSON report of what was verified.
 */
#include <consort/client.h>

#include "base/alloc.h"
#include "crypto/b64.h"
#include "crypto/hash.h"
#include "e2e/statement.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *codes_json(const cs_e2e_statement *s)
{
    json_t *codes = json_array();
    for (size_t i = 0; codes != NULL && i < s->n_codes; i++) {
        char hex[65];
        cs_hex_encode(CS_SLICE(s->codes[i].code_id, 32), hex);
        json_array_append_new(codes, json_pack("{s:s, s:b}", "code_id", hex, "certified",
                                               s->codes[i].certificate.len > 0));
    }
    return codes;
}

/* cs_e2e_hop_fn: each verified callee statement, into the report's "hops". */
static void add_hop(void *ctx, unsigned depth, const cs_e2e_call *call,
                    const cs_e2e_statement *callee)
{
    uint8_t fp[32];
    char hex[65];
    cs_sha256(call->service_cert, fp);
    cs_hex_encode(CS_SLICE(fp, 32), hex);
    json_array_append_new(
        ctx, json_pack("{s:I, s:s, s:s, s:s, s:s, s:o}", "depth", (json_int_t)depth, "service",
                       call->service, "service_cert_sha256", hex, "node", callee->node, "written",
                       callee->written, "code_ids", codes_json(callee)));
}

static consort_err put_report(const cs_e2e_statement *s, json_t *hops, char *out, size_t len)
{
    if (out == NULL)
        return CONSORT_OK;
    json_t *doc = json_pack("{s:s, s:s, s:o, s:I, s:s, s:O}", "node", s->node, "written",
                            s->written, "code_ids", codes_json(s), "calls", (json_int_t)s->n_calls,
                            "mode", s->summary ? "summary" : "nested", "hops", hops);
    char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    CS_ENSURE(text != NULL, CONSORT_E_NOMEM, "report");
    size_t n = strlen(text);
    consort_err rc =
        n < len ? CONSORT_OK : cs_fail(CONSORT_E_TOO_LARGE, "the report needs %zu bytes", n + 1);
    if (rc == CONSORT_OK)
        memcpy(out, text, n + 1);
    free(text);
    return rc;
}

/* The COSE bytes: the header's base64 text, or the COSE_Sign1 (tag 18) itself.
 * Only the text loses its trailing line ends and spaces: the COSE bytes are
 * taken whole, since a signature may end in 0x0a, 0x0d or 0x20. */
static consort_err statement_bytes(const char *text, size_t len, cs_buf *out)
{
    if (len > 0 && (uint8_t)text[0] == 0xd2)
        return cs_buf_append(out, text, len);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    CS_ENSURE(len > 0, CONSORT_E_MALFORMED, "no handling statement (the answer carried none)");
    return cs_err_context(cs_b64_decode(CS_SLICE(text, len), out), "handling statement (base64)");
}

static consort_err verify(const char *statement, size_t statement_len, const char *pem,
                          size_t pem_len, const consort_e2e_exchange *x, const char *policy,
                          size_t policy_len, char *report, size_t report_len)
{
    CS_ENSURE(statement != NULL && pem != NULL && x != NULL && x->nonce_hex != NULL &&
                  x->method != NULL && x->target != NULL &&
                  (x->request_body != NULL || x->request_len == 0) &&
                  (x->response_body != NULL || x->response_len == 0) &&
                  (policy != NULL || policy_len == 0),
              CONSORT_E_INVALID_ARGUMENT, "e2e verify: NULL argument");
    cs_x509 *service = NULL;
    if (cs_x509_from_pem(CS_SLICE(pem, pem_len), &service) != CONSORT_OK)
        return cs_err_context(CONSORT_E_INVALID_ARGUMENT, "service certificate");
    cs_e2e_statement *s = cs_calloc(1, sizeof *s);
    cs_e2e_statement *sent = cs_calloc(1, sizeof *sent);
    cs_e2e_policy_doc *pd = cs_calloc(1, sizeof *pd);
    json_t *hops = json_array();
    cs_buf raw;
    cs_buf_init(&raw, CS_E2E_MAX);
    consort_err rc = s != NULL && sent != NULL && pd != NULL && hops != NULL
                         ? CONSORT_OK
                         : cs_fail(CONSORT_E_NOMEM, "e2e verify");
    if (rc == CONSORT_OK)
        rc = cs_e2e_parse_nonce(x->nonce_hex, sent);
    if (rc == CONSORT_OK)
        rc = cs_e2e_policy_parse(CS_SLICE(policy, policy_len), pd);
    if (rc == CONSORT_OK)
        rc = statement_bytes(statement, statement_len, &raw);
    if (rc == CONSORT_OK)
        rc = cs_e2e_verify(cs_buf_slice(&raw), service, s);
    if (rc == CONSORT_OK) {
        const cs_e2e_expect e = {.nonce = sent->nonce,
                                 .nonce_len = sent->nonce_len,
                                 .method = x->method,
                                 .target = x->target,
                                 .request_body = CS_SLICE(x->request_body, x->request_len),
                                 .status = x->status,
                                 .response_body = CS_SLICE(x->response_body, x->response_len)};
        rc = cs_e2e_check_hops(s, &e, &pd->p, add_hop, hops);
    }
    if (rc == CONSORT_OK)
        rc = put_report(s, hops, report, report_len);
    json_decref(hops);
    cs_buf_cleanup(&raw);
    if (pd != NULL)
        cs_e2e_policy_doc_cleanup(pd);
    cs_free(pd);
    cs_free(sent);
    cs_free(s);
    cs_x509_free(service);
    return rc;
}

consort_err consort_e2e_verify(const char *statement, size_t statement_len,
                               const char *service_cert_pem, size_t pem_len,
                               const consort_e2e_exchange *exchange, const char *policy_json,
                               size_t policy_len, char *report, size_t report_len, char *err,
                               size_t errlen)
{
    consort_err rc = verify(statement, statement_len, service_cert_pem, pem_len, exchange,
                            policy_json, policy_len, report, report_len);
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", rc == CONSORT_OK ? "" : consort_errmsg());
    return rc;
}
