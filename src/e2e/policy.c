/* A client's end-to-end policy as JSON (statement.h cs_e2e_policy_parse). */
#include "e2e/statement.h"

#include "base/alloc.h"
#include "crypto/hash.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void cs_e2e_policy_doc_cleanup(cs_e2e_policy_doc *d)
{
    for (size_t i = 0; i < CS_E2E_POLICY_MAX_ISSUERS; i++)
        cs_x509_free(d->issuers[i]);
    memset(d, 0, sizeof *d);
}

static consort_err check_members(json_t *doc)
{
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        CS_ENSURE(strcmp(key, "code_ids") == 0 || strcmp(key, "issuers") == 0 ||
                      strcmp(key, "claims") == 0,
                  CONSORT_E_MALFORMED, "unknown member \"%s\" (code_ids, issuers, claims)", key);
        CS_ENSURE(json_is_array(v), CONSORT_E_MALFORMED, "\"%s\" is not an array", key);
    }
    return CONSORT_OK;
}

static consort_err parse(json_t *doc, cs_e2e_policy_doc *d)
{
    CS_TRY(check_members(doc));
    json_t *ids = json_object_get(doc, "code_ids"), *iss = json_object_get(doc, "issuers"),
           *claims = json_object_get(doc, "claims");
    CS_ENSURE(json_array_size(ids) <= CS_E2E_MAX_CODE_IDS &&
                  json_array_size(iss) <= CS_E2E_POLICY_MAX_ISSUERS &&
                  json_array_size(claims) <= CS_E2E_POLICY_MAX_CLAIMS,
              CONSORT_E_TOO_LARGE, "at most %d code_ids, %d issuers and %d claims",
              CS_E2E_MAX_CODE_IDS, CS_E2E_POLICY_MAX_ISSUERS, CS_E2E_POLICY_MAX_CLAIMS);
    /* a claim is only as good as who certified it: never ignored silently */
    CS_ENSURE(json_array_size(claims) == 0 || json_array_size(iss) > 0, CONSORT_E_MALFORMED,
              "\"claims\" without \"issuers\": name the issuers whose certificates must make "
              "them");
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const char *hex = json_string_value(json_array_get(ids, i));
        CS_ENSURE(hex != NULL && strlen(hex) == 64 &&
                      cs_hex_decode(hex, d->code_ids[i], 32) == CONSORT_OK,
                  CONSORT_E_MALFORMED, "code_ids[%zu] is not 64 hex digits", i);
    }
    for (size_t i = 0; i < json_array_size(iss); i++) {
        const char *pem = json_string_value(json_array_get(iss, i));
        CS_ENSURE(pem != NULL, CONSORT_E_MALFORMED, "issuers[%zu] is not a string", i);
        CS_TRY_CTX(cs_x509_from_pem(cs_slice_str(pem), &d->issuers[i]),
                   "issuers[%zu] (a PEM certificate)", i);
    }
    for (size_t i = 0; i < json_array_size(claims); i++) {
        const char *text = json_string_value(json_array_get(claims, i));
        CS_ENSURE(text != NULL && strlen(text) < sizeof d->claims[0], CONSORT_E_MALFORMED,
                  "claims[%zu] is not a string of at most %zu bytes", i, sizeof d->claims[0] - 1);
        d->claim_ptrs[i] = strcpy(d->claims[i], text);
    }
    d->p = (cs_e2e_policy){.code_ids = (const uint8_t(*)[32])d->code_ids,
                           .n_code_ids = json_array_size(ids),
                           .issuers = (const cs_x509 *const *)d->issuers,
                           .n_issuers = json_array_size(iss),
                           .claims = d->claim_ptrs,
                           .n_claims = json_array_size(claims)};
    return CONSORT_OK;
}

consort_err cs_e2e_policy_parse(cs_slice json, cs_e2e_policy_doc *d)
{
    memset(d, 0, sizeof *d);
    if (json.len == 0)
        return CONSORT_OK; /* no policy: any code id */
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)json.ptr, json.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) { /* an array, a number...: freed, not leaked */
        consort_err rc = cs_fail(CONSORT_E_MALFORMED, "policy: %s",
                                 doc == NULL ? jerr.text : "not a JSON object");
        json_decref(doc);
        return rc;
    }
    consort_err rc = parse(doc, d);
    json_decref(doc);
    if (rc != CONSORT_OK) {
        cs_e2e_policy_doc_cleanup(d);
        return cs_err_context(rc, "policy");
    }
    return CONSORT_OK;
}

static int cmp32(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_count(cs_hash_ctx *h, size_t n)
{
    const uint8_t be[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    cs_hash_update(h, CS_SLICE(be, 4));
}

consort_err cs_e2e_policy_digest(const cs_e2e_policy *p, uint8_t out[32])
{
    CS_ENSURE(p->n_code_ids <= CS_E2E_MAX_CODE_IDS && p->n_issuers <= CS_E2E_POLICY_MAX_ISSUERS &&
                  p->n_claims <= CS_E2E_POLICY_MAX_CLAIMS,
              CONSORT_E_INVALID_ARGUMENT, "policy digest: too many entries");
    static const char label[] = "consort e2e policy v1"; /* with its NUL */
    static const uint8_t zero = 0;
    uint8_t ids[CS_E2E_MAX_CODE_IDS][32], fps[CS_E2E_POLICY_MAX_ISSUERS][32];
    const char *claims[CS_E2E_POLICY_MAX_CLAIMS];
    for (size_t i = 0; i < p->n_code_ids; i++)
        memcpy(ids[i], p->code_ids[i], 32);
    for (size_t i = 0; i < p->n_issuers; i++)
        CS_TRY(cs_x509_fingerprint(p->issuers[i], fps[i]));
    for (size_t i = 0; i < p->n_claims; i++)
        claims[i] = p->claims[i];
    qsort(ids, p->n_code_ids, 32, cmp32);
    qsort(fps, p->n_issuers, 32, cmp32);
    qsort(claims, p->n_claims, sizeof claims[0], cmp_str);
    cs_hash_ctx h;
    CS_TRY(cs_hash_init(&h, CS_HASH_SHA256));
    cs_hash_update(&h, CS_SLICE(label, sizeof label));
    put_count(&h, p->n_code_ids);
    for (size_t i = 0; i < p->n_code_ids; i++)
        cs_hash_update(&h, CS_SLICE(ids[i], 32));
    cs_hash_update(&h, CS_SLICE(&zero, 1));
    put_count(&h, p->n_issuers);
    for (size_t i = 0; i < p->n_issuers; i++)
        cs_hash_update(&h, CS_SLICE(fps[i], 32));
    cs_hash_update(&h, CS_SLICE(&zero, 1));
    put_count(&h, p->n_claims);
    for (size_t i = 0; i < p->n_claims; i++)
        cs_hash_update(&h, CS_SLICE(claims[i], strlen(claims[i]) + 1));
    cs_hash_final(&h, out);
    return CONSORT_OK;
}
