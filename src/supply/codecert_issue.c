/* Issuing code certificates (codecert.h). */
#include "supply/codecert.h"

#include "base/cbor.h"
#include "crypto/cose.h"
#include "crypto/hash.h"

#include <stdio.h>
#include <string.h>

#define HDR_X5CHAIN 33 /* RFC 9360 */

/* The step called `name` in the passed chain, or NULL. */
static const cs_intoto_step_summary *chain_step(const cs_intoto_chain *c, const char *name)
{
    for (size_t s = 0; s < c->n_steps; s++)
        if (strcmp(c->steps[s].name, name) == 0)
            return &c->steps[s];
    return NULL;
}

/* A claim name: 1..64 of [a-z0-9_]. */
static bool claim_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* The request's own checks, before any chain is verified. */
static consort_err check_request(const cs_codecert_request *req)
{
    CS_ENSURE(req->artifact_path != NULL && req->artifact_path[0] != '\0' &&
                  strlen(req->artifact_path) <= CS_INTOTO_MAX_PATH,
              CONSORT_E_INVALID_ARGUMENT, "code certificate: the artifact's path is missing");
    CS_ENSURE(req->n_asserted <= CS_CODECERT_MAX_ASSERTED, CONSORT_E_INVALID_ARGUMENT,
              "code certificate: %zu asserted claims, at most %d", req->n_asserted,
              CS_CODECERT_MAX_ASSERTED);
    CS_ENSURE(req->n_links <= CS_CODECERT_MAX_LINKS, CONSORT_E_INVALID_ARGUMENT,
              "code certificate: %zu link files, at most %d", req->n_links, CS_CODECERT_MAX_LINKS);
    for (size_t i = 0; i < req->n_asserted; i++) {
        const char *c = req->asserted[i];
        const char *eq = strchr(c, '=');
        CS_ENSURE(eq != NULL && claim_name_ok(c, (size_t)(eq - c)), CONSORT_E_INVALID_ARGUMENT,
                  "claim '%.80s': expected NAME=VALUE with NAME of a-z, 0-9 and _", c);
        size_t n = (size_t)(eq - c);
        CS_ENSURE(!(n == 6 && memcmp(c, "tested", 6) == 0) &&
                      !(n == 11 && memcmp(c, "reviewed_by", 11) == 0),
                  CONSORT_E_INVALID_ARGUMENT,
                  "claim '%.80s': \"tested\" and \"reviewed_by\" come from the chain's steps, "
                  "never from the issuer",
                  c);
        CS_ENSURE(strlen(eq + 1) <= CS_CODECERT_MAX_CLAIM, CONSORT_E_INVALID_ARGUMENT,
                  "claim '%.80s': value longer than %d bytes", c, CS_CODECERT_MAX_CLAIM);
        for (size_t j = 0; j < i; j++)
            CS_ENSURE(strncmp(req->asserted[j], c, n + 1) != 0, CONSORT_E_INVALID_ARGUMENT,
                      "claim '%.*s' given twice", (int)n, c);
    }
    return CONSORT_OK;
}

/* The artifact is a product of a step (the last that lists its path) with the same SHA-256. */
static consort_err check_artifact(const cs_codecert_request *req, const cs_intoto_chain *c,
                                  uint8_t digest[32])
{
    cs_sha256(req->artifact, digest);
    char hex[65];
    cs_hex_encode(CS_SLICE(digest, 32), hex);
    for (size_t s = c->n_steps; s-- > 0;) {
        const json_t *p = json_object_get(c->steps[s].products, req->artifact_path);
        if (p == NULL)
            continue;
        const char *want = json_string_value(json_object_get(p, "sha256"));
        CS_ENSURE(want != NULL, CONSORT_E_POLICY,
                  "artifact %.200s: step \"%s\" records no sha256 for it", req->artifact_path,
                  c->steps[s].name);
        CS_ENSURE(strcmp(want, hex) == 0, CONSORT_E_POLICY,
                  "artifact %.200s: its SHA-256 is %s, but step \"%s\" produced %.64s: not the "
                  "artifact the supply chain made",
                  req->artifact_path, hex, c->steps[s].name, want);
        return CONSORT_OK;
    }
    return cs_fail(CONSORT_E_POLICY, "artifact %.200s is a product of no step of the layout",
                   req->artifact_path);
}

/* The step a claim names must exist; "tested" needs every counted link to have returned 0. */
static consort_err check_claims(const cs_codecert_request *req, const cs_intoto_chain *c)
{
    if (req->tested_step != NULL) {
        const cs_intoto_step_summary *s = chain_step(c, req->tested_step);
        CS_ENSURE(s != NULL, CONSORT_E_INVALID_ARGUMENT,
                  "the test step \"%.80s\" is not a step of the layout", req->tested_step);
        if (!s->returned_zero && s->has_return_value)
            return cs_fail(CONSORT_E_POLICY,
                           "the test step \"%s\" returned %lld: the code is not \"tested\"",
                           s->name, (long long)s->return_value);
        CS_ENSURE(s->returned_zero, CONSORT_E_POLICY,
                  "the test step \"%s\" recorded no return value: the code is not \"tested\"",
                  s->name);
    }
    if (req->reviewed_step != NULL)
        CS_ENSURE(chain_step(c, req->reviewed_step) != NULL, CONSORT_E_INVALID_ARGUMENT,
                  "the review step \"%.80s\" is not a step of the layout", req->reviewed_step);
    return CONSORT_OK;
}

static consort_err put_key_ids(cs_buf *b, const cs_intoto_step_summary *s)
{
    CS_TRY(cs_cbor_write_array(b, s->n_keyids));
    for (size_t k = 0; k < s->n_keyids; k++)
        CS_TRY(cs_cbor_write_cstr(b, s->keyids[k]));
    return CONSORT_OK;
}

static consort_err put_claims(cs_buf *b, const cs_codecert_request *req, const cs_intoto_chain *c)
{
    size_t n = req->n_asserted + (req->tested_step != NULL) + (req->reviewed_step != NULL);
    CS_TRY(cs_cbor_write_map(b, n));
    if (req->tested_step != NULL) {
        CS_TRY(cs_cbor_write_cstr(b, "tested"));
        CS_TRY(cs_cbor_write_bool(b, true));
    }
    if (req->reviewed_step != NULL) {
        CS_TRY(cs_cbor_write_cstr(b, "reviewed_by"));
        CS_TRY(put_key_ids(b, chain_step(c, req->reviewed_step)));
    }
    for (size_t i = 0; i < req->n_asserted; i++) {
        const char *eq = strchr(req->asserted[i], '=');
        CS_TRY(cs_cbor_write_text(
            b, CS_SLICE((const uint8_t *)req->asserted[i], (size_t)(eq - req->asserted[i]))));
        CS_TRY(cs_cbor_write_cstr(b, eq + 1));
    }
    return CONSORT_OK;
}

static consort_err put_steps(cs_buf *b, const cs_intoto_chain *c)
{
    CS_TRY(cs_cbor_write_array(b, c->n_steps));
    for (size_t s = 0; s < c->n_steps; s++) {
        const cs_intoto_step_summary *st = &c->steps[s];
        CS_TRY(cs_cbor_write_map(b, 3));
        CS_TRY(cs_cbor_write_cstr(b, "name"));
        CS_TRY(cs_cbor_write_cstr(b, st->name));
        CS_TRY(cs_cbor_write_cstr(b, "functionaries"));
        CS_TRY(put_key_ids(b, st));
        CS_TRY(cs_cbor_write_cstr(b, "return_value"));
        if (st->returned_zero)
            CS_TRY(cs_cbor_write_int(b, 0));
        else if (st->has_return_value)
            CS_TRY(cs_cbor_write_int(b, st->return_value));
        else
            CS_TRY(cs_cbor_write_null(b));
    }
    return CONSORT_OK;
}

static consort_err put_payload(cs_buf *b, const cs_codecert_request *req, const cs_intoto_chain *c,
                               const uint8_t artifact[32])
{
    CS_TRY(cs_cbor_write_map(b, 8));
    CS_TRY(cs_cbor_write_cstr(b, "version"));
    CS_TRY(cs_cbor_write_uint(b, 1));
    CS_TRY(cs_cbor_write_cstr(b, "code_id"));
    CS_TRY(cs_cbor_write_bytes(b, CS_SLICE(req->code_id, 32)));
    CS_TRY(cs_cbor_write_cstr(b, "artifact"));
    CS_TRY(cs_cbor_write_map(b, 2));
    CS_TRY(cs_cbor_write_cstr(b, "path"));
    CS_TRY(cs_cbor_write_cstr(b, req->artifact_path));
    CS_TRY(cs_cbor_write_cstr(b, "sha256"));
    CS_TRY(cs_cbor_write_bytes(b, CS_SLICE(artifact, 32)));
    CS_TRY(cs_cbor_write_cstr(b, "layout_sha256"));
    CS_TRY(cs_cbor_write_bytes(b, CS_SLICE(c->layout_sha256, 32)));
    CS_TRY(cs_cbor_write_cstr(b, "links"));
    CS_TRY(cs_cbor_write_array(b, c->n_links));
    for (size_t i = 0; i < c->n_links; i++) {
        CS_TRY(cs_cbor_write_map(b, 2));
        CS_TRY(cs_cbor_write_cstr(b, "file"));
        CS_TRY(cs_cbor_write_cstr(b, c->links[i].file));
        CS_TRY(cs_cbor_write_cstr(b, "sha256"));
        CS_TRY(cs_cbor_write_bytes(b, CS_SLICE(c->links[i].sha256, 32)));
    }
    CS_TRY(cs_cbor_write_cstr(b, "steps"));
    CS_TRY(put_steps(b, c));
    CS_TRY(cs_cbor_write_cstr(b, "claims"));
    CS_TRY(put_claims(b, req, c));
    CS_TRY(cs_cbor_write_cstr(b, "issued_at"));
    return cs_cbor_write_uint(b, req->now > 0 ? (uint64_t)req->now : 0);
}

static consort_err sign(const cs_key *key, const cs_x509 *cert, cs_slice payload, cs_buf *out)
{
    cs_curve curve = cs_key_curve(key);
    CS_ENSURE(curve == CS_CURVE_P256 || curve == CS_CURVE_P384, CONSORT_E_INVALID_ARGUMENT,
              "code certificate: the issuer key must be an EC key on P-256 or P-384");
    cs_buf der;
    cs_buf_init(&der, 64 << 10);
    consort_err rc = cs_x509_to_der(cert, &der);
    if (rc == CONSORT_OK) {
        const cs_cose_param params[] = {
            CS_COSE_PARAM_TEXT(CS_COSE_HDR_CTY, cs_slice_str(CS_CODECERT_CTY)),
            CS_COSE_PARAM_BYTES(HDR_X5CHAIN, cs_buf_slice(&der)),
        };
        const cs_cose_sign1_params p = {
            .alg = curve == CS_CURVE_P256 ? CS_COSE_ES256 : CS_COSE_ES384,
            .protected_params = params,
            .protected_count = 2,
            .payload = payload,
        };
        rc = cs_cose_sign1_sign(key, &p, out);
    }
    cs_buf_cleanup(&der);
    return rc;
}

consort_err cs_codecert_issue(const cs_codecert_request *req, const cs_key *issuer_key,
                              const cs_x509 *issuer_cert, cs_intoto_result *res, cs_buf *out)
{
    memset(res, 0, sizeof *res);
    CS_TRY(check_request(req));
    cs_intoto_chain chain;
    consort_err rc = cs_intoto_verify_chain(req->layout, req->layout_keys, req->n_layout_keys,
                                            req->links, req->n_links, req->now, res, &chain);
    uint8_t artifact[32];
    if (rc == CONSORT_OK)
        rc = check_artifact(req, &chain, artifact);
    if (rc == CONSORT_OK)
        rc = check_claims(req, &chain);
    cs_buf payload;
    cs_buf_init(&payload, CS_CODECERT_MAX);
    if (rc == CONSORT_OK)
        rc = put_payload(&payload, req, &chain, artifact);
    if (rc == CONSORT_OK)
        rc = sign(issuer_key, issuer_cert, cs_buf_slice(&payload), out);
    cs_buf_cleanup(&payload);
    cs_intoto_chain_cleanup(&chain);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "not certified");
}
