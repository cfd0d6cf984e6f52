/* Handling statements: sign and verify (statement.h). */
#include "e2e/statement.h"

#include "base/cbor.h"
#include "crypto/cose.h"
#include "crypto/hash.h"

#include <stdio.h>
#include <string.h>

void cs_e2e_request_digest(const char *method, const char *target, cs_slice body, uint8_t out[32])
{
    static const uint8_t zero = 0;
    const cs_slice parts[5] = {cs_slice_str(method), CS_SLICE(&zero, 1), cs_slice_str(target),
                               CS_SLICE(&zero, 1), body};
    cs_sha256_parts(parts, 5, out);
}

void cs_e2e_response_digest(int status, cs_slice body, uint8_t out[32])
{
    static const uint8_t zero = 0;
    char text[16];
    snprintf(text, sizeof text, "%d", status);
    const cs_slice parts[3] = {cs_slice_str(text), CS_SLICE(&zero, 1), body};
    cs_sha256_parts(parts, 3, out);
}

consort_err cs_e2e_parse_nonce(const char *hex, cs_e2e_statement *s)
{
    size_t len = hex != NULL ? strlen(hex) : 0;
    CS_ENSURE(len % 2 == 0 && len / 2 >= CS_E2E_NONCE_MIN && len / 2 <= CS_E2E_NONCE_MAX &&
                  cs_hex_decode(hex, s->nonce, len / 2) == CONSORT_OK,
              CONSORT_E_INVALID_ARGUMENT, "%s: expected %d to %d hex digits", CS_E2E_ATTEST_HEADER,
              2 * CS_E2E_NONCE_MIN, 2 * CS_E2E_NONCE_MAX);
    s->nonce_len = len / 2;
    return CONSORT_OK;
}

void cs_e2e_call_nonce(const uint8_t *nonce, size_t nonce_len, size_t index,
                       uint8_t out[CS_E2E_CALL_NONCE_LEN])
{
    static const char label[] = "consort e2e call"; /* with its NUL */
    const uint8_t i = (uint8_t)index;
    const cs_slice parts[3] = {CS_SLICE(label, sizeof label), CS_SLICE(nonce, nonce_len),
                               CS_SLICE(&i, 1)};
    uint8_t d[32];
    cs_sha256_parts(parts, 3, d);
    memcpy(out, d, CS_E2E_CALL_NONCE_LEN);
}

static consort_err put_bytes_or_null(cs_buf *b, cs_slice v)
{
    return v.len > 0 ? cs_cbor_write_bytes(b, v) : cs_cbor_write_null(b);
}

static consort_err put_call(cs_buf *b, const cs_e2e_call *c)
{
    CS_TRY(cs_cbor_write_map(b, 5));
    CS_TRY(cs_cbor_write_cstr(b, "service"));
    CS_TRY(cs_cbor_write_cstr(b, c->service));
    CS_TRY(cs_cbor_write_cstr(b, "service_cert"));
    CS_TRY(cs_cbor_write_bytes(b, c->service_cert));
    CS_TRY(cs_cbor_write_cstr(b, "request"));
    CS_TRY(cs_cbor_write_bytes(b, CS_SLICE(c->request, 32)));
    CS_TRY(cs_cbor_write_cstr(b, "response"));
    CS_TRY(put_bytes_or_null(b, c->answered ? CS_SLICE(c->response, 32) : CS_SLICE(NULL, 0)));
    CS_TRY(cs_cbor_write_cstr(b, "statement"));
    return put_bytes_or_null(b, c->statement);
}

static consort_err put_summary_call(cs_buf *b, const cs_e2e_call *c)
{
    CS_TRY(cs_cbor_write_map(b, 2));
    CS_TRY(cs_cbor_write_cstr(b, "statement"));
    CS_TRY(put_bytes_or_null(b, c->has_statement_digest ? CS_SLICE(c->statement_digest, 32)
                                                        : CS_SLICE(NULL, 0)));
    CS_TRY(cs_cbor_write_cstr(b, "met_policy"));
    return cs_cbor_write_bool(b, c->met_policy);
}

static consort_err put_payload(cs_buf *b, const cs_e2e_statement *s)
{
    CS_TRY(cs_cbor_write_map(b, s->summary ? 9 : 8));
    CS_TRY(cs_cbor_write_cstr(b, "version"));
    CS_TRY(cs_cbor_write_uint(b, 1));
    CS_TRY(cs_cbor_write_cstr(b, "nonce"));
    CS_TRY(cs_cbor_write_bytes(b, CS_SLICE(s->nonce, s->nonce_len)));
    CS_TRY(cs_cbor_write_cstr(b, "request"));
    CS_TRY(cs_cbor_write_bytes(b, CS_SLICE(s->request, 32)));
    CS_TRY(cs_cbor_write_cstr(b, "response"));
    CS_TRY(cs_cbor_write_bytes(b, CS_SLICE(s->response, 32)));
    CS_TRY(cs_cbor_write_cstr(b, "node"));
    CS_TRY(cs_cbor_write_cstr(b, s->node));
    CS_TRY(cs_cbor_write_cstr(b, "code_ids"));
    CS_TRY(cs_cbor_write_array(b, s->n_codes));
    for (size_t i = 0; i < s->n_codes; i++) {
        CS_TRY(cs_cbor_write_map(b, 2));
        CS_TRY(cs_cbor_write_cstr(b, "code_id"));
        CS_TRY(cs_cbor_write_bytes(b, CS_SLICE(s->codes[i].code_id, 32)));
        CS_TRY(cs_cbor_write_cstr(b, "certificate"));
        if (s->codes[i].certificate.len > 0)
            CS_TRY(cs_cbor_write_bytes(b, s->codes[i].certificate));
        else
            CS_TRY(cs_cbor_write_null(b));
    }
    CS_TRY(cs_cbor_write_cstr(b, "written"));
    if (s->written[0] != '\0')
        CS_TRY(cs_cbor_write_cstr(b, s->written));
    else
        CS_TRY(cs_cbor_write_null(b));
    CS_TRY(cs_cbor_write_cstr(b, "calls"));
    CS_TRY(cs_cbor_write_array(b, s->n_calls));
    for (size_t i = 0; i < s->n_calls; i++)
        CS_TRY(s->summary ? put_summary_call(b, &s->calls[i]) : put_call(b, &s->calls[i]));
    if (!s->summary)
        return CONSORT_OK;
    CS_TRY(cs_cbor_write_cstr(b, "policy"));
    return cs_cbor_write_bytes(b, CS_SLICE(s->policy, 32));
}

consort_err cs_e2e_encode(const cs_e2e_statement *s, cs_buf *out)
{
    CS_ENSURE(s->n_codes <= CS_E2E_MAX_CODE_IDS && s->n_calls <= CS_E2E_MAX_CALLS &&
                  s->nonce_len >= CS_E2E_NONCE_MIN && s->nonce_len <= CS_E2E_NONCE_MAX,
              CONSORT_E_INVALID_ARGUMENT, "handling statement: bad nonce or too many parts");
    /* one allocation for the whole payload: the fixed part, then the
     * certificates and nested statements it copies */
    size_t guess = 512 + s->n_codes * 64 + s->n_calls * 256;
    for (size_t i = 0; i < s->n_codes; i++)
        guess += s->codes[i].certificate.len;
    for (size_t i = 0; i < s->n_calls && !s->summary; i++)
        guess += s->calls[i].service_cert.len + s->calls[i].statement.len;
    if (out->len <= out->max && guess <= out->max - out->len)
        CS_TRY(cs_buf_reserve(out, guess));
    size_t start = out->len;
    consort_err rc = put_payload(out, s);
    if (rc == CONSORT_OK && out->len - start > CS_E2E_MAX)
        rc = cs_fail(CONSORT_E_TOO_LARGE, "handling statement payload of %zu bytes",
                     out->len - start);
    if (rc != CONSORT_OK)
        out->len = start;
    return rc;
}

consort_err cs_e2e_sign(const cs_e2e_statement *s, const cs_key *service_key,
                        const cs_x509 *service_cert, cs_buf *out)
{
    cs_buf payload;
    cs_buf_init(&payload, CS_E2E_MAX + 1);
    consort_err rc = cs_e2e_encode(s, &payload);
    if (rc == CONSORT_OK) {
        const cs_slice p = cs_buf_slice(&payload);
        rc = cs_e2e_sign_batch(&p, 1, service_key, service_cert, out);
    }
    cs_buf_cleanup(&payload);
    return rc;
}

static consort_err read_digest(cs_cbor_reader *r, const char *key, uint8_t out[32])
{
    CS_TRY(cs_cbor_read_key(r, key));
    return cs_cbor_read_bytes_exact(r, out, 32, key);
}

/* A bstr, or null (an empty slice). */
static consort_err read_bytes_or_null(cs_cbor_reader *r, cs_slice *out)
{
    cs_cbor_item it;
    CS_TRY(cs_cbor_peek(r, &it));
    *out = CS_SLICE(NULL, 0);
    if (it.type == CS_CBOR_NULL)
        return cs_cbor_read_null(r);
    return cs_cbor_read_bytes(r, out);
}

/* `key`: a bstr of exactly 32 bytes into `out` (*present true), or null. */
static consort_err read_digest_or_null(cs_cbor_reader *r, const char *key, bool *present,
                                       uint8_t out[32])
{
    CS_TRY(cs_cbor_read_key(r, key));
    cs_cbor_item it;
    CS_TRY(cs_cbor_peek(r, &it));
    *present = it.type != CS_CBOR_NULL;
    return *present ? cs_cbor_read_bytes_exact(r, out, 32, key) : cs_cbor_read_null(r);
}

static consort_err read_call(cs_cbor_reader *r, cs_e2e_call *c)
{
    uint64_t m;
    CS_TRY(cs_cbor_read_map(r, &m));
    CS_ENSURE(m == 5, CONSORT_E_MALFORMED, "call entry of %llu members, expected 5",
              (unsigned long long)m);
    CS_TRY(cs_cbor_read_key(r, "service"));
    CS_TRY(cs_cbor_read_cstr(r, c->service, sizeof c->service, "service"));
    CS_TRY(cs_cbor_read_key(r, "service_cert"));
    CS_TRY(cs_cbor_read_bytes(r, &c->service_cert));
    CS_ENSURE(c->service_cert.len > 0, CONSORT_E_MALFORMED, "call to %s: empty service_cert",
              c->service);
    CS_TRY(read_digest(r, "request", c->request));
    CS_TRY(read_digest_or_null(r, "response", &c->answered, c->response));
    CS_TRY(cs_cbor_read_key(r, "statement"));
    return read_bytes_or_null(r, &c->statement);
}

static consort_err read_summary_call(cs_cbor_reader *r, cs_e2e_call *c)
{
    uint64_t m;
    CS_TRY(cs_cbor_read_map(r, &m));
    CS_ENSURE(m == 2, CONSORT_E_MALFORMED, "summary call entry of %llu members, expected 2",
              (unsigned long long)m);
    CS_TRY(read_digest_or_null(r, "statement", &c->has_statement_digest, c->statement_digest));
    CS_TRY(cs_cbor_read_key(r, "met_policy"));
    return cs_cbor_read_bool(r, &c->met_policy);
}

static consort_err read_codes(cs_cbor_reader *r, cs_e2e_statement *out)
{
    uint64_t n;
    CS_TRY(cs_cbor_read_key(r, "code_ids"));
    CS_TRY(cs_cbor_read_array(r, &n));
    CS_ENSURE(n <= CS_E2E_MAX_CODE_IDS, CONSORT_E_TOO_LARGE, "%llu code ids",
              (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t m;
        CS_TRY(cs_cbor_read_map(r, &m));
        CS_ENSURE(m == 2, CONSORT_E_MALFORMED, "code id entry of %llu members",
                  (unsigned long long)m);
        CS_TRY(read_digest(r, "code_id", out->codes[i].code_id));
        CS_TRY(cs_cbor_read_key(r, "certificate"));
        CS_TRY(read_bytes_or_null(r, &out->codes[i].certificate));
    }
    out->n_codes = (size_t)n;
    return CONSORT_OK;
}

static consort_err read_payload(cs_slice payload, cs_e2e_statement *out)
{
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, payload);
    uint64_t n, version;
    CS_TRY(cs_cbor_read_map(&r, &n));
    CS_ENSURE(n == 8 || n == 9, CONSORT_E_MALFORMED,
              "payload of %llu members, expected 8 (nested) or 9 (summary)", (unsigned long long)n);
    out->summary = n == 9;
    CS_TRY(cs_cbor_read_key(&r, "version"));
    CS_TRY(cs_cbor_read_uint(&r, &version));
    CS_ENSURE(version == 1, CONSORT_E_UNSUPPORTED, "version %llu", (unsigned long long)version);
    cs_slice nonce;
    CS_TRY(cs_cbor_read_key(&r, "nonce"));
    CS_TRY(cs_cbor_read_bytes(&r, &nonce));
    CS_ENSURE(nonce.len >= CS_E2E_NONCE_MIN && nonce.len <= CS_E2E_NONCE_MAX, CONSORT_E_MALFORMED,
              "nonce of %zu bytes", nonce.len);
    memcpy(out->nonce, nonce.ptr, nonce.len);
    out->nonce_len = nonce.len;
    CS_TRY(read_digest(&r, "request", out->request));
    CS_TRY(read_digest(&r, "response", out->response));
    CS_TRY(cs_cbor_read_key(&r, "node"));
    CS_TRY(cs_cbor_read_cstr(&r, out->node, sizeof out->node, "node"));
    CS_TRY(read_codes(&r, out));
    CS_TRY(cs_cbor_read_key(&r, "written"));
    cs_cbor_item it;
    CS_TRY(cs_cbor_peek(&r, &it));
    if (it.type == CS_CBOR_NULL)
        CS_TRY(cs_cbor_read_null(&r));
    else
        CS_TRY(cs_cbor_read_cstr(&r, out->written, sizeof out->written, "written"));
    CS_TRY(cs_cbor_read_key(&r, "calls"));
    CS_TRY(cs_cbor_read_array(&r, &n));
    CS_ENSURE(n <= CS_E2E_MAX_CALLS, CONSORT_E_TOO_LARGE, "%llu calls", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++)
        CS_TRY_CTX(out->summary ? read_summary_call(&r, &out->calls[i])
                                : read_call(&r, &out->calls[i]),
                   "call %llu", (unsigned long long)i);
    out->n_calls = (size_t)n;
    if (out->summary) {
        CS_TRY(cs_cbor_read_key(&r, "policy"));
        CS_TRY(cs_cbor_read_bytes_exact(&r, out->policy, 32, "policy"));
    }
    return cs_cbor_expect_end(&r);
}

consort_err cs_e2e_verify(cs_slice cose, const cs_x509 *service_cert, cs_e2e_statement *out)
{
    memset(out, 0, sizeof *out);
    CS_ENSURE(cose.len <= CS_E2E_MAX, CONSORT_E_TOO_LARGE, "handling statement of %zu bytes",
              cose.len);
    cs_cose_sign1 msg;
    CS_TRY_CTX(cs_cose_sign1_decode(cose, &msg), "handling statement");
    cs_slice cty, kid;
    CS_TRY_CTX(cs_cose_headers_get_text(&msg.protected_hdr, CS_COSE_HDR_CTY, &cty),
               "handling statement: content type");
    CS_ENSURE(cty.len == strlen(CS_E2E_CTY) && memcmp(cty.ptr, CS_E2E_CTY, cty.len) == 0,
              CONSORT_E_MALFORMED, "handling statement: content type is not %s", CS_E2E_CTY);
    CS_TRY_CTX(cs_cose_headers_get_bytes(&msg.protected_hdr, CS_COSE_HDR_KID, &kid),
               "handling statement: kid");
    uint8_t fp[32];
    CS_TRY(cs_x509_fingerprint(service_cert, fp));
    CS_ENSURE(kid.len == 32 && memcmp(kid.ptr, fp, 32) == 0, CONSORT_E_POLICY,
              "handling statement: signed by another service than the one pinned");
    cs_key *key = NULL;
    CS_TRY(cs_x509_public_key(service_cert, &key));
    consort_err rc = cs_e2e_verify_batch_signature(&msg, key);
    cs_key_free(key);
    CS_TRY_CTX(rc, "handling statement: signature");
    rc = read_payload(msg.payload, out);
    return rc == CONSORT_OK ? rc : cs_err_context(rc, "handling statement payload");
}
