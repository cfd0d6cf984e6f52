/*
 * libFuzzer target for COSE_Sign1 decode (src/crypto/cose.h): arbitrary bytes
 * are decoded; whatever decodes has its headers looked up, its Sig_structure
 * rebuilt and its signature checked under a fixed P-256 key (the cose-wg
 * example key, so the seed vectors reach the ECDSA verify path), with and
 * without external AAD and a detached payload. Nothing may crash, leak or
 * read out of bounds; a decoded message must stay self-consistent.
 */
#include "base/cbor.h"
#include "crypto/cose.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* JWK "11" of the cose-wg examples (x, y of P-256), decoded from base64url. */
static const uint8_t key_x[32] = {
    0xba, 0xc5, 0xb1, 0x1c, 0xad, 0x8f, 0x99, 0xf9, 0xc7, 0x2b, 0x05, 0xcf, 0x4b, 0x9e, 0x26, 0xd2,
    0x44, 0xdc, 0x18, 0x9f, 0x74, 0x52, 0x28, 0x25, 0x5a, 0x21, 0x9a, 0x86, 0xd6, 0xa0, 0x9e, 0xff,
};
static const uint8_t key_y[32] = {
    0x20, 0x13, 0x8b, 0xf8, 0x2d, 0xc1, 0xb6, 0xd5, 0x62, 0xbe, 0x0f, 0xa5, 0x4a, 0xb7, 0x80, 0x4a,
    0x3a, 0x64, 0xb6, 0xd7, 0x2c, 0xcf, 0xed, 0x6b, 0x6f, 0xb6, 0xed, 0x28, 0xbb, 0xfc, 0x11, 0x7e,
};

static cs_key *fixed_key(void)
{
    static cs_key *key;
    if (key == NULL &&
        cs_key_from_ec_coords(CS_CURVE_P256, CS_SLICE(key_x, sizeof key_x),
                              CS_SLICE(key_y, sizeof key_y), CS_SLICE_EMPTY, &key) != CONSORT_OK)
        abort();
    return key;
}

/* Results the target does not judge still count as used (warn_unused_result). */
static void outcome(consort_err rc)
{
    (void)rc;
}

static void look_up_headers(const cs_cose_headers *h)
{
    int64_t i;
    cs_slice s;
    outcome(cs_cose_headers_get_int(h, CS_COSE_HDR_ALG, &i));
    outcome(cs_cose_headers_get_bytes(h, CS_COSE_HDR_KID, &s));
    outcome(cs_cose_headers_get_text(h, CS_COSE_HDR_CTY, &s));
    outcome(cs_cose_headers_get_int(h, CS_COSE_HDR_VDS, &i));
    if (cs_cose_headers_get(h, CS_COSE_HDR_VDP, &s) == CONSORT_OK) {
        /* a receipt's proofs: walk the nested value like a receipt reader */
        cs_cbor_reader r;
        cs_cbor_reader_init(&r, s);
        if (cs_cbor_skip(&r) != CONSORT_OK || !cs_cbor_at_end(&r))
            abort(); /* decode already checked it is one complete item */
        cs_cose_headers inner;
        outcome(cs_cose_headers_parse(s, &inner));
    }
    for (size_t k = 0; k < h->count; k++) {
        cs_slice v;
        if (cs_cose_headers_find(h, h->items[k].label, &v) != CONSORT_OK ||
            v.ptr != h->items[k].value.ptr)
            abort(); /* a parsed label must be found, and first */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_cose_sign1 m;
    if (cs_cose_sign1_decode(CS_SLICE(data, size), &m) != CONSORT_OK)
        return 0;
    if (m.protected_bstr.len > size || m.signature.len > size || m.payload.len > size)
        abort();
    look_up_headers(&m.protected_hdr);
    look_up_headers(&m.unprotected_hdr);
    cs_cose_alg alg;
    int64_t alg_value;
    if (cs_cose_sign1_alg(&m, &alg) == CONSORT_OK &&
        (cs_cose_headers_get_int(&m.protected_hdr, CS_COSE_HDR_ALG, &alg_value) != CONSORT_OK ||
         alg_value != alg))
        abort(); /* the accepted alg is the protected one */

    static const int64_t understood[] = {CS_COSE_HDR_VDS, CS_COSE_HDR_VDP};
    const cs_slice detached = CS_SLICE_LIT("This is the content.");
    cs_cose_verify_opts opts = {
        .detached_payload = m.detached ? &detached : NULL,
        .understood = understood,
        .understood_count = 2,
    };
    cs_buf tbs;
    cs_buf_init(&tbs, 0);
    if (cs_cose_sign1_tbs(&m, &opts, &tbs) != CONSORT_OK)
        abort(); /* nothing but memory can make this fail */
    cs_buf_cleanup(&tbs);
    outcome(cs_cose_sign1_verify(&m, fixed_key(), &opts));
    opts.external_aad = CS_SLICE_LIT("\x11\xaa\x22\xbb\x33\xcc\x44\xdd\x55\x00\x66\x99");
    outcome(cs_cose_sign1_verify(&m, fixed_key(), &opts));
    outcome(cs_cose_sign1_verify(&m, fixed_key(), NULL));
    return 0;
}
