/*
 * AES-256-GCM (NIST SP 800-38D) and HKDF-SHA256 (RFC 5869) on OpenSSL EVP.
 *
 * Buffers: `plain` / `sealed` must not point into `out` (appending may move
 * out's memory). On any failure `out` is left exactly as it was: bytes that
 * were written into it are wiped and its length restored.
 */
#include "crypto/aead.h"

#include "crypto/hash.h"
#include "crypto/rand.h"

#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <string.h>

/* One EVP call takes an int length; larger inputs are fed in chunks. */
#define CHUNK_MAX ((size_t)INT_MAX & ~(size_t)15)

/* Feeds `in` through EVP_CipherUpdate; `out` NULL for associated data. */
static bool cipher_update(EVP_CIPHER_CTX *ctx, uint8_t *out, cs_slice in)
{
    size_t off = 0;
    while (off < in.len) {
        size_t n = in.len - off < CHUNK_MAX ? in.len - off : CHUNK_MAX;
        int written = 0;
        if (EVP_CipherUpdate(ctx, out != NULL ? out + off : NULL, &written, in.ptr + off, (int)n) !=
                1 ||
            (out != NULL && (size_t)written != n))
            return false;
        off += n;
    }
    return true;
}

/* A GCM context for `enc` (1) or decryption (0) with key and 96-bit nonce set. */
static consort_err gcm_start(int enc, const uint8_t *key, const uint8_t *nonce,
                             EVP_CIPHER_CTX **out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    /* SP 800-38D §5.2.1.1: a 96-bit IV is the recommended length. */
    if (ctx == NULL || EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CS_AEAD_NONCE_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return cs_ossl_fail(CONSORT_E_CRYPTO, "AES-GCM: init");
    }
    *out = ctx;
    return CONSORT_OK;
}

consort_err cs_aead_seal(const uint8_t key[CS_AEAD_KEY_LEN], const uint8_t nonce[CS_AEAD_NONCE_LEN],
                         cs_slice aad, cs_slice plain, cs_buf *out)
{
    CS_ENSURE(plain.len <= SIZE_MAX - CS_AEAD_TAG_LEN, CONSORT_E_TOO_LARGE,
              "AES-GCM: plaintext of %zu bytes", plain.len);
    size_t old_len = out->len;
    uint8_t *dst;
    CS_TRY(cs_buf_extend(out, plain.len + CS_AEAD_TAG_LEN, &dst));
    EVP_CIPHER_CTX *ctx = NULL;
    consort_err rc = gcm_start(1, key, nonce, &ctx);
    if (rc == CONSORT_OK) {
        uint8_t none[16]; /* GCM's final step writes no data */
        int final_len = 0;
        if (!cipher_update(ctx, NULL, aad) || !cipher_update(ctx, dst, plain) ||
            EVP_EncryptFinal_ex(ctx, none, &final_len) != 1 || final_len != 0 ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CS_AEAD_TAG_LEN, dst + plain.len) != 1)
            rc = cs_ossl_fail(CONSORT_E_CRYPTO, "AES-GCM: encrypt");
    }
    EVP_CIPHER_CTX_free(ctx);
    if (rc != CONSORT_OK) {
        cs_wipe(dst, plain.len + CS_AEAD_TAG_LEN);
        out->len = old_len;
    }
    return rc;
}

consort_err cs_aead_open(const uint8_t key[CS_AEAD_KEY_LEN], const uint8_t nonce[CS_AEAD_NONCE_LEN],
                         cs_slice aad, cs_slice sealed, cs_buf *out)
{
    CS_ENSURE(sealed.len >= CS_AEAD_TAG_LEN, CONSORT_E_BAD_TAG,
              "AES-GCM: sealed data of %zu bytes is shorter than the %d-byte tag", sealed.len,
              CS_AEAD_TAG_LEN);
    cs_slice cipher = CS_SLICE(sealed.ptr, sealed.len - CS_AEAD_TAG_LEN);
    uint8_t tag[CS_AEAD_TAG_LEN];
    memcpy(tag, sealed.ptr + cipher.len, CS_AEAD_TAG_LEN);

    size_t old_len = out->len;
    uint8_t *dst = NULL;
    if (cipher.len > 0)
        CS_TRY(cs_buf_extend(out, cipher.len, &dst));
    EVP_CIPHER_CTX *ctx = NULL;
    consort_err rc = gcm_start(0, key, nonce, &ctx);
    if (rc == CONSORT_OK) {
        uint8_t none[16]; /* GCM's final step writes no data */
        int final_len = 0;
        if (!cipher_update(ctx, NULL, aad) || !cipher_update(ctx, dst, cipher) ||
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CS_AEAD_TAG_LEN, tag) != 1) {
            rc = cs_ossl_fail(CONSORT_E_CRYPTO, "AES-GCM: decrypt");
        } else if (EVP_DecryptFinal_ex(ctx, none, &final_len) != 1) {
            /* SP 800-38D §7.2 step 8: the tag differs, return FAIL and no plaintext. */
            ERR_clear_error();
            rc = cs_fail(CONSORT_E_BAD_TAG,
                         "AES-GCM: authentication tag does not verify (%zu bytes sealed, "
                         "%zu bytes of associated data)",
                         sealed.len, aad.len);
        }
    }
    EVP_CIPHER_CTX_free(ctx);
    if (rc != CONSORT_OK) {
        if (dst != NULL)
            cs_wipe(dst, cipher.len); /* unauthenticated plaintext never leaves */
        out->len = old_len;
    }
    return rc;
}

consort_err cs_hkdf_sha256(cs_slice ikm, cs_slice salt, cs_slice info, uint8_t *out, size_t out_len)
{
    /* RFC 5869 §2.3: L <= 255 * HashLen. */
    CS_ENSURE(out_len >= 1 && out_len <= 255 * CS_SHA256_LEN, CONSORT_E_INVALID_ARGUMENT,
              "HKDF-SHA256: output of %zu bytes, expected 1 to %d", out_len, 255 * CS_SHA256_LEN);
    /* §2.2: PRK = HMAC-Hash(salt, IKM); an absent salt is HashLen zero
     * octets, which HMAC makes of an empty key as well. (On HMAC over the
     * low-level hash rather than OpenSSL's KDF: the KDF looked its algorithm
     * and digest up in the provider store on every call, three times the
     * cost, and commit evidence derives a key for every transaction.) */
    uint8_t prk[CS_SHA256_LEN], t[CS_SHA256_LEN];
    cs_hmac_sha256_parts(salt, &ikm, 1, prk);
    /* §2.3: T(i) = HMAC-Hash(PRK, T(i-1) || info || i), OKM = T(1) || T(2) ... */
    size_t done = 0;
    for (uint8_t i = 1; done < out_len; i++) {
        const cs_slice parts[3] = {CS_SLICE(t, i > 1 ? sizeof t : 0), info, CS_SLICE(&i, 1)};
        cs_hmac_sha256_parts(CS_SLICE(prk, sizeof prk), parts, 3, t);
        size_t n = out_len - done < sizeof t ? out_len - done : sizeof t;
        memcpy(out + done, t, n);
        done += n;
    }
    cs_wipe(prk, sizeof prk);
    cs_wipe(t, sizeof t);
    return CONSORT_OK;
}
