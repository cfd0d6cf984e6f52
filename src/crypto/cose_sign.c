/*
 * COSE_Sign1 signing (RFC 9052 §4.4) with ES256 / ES384 (RFC 9053 §2.1).
 *
 * The message is written straight into the caller's buffer; the
 * Sig_structure is hashed from pieces of that buffer and of the caller's
 * inputs, so a signature costs one hash pass, one ECDSA operation and at
 * most one growth of the output buffer.
 */
#include "crypto/cose_priv.h"

#include <stdint.h>
#include <string.h>

/* One complete CBOR item, nothing after it (for RAW header values). */
static consort_err check_one_item(cs_slice raw)
{
    CS_ENSURE(raw.len > 0, CONSORT_E_INVALID_ARGUMENT, "raw value is empty");
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, raw);
    CS_TRY(cs_cbor_skip(&r));
    return cs_cbor_expect_end(&r);
}

static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static consort_err write_label(cs_buf *out, cs_cose_label l)
{
    return l.is_text ? cs_cbor_write_text(out, l.text) : cs_cbor_write_int(out, l.num);
}

static consort_err param_fail(const cs_cose_param *p, const char *what)
{
    char l[48];
    cs_cose_label_str(p->label, l, sizeof l);
    return cs_err_context(CONSORT_E_INVALID_ARGUMENT, "protected param %s: %s", l, what);
}

static consort_err write_param(cs_buf *out, const cs_cose_param *p)
{
    /* RFC 9052 §3.1: alg is placed here by the signer, from params->alg */
    CS_ENSURE(p->label.is_text || p->label.num != CS_COSE_HDR_ALG, CONSORT_E_INVALID_ARGUMENT,
              "protected param alg (label 1) is set from the algorithm, not given as a param");
    CS_TRY(write_label(out, p->label));
    switch (p->type) {
    case CS_COSE_VALUE_INT:
        return cs_cbor_write_int(out, p->i);
    case CS_COSE_VALUE_BYTES:
        return cs_cbor_write_bytes(out, p->s);
    case CS_COSE_VALUE_TEXT:
        return cs_cbor_write_text(out, p->s);
    case CS_COSE_VALUE_RAW:
        if (check_one_item(p->s) != CONSORT_OK)
            return param_fail(p, "raw value is not one CBOR item");
        return cs_buf_append_slice(out, p->s);
    }
    (void)cs_fail(CONSORT_E_INVALID_ARGUMENT, "value type %d unknown", (int)p->type);
    return param_fail(p, "bad value");
}

/* The protected map {1: alg, params...}, then wrapped in a bstr in place. */
static consort_err write_protected(cs_buf *out, const cs_cose_sign1_params *p, size_t *off,
                                   size_t *len)
{
    CS_ENSURE(p->protected_count < CS_COSE_MAX_HEADERS, CONSORT_E_INVALID_ARGUMENT,
              "%zu protected params, limit %d besides alg", p->protected_count,
              CS_COSE_MAX_HEADERS - 1);
    CS_ENSURE(p->protected_count == 0 || p->protected_params != NULL, CONSORT_E_INVALID_ARGUMENT,
              "protected params missing");
    size_t map_at = out->len;
    CS_TRY(cs_cbor_write_map(out, 1 + p->protected_count));
    CS_TRY(cs_cbor_write_int(out, CS_COSE_HDR_ALG));
    CS_TRY(cs_cbor_write_int(out, p->alg));
    for (size_t i = 0; i < p->protected_count; i++)
        CS_TRY(write_param(out, &p->protected_params[i]));

    /* RFC 9052 §3: the protected map "is obtained by CBOR encoding the
     * protected map and wrapping it in a bstr object": now that its length
     * is known, slide it up by the length of the bstr head. */
    size_t map_len = out->len - map_at;
    uint8_t head[9]; /* over stack storage: cap == max, so it never allocates */
    cs_buf h = {.ptr = head, .cap = sizeof head, .max = sizeof head};
    CS_TRY(cs_cbor_write_bytes_header(&h, map_len));
    CS_TRY(cs_buf_reserve(out, h.len));
    memmove(out->ptr + map_at + h.len, out->ptr + map_at, map_len);
    memcpy(out->ptr + map_at, head, h.len);
    out->len += h.len;
    *off = map_at + h.len;
    *len = map_len;
    return CONSORT_OK;
}

/* Decode's rules on both maps, so sign never emits what decode rejects. */
static consort_err check_headers(cs_slice prot, cs_slice unprot)
{
    cs_cose_headers ph;
    cs_cose_headers uh;
    consort_err rc = cs_cose_headers_parse(prot, &ph);
    if (rc != CONSORT_OK)
        return cs_err_context(CONSORT_E_INVALID_ARGUMENT, "protected header");
    rc = cs_cose_headers_parse(unprot, &uh);
    if (rc != CONSORT_OK)
        return cs_err_context(CONSORT_E_INVALID_ARGUMENT, "unprotected header");
    rc = cs_cose_headers_check_pair(&ph, &uh);
    return rc == CONSORT_OK ? CONSORT_OK : CONSORT_E_INVALID_ARGUMENT;
}

static consort_err sign(const cs_key *key, const cs_cose_sign1_params *p, cs_buf *out)
{
    const cs_cose_alg_info *info = cs_cose_alg_lookup(p->alg);
    CS_ENSURE(info != NULL && info->sign_curve != CS_CURVE_NONE, CONSORT_E_INVALID_ARGUMENT,
              "alg %d (%s) cannot sign, expected -7 (ES256) or -35 (ES384)", (int)p->alg,
              cs_cose_alg_name(p->alg));
    /* RFC 9053 §2.1: "Implementations need to check that the key type and
     * curve are correct when creating and verifying a signature." */
    CS_ENSURE(cs_key_curve(key) == info->sign_curve, CONSORT_E_INVALID_ARGUMENT,
              "%s needs a %s key, got %s %s", info->name, cs_curve_name(info->sign_curve),
              cs_key_type_name(key), cs_curve_name(cs_key_curve(key)));
    size_t field = cs_curve_field_len(info->sign_curve);

    /* one growth of `out` for everything: heads, headers, payload, signature
     * (skipped if the estimate would pass the buffer's limit: the appends
     * then grow it, or fail with TOO_LARGE, as usual) */
    size_t guess = add_sat(64 + 2 * field, p->unprotected.len);
    for (size_t i = 0; i < p->protected_count && p->protected_params != NULL; i++)
        guess = add_sat(guess, add_sat(24, p->protected_params[i].s.len));
    if (!p->detached)
        guess = add_sat(guess, p->payload.len);
    if (out->len <= out->max && guess <= out->max - out->len)
        CS_TRY(cs_buf_reserve(out, guess));

    /* RFC 9052 §4.2: #6.18([protected, unprotected, payload, signature]) */
    CS_TRY(cs_cbor_write_tag(out, CS_COSE_TAG_SIGN1));
    CS_TRY(cs_cbor_write_array(out, 4));
    size_t prot_off = 0;
    size_t prot_len = 0;
    CS_TRY(write_protected(out, p, &prot_off, &prot_len));
    if (p->unprotected.len == 0)
        CS_TRY(cs_cbor_write_map(out, 0));
    else
        CS_TRY(cs_buf_append_slice(out, p->unprotected));
    CS_TRY(check_headers(CS_SLICE(out->ptr + prot_off, prot_len), p->unprotected));
    /* RFC 9052 §4.1: detached content is sent as nil */
    if (p->detached)
        CS_TRY(cs_cbor_write_null(out));
    else
        CS_TRY(cs_cbor_write_bytes(out, p->payload));

    uint8_t digest[CS_HASH_MAX_LEN];
    CS_TRY(cs_cose_tbs_hash(info->hash, CS_SLICE(out->ptr + prot_off, prot_len), p->external_aad,
                            p->payload, digest));
    /* RFC 9053 §2.1: the signature is R || S, each the field size */
    CS_TRY(cs_cbor_write_bytes_header(out, 2 * field));
    size_t sig_at = out->len;
    CS_TRY(cs_ecdsa_sign_digest(key, CS_SLICE(digest, cs_hash_len(info->hash)), CS_SIG_RAW, out));
    CS_ENSURE(out->len - sig_at == 2 * field, CONSORT_E_CRYPTO,
              "%s signature is %zu bytes, expected %zu", info->name, out->len - sig_at, 2 * field);
    return CONSORT_OK;
}

consort_err cs_cose_sign1_sign(const cs_key *key, const cs_cose_sign1_params *p, cs_buf *out)
{
    size_t start = out->len;
    consort_err rc = sign(key, p, out);
    if (rc != CONSORT_OK) {
        out->len = start;
        return cs_err_context(rc, "COSE_Sign1 sign");
    }
    return CONSORT_OK;
}
