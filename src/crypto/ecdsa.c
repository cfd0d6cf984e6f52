/*
 * ECDSA (key.h): signing, verification and the two signature encodings.
 * Verification hashes with hash.c and checks the digest on the key's kept
 * OpenSSL context (key_verify.h); a raw r || s signature is turned into DER
 * on the stack, so a verification allocates nothing of its own.
 */
#include "crypto/key.h"

#include "crypto/key_verify.h"
#include "crypto/rand.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

/* The largest field (P-521, 66 bytes): SEQUENCE header with a long-form length,
 * then two INTEGERs of up to 67 content bytes each (X.690 §8.3, §8.9). */
#define FIELD_MAX   66
#define DER_INT_MAX (2 + 1 + FIELD_MAX)
#define DER_SIG_MAX (3 + 2 * DER_INT_MAX)

consort_err cs_ecdsa_sig_der_to_raw(cs_curve curve, cs_slice der, cs_buf *raw)
{
    size_t field = cs_curve_field_len(curve);
    CS_ENSURE(field != 0, CONSORT_E_INVALID_ARGUMENT, "ECDSA: not an EC curve");
    CS_ENSURE(der.len <= 256, CONSORT_E_MALFORMED, "ECDSA: DER signature of %zu bytes", der.len);
    const unsigned char *p = der.ptr;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der.len);
    if (sig == NULL)
        return cs_ossl_fail(CONSORT_E_MALFORMED, "ECDSA: DER signature does not parse");
    consort_err rc = CONSORT_OK;
    uint8_t *dst;
    const BIGNUM *r = ECDSA_SIG_get0_r(sig);
    const BIGNUM *s = ECDSA_SIG_get0_s(sig);
    if ((size_t)(p - der.ptr) != der.len) {
        rc = cs_fail(CONSORT_E_TRAILING_DATA, "ECDSA: trailing bytes after DER signature");
    } else if (BN_is_negative(r) || BN_is_negative(s)) {
        rc = cs_fail(CONSORT_E_MALFORMED, "ECDSA: negative integer in DER signature");
    } else if ((size_t)BN_num_bytes(r) > field || (size_t)BN_num_bytes(s) > field) {
        rc = cs_fail(CONSORT_E_MALFORMED, "ECDSA: signature integer larger than %s field",
                     cs_curve_name(curve));
    } else if ((rc = cs_buf_extend(raw, 2 * field, &dst)) == CONSORT_OK) {
        BN_bn2binpad(r, dst, (int)field);
        BN_bn2binpad(s, dst + field, (int)field);
    }
    ECDSA_SIG_free(sig);
    return rc;
}

/* Writes the DER INTEGER of the unsigned big-endian `v` (1..FIELD_MAX bytes) to
 * `out`: X.690 §8.3.2 minimal octets, and a 0x00 in front of a set top bit so
 * the value stays positive (§8.3.3). Zero is the single octet 0x00. */
static size_t der_uint(const uint8_t *v, size_t len, uint8_t out[DER_INT_MAX])
{
    while (len > 1 && v[0] == 0) {
        v++;
        len--;
    }
    size_t pad = (v[0] & 0x80) != 0 ? 1 : 0;
    out[0] = 0x02;
    out[1] = (uint8_t)(len + pad); /* at most 67: the short form (§8.1.3.4) */
    out[2] = 0x00;
    memcpy(out + 2 + pad, v, len);
    return 2 + pad + len;
}

/* Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 5480 §2.2.3) of a raw
 * r || s whose length is even and at most 2 * FIELD_MAX; returns the DER length. */
static size_t raw_to_der(cs_slice raw, uint8_t out[DER_SIG_MAX])
{
    size_t half = raw.len / 2;
    uint8_t body[2 * DER_INT_MAX];
    size_t n = der_uint(raw.ptr, half, body);
    n += der_uint(raw.ptr + half, half, body + n);
    size_t hdr = 0;
    out[hdr++] = 0x30;
    if (n >= 0x80)
        out[hdr++] = 0x81; /* §8.1.3.5: long form, one length octet (n <= 138) */
    out[hdr++] = (uint8_t)n;
    memcpy(out + hdr, body, n);
    return hdr + n;
}

consort_err cs_ecdsa_sig_raw_to_der(cs_slice raw, cs_buf *der)
{
    CS_ENSURE(raw.len == 64 || raw.len == 96 || raw.len == 132, CONSORT_E_MALFORMED,
              "ECDSA: raw signature of %zu bytes, expected 64, 96 or 132", raw.len);
    uint8_t out[DER_SIG_MAX];
    return cs_buf_append(der, out, raw_to_der(raw, out));
}

static consort_err need_ec(const cs_key *key, const char *what)
{
    CS_ENSURE(cs_key_curve(key) != CS_CURVE_NONE, CONSORT_E_INVALID_ARGUMENT,
              "ECDSA %s: key is %s, not an EC key on P-256, P-384 or P-521", what,
              cs_key_type_name(key));
    return CONSORT_OK;
}

consort_err cs_ecdsa_sign_digest(const cs_key *key, cs_slice digest, cs_sig_format fmt, cs_buf *sig)
{
    CS_TRY(need_ec(key, "sign"));
    uint8_t der[160];
    size_t der_len = sizeof der;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, cs_key_pkey(key), NULL);
    if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
        EVP_PKEY_sign(ctx, der, &der_len, digest.ptr, digest.len) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return cs_ossl_fail(CONSORT_E_CRYPTO, "ECDSA sign");
    }
    EVP_PKEY_CTX_free(ctx);
    if (fmt == CS_SIG_DER)
        return cs_buf_append(sig, der, der_len);
    return cs_ecdsa_sig_der_to_raw(cs_key_curve(key), CS_SLICE(der, der_len), sig);
}

consort_err cs_ecdsa_sign(const cs_key *key, cs_hash_alg hash, cs_slice msg, cs_sig_format fmt,
                          cs_buf *sig)
{
    uint8_t digest[CS_HASH_MAX_LEN];
    CS_TRY(cs_hash(hash, msg, digest));
    return cs_ecdsa_sign_digest(key, CS_SLICE(digest, cs_hash_len(hash)), fmt, sig);
}

consort_err cs_ecdsa_verify_digest(const cs_key *key, cs_slice digest, cs_sig_format fmt,
                                   cs_slice sig)
{
    CS_TRY(need_ec(key, "verify"));
    cs_curve curve = cs_key_curve(key);
    uint8_t der[DER_SIG_MAX];
    cs_slice der_sig = sig;
    if (fmt == CS_SIG_RAW) {
        size_t field = cs_curve_field_len(curve);
        CS_ENSURE(sig.len == 2 * field, CONSORT_E_BAD_SIGNATURE,
                  "ECDSA: raw %s signature must be %zu bytes, got %zu", cs_curve_name(curve),
                  2 * field, sig.len);
        der_sig = CS_SLICE(der, raw_to_der(sig, der));
    }
    /* No digest is set on the context, so OpenSSL takes the digest as given,
     * truncated to the bit length of the group order (SEC 1 §4.1.4). Any failure,
     * setup included, reads as a signature that does not verify. */
    static const cs_key_verify_setup plain = {.id = CS_KEY_VERIFY_PLAIN};
    consort_err rc = cs_key_verify(key, &plain, digest, der_sig);
    CS_ENSURE(rc == CONSORT_OK, CONSORT_E_BAD_SIGNATURE, "ECDSA %s signature does not verify",
              cs_curve_name(curve));
    return CONSORT_OK;
}

consort_err cs_ecdsa_verify(const cs_key *key, cs_hash_alg hash, cs_slice msg, cs_sig_format fmt,
                            cs_slice sig)
{
    uint8_t digest[CS_HASH_MAX_LEN];
    CS_TRY(cs_hash(hash, msg, digest));
    return cs_ecdsa_verify_digest(key, CS_SLICE(digest, cs_hash_len(hash)), fmt, sig);
}
