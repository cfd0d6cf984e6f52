/* Verifying code certificates (codecert.h). */
#include "supply/codecert.h"

#include "base/cbor.h"
#include "crypto/cose.h"
#include "crypto/hash.h"

#include <stdio.h>
#include <string.h>

#define HDR_X5CHAIN 33 /* RFC 9360 */

static consort_err read_digest(cs_cbor_reader *r, const char *key, uint8_t out[32])
{
    CS_TRY(cs_cbor_read_key(r, key));
    return cs_cbor_read_bytes_exact(r, out, 32, key);
}

static consort_err read_links(cs_cbor_reader *r, cs_codecert *out)
{
    CS_TRY(cs_cbor_read_key(r, "links"));
    uint64_t n;
    CS_TRY(cs_cbor_read_array(r, &n));
    CS_ENSURE(n <= CS_CODECERT_MAX_LINKS, CONSORT_E_TOO_LARGE, "%llu links", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t m;
        char file[CS_INTOTO_MAX_NAME + 32];
        uint8_t digest[32];
        CS_TRY(cs_cbor_read_map(r, &m));
        CS_ENSURE(m == 2, CONSORT_E_MALFORMED, "link %llu: %llu members, expected 2",
                  (unsigned long long)i, (unsigned long long)m);
        CS_TRY(cs_cbor_read_key(r, "file"));
        CS_TRY(cs_cbor_read_cstr(r, file, sizeof file, "link file"));
        CS_TRY(read_digest(r, "sha256", digest));
    }
    out->n_links = (size_t)n;
    return CONSORT_OK;
}

static consort_err read_key_ids(cs_cbor_reader *r, char *joined, size_t cap)
{
    uint64_t n;
    CS_TRY(cs_cbor_read_array(r, &n));
    CS_ENSURE(n <= CS_INTOTO_MAX_PUBKEYS, CONSORT_E_TOO_LARGE, "%llu key ids",
              (unsigned long long)n);
    size_t len = 0;
    if (cap > 0)
        joined[0] = '\0';
    for (uint64_t i = 0; i < n; i++) {
        char id[CS_INTOTO_KEYID_HEX + 1];
        CS_TRY(cs_cbor_read_cstr(r, id, sizeof id, "key id"));
        if (joined != NULL) {
            int w = snprintf(joined + len, cap - len, "%s%s", i ? "," : "", id);
            CS_ENSURE(w > 0 && (size_t)w < cap - len, CONSORT_E_TOO_LARGE,
                      "the key ids do not fit %zu bytes", cap);
            len += (size_t)w;
        }
    }
    return CONSORT_OK;
}

static consort_err read_steps(cs_cbor_reader *r, cs_codecert *out)
{
    CS_TRY(cs_cbor_read_key(r, "steps"));
    uint64_t n;
    CS_TRY(cs_cbor_read_array(r, &n));
    CS_ENSURE(n <= CS_CODECERT_MAX_STEPS, CONSORT_E_TOO_LARGE, "%llu steps", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t m;
        char name[CS_INTOTO_MAX_NAME + 1];
        CS_TRY(cs_cbor_read_map(r, &m));
        CS_ENSURE(m == 3, CONSORT_E_MALFORMED, "step %llu: %llu members, expected 3",
                  (unsigned long long)i, (unsigned long long)m);
        CS_TRY(cs_cbor_read_key(r, "name"));
        CS_TRY(cs_cbor_read_cstr(r, name, sizeof name, "step name"));
        CS_TRY(cs_cbor_read_key(r, "functionaries"));
        CS_TRY(read_key_ids(r, NULL, 0));
        CS_TRY(cs_cbor_read_key(r, "return_value"));
        cs_cbor_item it;
        CS_TRY(cs_cbor_peek(r, &it));
        if (it.type == CS_CBOR_NULL) {
            CS_TRY(cs_cbor_read_null(r));
        } else {
            int64_t rv;
            CS_TRY(cs_cbor_read_int(r, &rv));
        }
    }
    out->n_steps = (size_t)n;
    return CONSORT_OK;
}

static consort_err read_claims(cs_cbor_reader *r, cs_codecert *out)
{
    CS_TRY(cs_cbor_read_key(r, "claims"));
    uint64_t n;
    CS_TRY(cs_cbor_read_map(r, &n));
    CS_ENSURE(n <= CS_CODECERT_MAX_ASSERTED + 2, CONSORT_E_TOO_LARGE, "%llu claims",
              (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        cs_codecert_claim *c = &out->claims[i];
        CS_TRY(cs_cbor_read_cstr(r, c->name, sizeof c->name, "claim name"));
        CS_ENSURE(cs_codecert_claim_get(out, c->name) == NULL, CONSORT_E_MALFORMED,
                  "claim \"%s\" twice", c->name);
        out->n_claims = (size_t)i + 1;
        if (strcmp(c->name, "tested") == 0) {
            bool v;
            CS_TRY(cs_cbor_read_bool(r, &v));
            CS_ENSURE(v, CONSORT_E_MALFORMED, "claim \"tested\" is false");
            snprintf(c->value, sizeof c->value, "true");
        } else if (strcmp(c->name, "reviewed_by") == 0) {
            CS_TRY(read_key_ids(r, c->value, sizeof c->value));
        } else {
            CS_TRY(cs_cbor_read_cstr(r, c->value, sizeof c->value, "claim value"));
        }
    }
    return CONSORT_OK;
}

static consort_err read_payload(cs_slice payload, cs_codecert *out)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, payload);
    uint64_t n, version;
    CS_TRY(cs_cbor_read_map(&r, &n));
    CS_ENSURE(n == 8, CONSORT_E_MALFORMED, "payload of %llu members, expected 8",
              (unsigned long long)n);
    CS_TRY(cs_cbor_read_key(&r, "version"));
    CS_TRY(cs_cbor_read_uint(&r, &version));
    CS_ENSURE(version == 1, CONSORT_E_UNSUPPORTED, "version %llu", (unsigned long long)version);
    CS_TRY(read_digest(&r, "code_id", out->code_id));
    CS_TRY(cs_cbor_read_key(&r, "artifact"));
    CS_TRY(cs_cbor_read_map(&r, &n));
    CS_ENSURE(n == 2, CONSORT_E_MALFORMED, "artifact of %llu members, expected 2",
              (unsigned long long)n);
    CS_TRY(cs_cbor_read_key(&r, "path"));
    CS_TRY(cs_cbor_read_cstr(&r, out->artifact_path, sizeof out->artifact_path, "artifact path"));
    CS_TRY(read_digest(&r, "sha256", out->artifact_sha256));
    CS_TRY(read_digest(&r, "layout_sha256", out->layout_sha256));
    CS_TRY(read_links(&r, out));
    CS_TRY(read_steps(&r, out));
    CS_TRY(read_claims(&r, out));
    CS_TRY(cs_cbor_read_key(&r, "issued_at"));
    uint64_t at;
    CS_TRY(cs_cbor_read_uint(&r, &at));
    CS_ENSURE(at <= INT64_MAX, CONSORT_E_MALFORMED, "issued_at out of range");
    out->issued_at = (int64_t)at;
    return cs_cbor_expect_end(&r);
}

static consort_err check_envelope(const cs_cose_sign1 *msg, const cs_x509 *issuer, cs_codecert *out)
{
    cs_slice cty, x5;
    CS_TRY_CTX(cs_cose_headers_get_text(&msg->protected_hdr, CS_COSE_HDR_CTY, &cty),
               "content type");
    CS_ENSURE(cty.len == strlen(CS_CODECERT_CTY) && memcmp(cty.ptr, CS_CODECERT_CTY, cty.len) == 0,
              CONSORT_E_MALFORMED, "content type \"%.*s\", expected %s", (int)cty.len,
              (const char *)cty.ptr, CS_CODECERT_CTY);
    CS_ENSURE(!msg->detached, CONSORT_E_MALFORMED, "detached payload");
    CS_TRY_CTX(cs_cose_headers_get_bytes(&msg->protected_hdr, HDR_X5CHAIN, &x5),
               "issuer certificate (x5chain)");
    cs_buf der;
    cs_buf_init(&der, 64 << 10);
    consort_err rc = cs_x509_to_der(issuer, &der);
    if (rc == CONSORT_OK && !(der.len == x5.len && memcmp(der.ptr, x5.ptr, x5.len) == 0))
        rc = cs_fail(CONSORT_E_POLICY, "issued by another certificate than the issuer given");
    if (rc == CONSORT_OK)
        cs_sha256(cs_buf_slice(&der), out->issuer_fingerprint);
    cs_buf_cleanup(&der);
    return rc;
}

consort_err cs_codecert_verify(cs_slice cert, const cs_x509 *issuer, cs_codecert *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(cert.len <= CS_CODECERT_MAX, CONSORT_E_TOO_LARGE,
              "code certificate of %zu bytes, at most %zu", cert.len, CS_CODECERT_MAX);
    cs_cose_sign1 msg;
    CS_TRY_CTX(cs_cose_sign1_decode(cert, &msg), "code certificate");
    CS_TRY_CTX(check_envelope(&msg, issuer, out), "code certificate");
    cs_key *key = NULL;
    CS_TRY(cs_x509_public_key(issuer, &key));
    consort_err rc = cs_cose_sign1_verify(&msg, key, NULL);
    cs_key_free(key);
    CS_TRY_CTX(rc, "code certificate: signature");
    rc = read_payload(msg.payload, out);
    if (rc != CONSORT_OK) {
        memset(out, 0, sizeof *out);
        return cs_err_context(rc, "code certificate payload");
    }
    return CONSORT_OK;
}

consort_err cs_codecert_verify_self(cs_slice cert, cs_codecert *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(cert.len <= CS_CODECERT_MAX, CONSORT_E_TOO_LARGE,
              "code certificate of %zu bytes, at most %zu", cert.len, CS_CODECERT_MAX);
    cs_cose_sign1 msg;
    CS_TRY_CTX(cs_cose_sign1_decode(cert, &msg), "code certificate");
    cs_slice x5;
    CS_TRY_CTX(cs_cose_headers_get_bytes(&msg.protected_hdr, HDR_X5CHAIN, &x5),
               "code certificate: issuer certificate (x5chain)");
    cs_x509 *issuer = NULL;
    CS_TRY_CTX(cs_x509_from_der(x5, &issuer), "code certificate: issuer certificate");
    consort_err rc = cs_codecert_verify(cert, issuer, out);
    cs_x509_free(issuer);
    return rc;
}

const cs_codecert_claim *cs_codecert_claim_get(const cs_codecert *c, const char *name)
{
    for (size_t i = 0; i < c->n_claims; i++)
        if (strcmp(c->claims[i].name, name) == 0)
            return &c->claims[i];
    return NULL;
}

consort_err cs_codecert_require(const cs_codecert *c, const char *req)
{
    char name[CS_CODECERT_MAX_CLAIM + 1];
    const char *eq = strchr(req, '=');
    size_t n = eq != NULL ? (size_t)(eq - req) : strlen(req);
    CS_ENSURE(n > 0 && n < sizeof name, CONSORT_E_INVALID_ARGUMENT,
              "required claim '%.80s': expected NAME or NAME=VALUE", req);
    memcpy(name, req, n);
    name[n] = '\0';
    const cs_codecert_claim *claim = cs_codecert_claim_get(c, name);
    CS_ENSURE(claim != NULL, CONSORT_E_POLICY, "the certificate makes no claim \"%s\"", name);
    if (eq == NULL)
        return CONSORT_OK;
    if (strcmp(name, "reviewed_by") == 0) {
        size_t len = strlen(eq + 1);
        for (const char *p = claim->value; *p != '\0';) {
            const char *comma = strchr(p, ',');
            size_t plen = comma != NULL ? (size_t)(comma - p) : strlen(p);
            if (plen == len && memcmp(p, eq + 1, len) == 0)
                return CONSORT_OK;
            p += plen + (comma != NULL);
        }
        return cs_fail(CONSORT_E_POLICY, "key %.80s is not among the reviewers (%s)", eq + 1,
                       claim->value);
    }
    CS_ENSURE(strcmp(claim->value, eq + 1) == 0, CONSORT_E_POLICY,
              "claim \"%s\" is \"%s\", not \"%.80s\"", name, claim->value, eq + 1);
    return CONSORT_OK;
}
