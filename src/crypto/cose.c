/*
 * COSE_Sign1: decoding (RFC 9052 §4.2), the Sig_structure (§4.4) and
 * verification with ECDSA (RFC 9053 §2.1). Signing is in cose_sign.c.
 */
#include "crypto/cose_priv.h"

#include <inttypes.h>

static const cs_cose_alg_info algs[] = {
    /* RFC 9053 §2.1 Table 1 */
    {CS_COSE_ES256, "ES256", CS_HASH_SHA256, CS_CURVE_P256},
    {CS_COSE_ES384, "ES384", CS_HASH_SHA384, CS_CURVE_P384},
    {CS_COSE_ES512, "ES512", CS_HASH_SHA512, CS_CURVE_NONE},
};

const cs_cose_alg_info *cs_cose_alg_lookup(int64_t alg)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(algs); i++)
        if (algs[i].alg == alg)
            return &algs[i];
    return NULL;
}

const char *cs_cose_alg_name(int64_t alg)
{
    const cs_cose_alg_info *info = cs_cose_alg_lookup(alg);
    return info != NULL ? info->name : "unknown";
}

/* ---- Sig_structure ---- */

/* Where the Sig_structure goes: appended to a buffer, or fed to a hash. */
typedef struct tbs_sink {
    cs_buf *buf;
    cs_hash_ctx *hash;
} tbs_sink;

static consort_err sink_put(tbs_sink *s, cs_slice data)
{
    if (s->buf != NULL)
        return cs_buf_append_slice(s->buf, data);
    cs_hash_update(s->hash, data);
    return CONSORT_OK;
}

/*
 * A cs_buf over stack storage, for CBOR heads: its capacity is the array and
 * its limit the same, so appends never allocate. Never cleaned up.
 */
#define STACK_BUF(arr) ((cs_buf){.ptr = (arr), .cap = sizeof(arr), .max = sizeof(arr)})

static consort_err sink_bstr(tbs_sink *s, cs_slice v)
{
    uint8_t head[9];
    cs_buf h = STACK_BUF(head);
    CS_TRY(cs_cbor_write_bytes_header(&h, v.len));
    CS_TRY(sink_put(s, cs_buf_slice(&h)));
    return sink_put(s, v);
}

/*
 * RFC 9052 §4.4: Sig_structure = ["Signature1", body_protected,
 * external_aad, payload] for COSE_Sign1 (sign_protected is omitted).
 * body_protected is the protected bstr exactly as transmitted. §9: definite
 * lengths, shortest heads, which is what the CBOR writer produces.
 */
static consort_err emit_tbs(tbs_sink *s, cs_slice prot, cs_slice aad, cs_slice payload)
{
    uint8_t start[16];
    cs_buf h = STACK_BUF(start);
    CS_TRY(cs_cbor_write_array(&h, 4));
    CS_TRY(cs_cbor_write_cstr(&h, "Signature1"));
    CS_TRY(sink_put(s, cs_buf_slice(&h)));
    CS_TRY(sink_bstr(s, prot));
    CS_TRY(sink_bstr(s, aad));
    return sink_bstr(s, payload);
}

consort_err cs_cose_sig_structure(cs_slice protected_bstr, cs_slice external_aad, cs_slice payload,
                                  cs_buf *out)
{
    size_t start = out->len;
    tbs_sink s = {.buf = out};
    consort_err rc = emit_tbs(&s, protected_bstr, external_aad, payload);
    if (rc != CONSORT_OK) {
        out->len = start;
        return cs_err_context(rc, "COSE Sig_structure");
    }
    return CONSORT_OK;
}

consort_err cs_cose_tbs_hash(cs_hash_alg hash, cs_slice protected_bstr, cs_slice external_aad,
                             cs_slice payload, uint8_t *digest)
{
    cs_hash_ctx ctx;
    CS_TRY(cs_hash_init(&ctx, hash));
    tbs_sink s = {.hash = &ctx};
    consort_err rc = emit_tbs(&s, protected_bstr, external_aad, payload);
    cs_hash_final(&ctx, digest);
    return rc;
}

/* ---- decode ---- */

static consort_err decode(cs_slice in, cs_cose_sign1 *m)
{
    CS_ENSURE(in.len <= CS_COSE_MAX_MESSAGE, CONSORT_E_TOO_LARGE, "%zu bytes, limit %zu", in.len,
              CS_COSE_MAX_MESSAGE);
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, in);
    cs_cbor_item it;
    CS_TRY(cs_cbor_peek(&r, &it));
    if (it.type == CS_CBOR_TAG) {
        /* RFC 9052 §4.2: COSE_Sign1_Tagged = #6.18(COSE_Sign1) */
        CS_ENSURE(it.u == CS_COSE_TAG_SIGN1, CONSORT_E_UNSUPPORTED,
                  "tag %" PRIu64 ", expected 18 (RFC 9052 §4.2) or none", it.u);
        CS_TRY(cs_cbor_next(&r, &it));
        m->tagged = true;
    }
    uint64_t n;
    CS_TRY(cs_cbor_read_array(&r, &n));
    /* RFC 9052 §4.2: [protected, unprotected, payload, signature] */
    CS_ENSURE(n == 4, CONSORT_E_MALFORMED, "array of %" PRIu64 " items, expected 4 (RFC 9052 §4.2)",
              n);
    CS_TRY_CTX(cs_cbor_read_bytes(&r, &m->protected_bstr), "protected header");
    /* RFC 9052 §3: empty_or_serialized_map = bstr .cbor header_map / bstr .size 0 */
    CS_TRY_CTX(cs_cose_headers_parse(m->protected_bstr, &m->protected_hdr), "protected header");
    CS_TRY_CTX(cs_cose_headers_read(&r, &m->unprotected_hdr), "unprotected header");
    CS_TRY(cs_cbor_next(&r, &it));
    /* RFC 9052 §4.1: payload : bstr / nil, nil meaning detached content */
    CS_ENSURE(it.type == CS_CBOR_BYTES || it.type == CS_CBOR_NULL, CONSORT_E_MALFORMED,
              "payload: %s, expected bstr or nil (RFC 9052 §4.1)", cs_cbor_type_name(it.type));
    m->detached = it.type == CS_CBOR_NULL;
    m->payload = m->detached ? CS_SLICE_EMPTY : it.str;
    CS_TRY_CTX(cs_cbor_read_bytes(&r, &m->signature), "signature");
    CS_TRY(cs_cbor_expect_end(&r));
    return cs_cose_headers_check_pair(&m->protected_hdr, &m->unprotected_hdr);
}

consort_err cs_cose_sign1_decode(cs_slice in, cs_cose_sign1 *out)
{
    out->tagged = false;
    out->detached = false;
    out->protected_bstr = out->payload = out->signature = CS_SLICE_EMPTY;
    out->protected_hdr.count = out->unprotected_hdr.count = 0;
    out->protected_hdr.raw = out->unprotected_hdr.raw = CS_SLICE_EMPTY;
    CS_TRY_CTX(decode(in, out), "COSE_Sign1");
    return CONSORT_OK;
}

/* ---- algorithm, crit, payload ---- */

consort_err cs_cose_sign1_alg(const cs_cose_sign1 *msg, cs_cose_alg *out)
{
    const cs_cose_header *h =
        cs_cose_headers_lookup(&msg->protected_hdr, CS_COSE_LABEL(CS_COSE_HDR_ALG));
    if (h == NULL) {
        /* RFC 9052 §3.1: alg "MUST be authenticated where the ability to do
         * so exists"; for a signature that is the protected header. */
        CS_ENSURE(!cs_cose_headers_has(&msg->unprotected_hdr, CS_COSE_HDR_ALG), CONSORT_E_MALFORMED,
                  "COSE_Sign1: alg is only in the unprotected header; it must be protected "
                  "(RFC 9052 §3.1)");
        return cs_fail(CONSORT_E_MALFORMED,
                       "COSE_Sign1: no alg in the protected header (RFC 9052 §3.1)");
    }
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, h->value);
    cs_cbor_item it;
    CS_TRY(cs_cbor_peek(&r, &it));
    if (it.type == CS_CBOR_TEXT) {
        char s[48];
        cs_cose_label_str((cs_cose_label){.is_text = true, .text = it.str}, s, sizeof s);
        return cs_fail(CONSORT_E_UNSUPPORTED,
                       "COSE_Sign1: alg %s unsupported, expected -7 (ES256), -35 (ES384) or "
                       "-36 (ES512)",
                       s);
    }
    /* decode checked the type: int / tstr */
    CS_ENSURE(it.u <= (uint64_t)INT64_MAX, CONSORT_E_UNSUPPORTED,
              "COSE_Sign1: alg is an integer beyond 64 bits, expected -7 (ES256), -35 (ES384) "
              "or -36 (ES512)");
    int64_t v = it.type == CS_CBOR_UINT ? (int64_t)it.u : -1 - (int64_t)it.u;
    const cs_cose_alg_info *info = cs_cose_alg_lookup(v);
    CS_ENSURE(info != NULL, CONSORT_E_UNSUPPORTED,
              "COSE_Sign1: alg %" PRId64
              " unsupported, expected -7 (ES256), -35 (ES384) or -36 (ES512)",
              v);
    *out = info->alg;
    return CONSORT_OK;
}

/* RFC 9052 §3.1: every label crit lists must be processed by someone. */
static consort_err check_crit(const cs_cose_sign1 *msg, const cs_cose_verify_opts *o)
{
    const cs_cose_header *crit =
        cs_cose_headers_lookup(&msg->protected_hdr, CS_COSE_LABEL(CS_COSE_HDR_CRIT));
    if (crit == NULL)
        return CONSORT_OK;
    cs_cbor_reader r;
    cs_cbor_reader_init(&r, crit->value);
    uint64_t n;
    CS_TRY(cs_cbor_read_array(&r, &n));
    for (uint64_t i = 0; i < n; i++) {
        cs_cbor_item it;
        CS_TRY(cs_cbor_peek(&r, &it));
        int64_t label = 0;
        bool known = false;
        if (it.type != CS_CBOR_TEXT && cs_cbor_read_int(&r, &label) == CONSORT_OK) {
            /* "Header parameters defined in this document ... should be
             * understood by all implementations" (Table 3: labels 1..6) */
            known = label >= CS_COSE_HDR_ALG && label <= CS_COSE_HDR_PARTIAL_IV;
            for (size_t j = 0; !known && j < o->understood_count; j++)
                known = o->understood[j] == label;
        }
        if (!known) {
            char s[48];
            cs_cose_label_str(it.type == CS_CBOR_TEXT
                                  ? (cs_cose_label){.is_text = true, .text = it.str}
                                  : CS_COSE_LABEL(label),
                              s, sizeof s);
            return cs_fail(CONSORT_E_UNSUPPORTED,
                           "COSE_Sign1: crit label %s is not understood (RFC 9052 §3.1)", s);
        }
    }
    return CONSORT_OK;
}

static consort_err pick_payload(const cs_cose_sign1 *msg, const cs_cose_verify_opts *o,
                                cs_slice *out)
{
    if (msg->detached) {
        /* RFC 9052 §4.1: "the application is required to supply the payload" */
        CS_ENSURE(o->detached_payload != NULL, CONSORT_E_INVALID_ARGUMENT,
                  "COSE_Sign1: payload is detached and none was supplied");
        *out = *o->detached_payload;
        return CONSORT_OK;
    }
    CS_ENSURE(o->detached_payload == NULL, CONSORT_E_INVALID_ARGUMENT,
              "COSE_Sign1: a detached payload was supplied but the message carries one");
    *out = msg->payload;
    return CONSORT_OK;
}

consort_err cs_cose_sign1_tbs(const cs_cose_sign1 *msg, const cs_cose_verify_opts *opts,
                              cs_buf *out)
{
    static const cs_cose_verify_opts none = {0};
    const cs_cose_verify_opts *o = opts != NULL ? opts : &none;
    cs_slice payload;
    CS_TRY(pick_payload(msg, o, &payload));
    return cs_cose_sig_structure(msg->protected_bstr, o->external_aad, payload, out);
}

/* ---- verify ---- */

consort_err cs_cose_sign1_verify(const cs_cose_sign1 *msg, const cs_key *key,
                                 const cs_cose_verify_opts *opts)
{
    static const cs_cose_verify_opts none = {0};
    const cs_cose_verify_opts *o = opts != NULL ? opts : &none;
    cs_cose_alg alg;
    CS_TRY(cs_cose_sign1_alg(msg, &alg));
    const cs_cose_alg_info *info = cs_cose_alg_lookup(alg);
    CS_TRY(check_crit(msg, o));
    cs_slice payload;
    CS_TRY(pick_payload(msg, o, &payload));

    cs_curve curve = cs_key_curve(key);
    CS_ENSURE(curve != CS_CURVE_NONE, CONSORT_E_INVALID_ARGUMENT,
              "COSE_Sign1 %s: key is %s, not EC on P-256, P-384 or P-521 (RFC 9053 §2.1)",
              info->name, cs_key_type_name(key));
    /* RFC 9053 §2.1: the signature is R || S, each left-padded to the size
     * of the curve's field (32, 48 or 66 bytes). */
    size_t field = cs_curve_field_len(curve);
    CS_ENSURE(msg->signature.len == 2 * field, CONSORT_E_BAD_SIGNATURE,
              "COSE_Sign1 %s: signature is %zu bytes, expected %zu for a %s key (RFC 9053 §2.1)",
              info->name, msg->signature.len, 2 * field, cs_curve_name(curve));

    uint8_t digest[CS_HASH_MAX_LEN];
    CS_TRY(cs_cose_tbs_hash(info->hash, msg->protected_bstr, o->external_aad, payload, digest));
    consort_err rc = cs_ecdsa_verify_digest(key, CS_SLICE(digest, cs_hash_len(info->hash)),
                                            CS_SIG_RAW, msg->signature);
    if (rc != CONSORT_OK)
        return cs_err_context(rc, "COSE_Sign1 %s", info->name);
    return CONSORT_OK;
}
