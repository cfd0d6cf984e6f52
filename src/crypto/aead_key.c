/*
 * A kept AES-256-GCM key (aead_key.h): two EVP contexts, one per direction,
 * each initialised with the key once; a call only sets the nonce
 * (EVP_CipherInit_ex with a NULL key keeps the key schedule).
 */
#include "crypto/aead_key.h"

#include "base/alloc.h"
#include "crypto/rand.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

struct cs_aead_key {
    EVP_CIPHER_CTX *enc;
    EVP_CIPHER_CTX *dec;
};

static EVP_CIPHER_CTX *keyed_ctx(const uint8_t *key, int enc)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    /* SP 800-38D §5.2.1.1: 96-bit IVs */
    if (ctx == NULL || EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CS_AEAD_NONCE_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, enc) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

consort_err cs_aead_key_new(const uint8_t key[CS_AEAD_KEY_LEN], cs_aead_key **out)
{
    *out = NULL;
    cs_aead_key *k = cs_calloc(1, sizeof *k);
    CS_ENSURE(k != NULL, CONSORT_E_NOMEM, "AES-GCM key: out of memory");
    k->enc = keyed_ctx(key, 1);
    k->dec = k->enc != NULL ? keyed_ctx(key, 0) : NULL;
    if (k->dec == NULL) {
        cs_aead_key_free(k);
        return cs_ossl_fail(CONSORT_E_CRYPTO, "AES-GCM key: init");
    }
    *out = k;
    return CONSORT_OK;
}

void cs_aead_key_free(cs_aead_key *k)
{
    if (k == NULL)
        return;
    EVP_CIPHER_CTX_free(k->enc); /* OpenSSL cleanses the key schedule */
    EVP_CIPHER_CTX_free(k->dec);
    cs_free(k);
}

/* One EVP update of at most INT_MAX bytes; `out` NULL for associated data. */
static bool update(EVP_CIPHER_CTX *ctx, uint8_t *out, cs_slice in)
{
    if (in.len == 0)
        return true;
    int written = 0;
    return in.len <= INT_MAX && EVP_CipherUpdate(ctx, out, &written, in.ptr, (int)in.len) == 1 &&
           (out == NULL || (size_t)written == in.len);
}

consort_err cs_aead_key_seal(cs_aead_key *k, const uint8_t nonce[CS_AEAD_NONCE_LEN], cs_slice aad,
                             cs_slice plain, cs_buf *out)
{
    CS_ENSURE(plain.len <= INT_MAX && aad.len <= INT_MAX, CONSORT_E_TOO_LARGE,
              "AES-GCM: %zu bytes of plaintext and %zu of associated data, at most %d each",
              plain.len, aad.len, INT_MAX);
    size_t old_len = out->len;
    uint8_t *dst;
    CS_TRY(cs_buf_extend(out, plain.len + CS_AEAD_TAG_LEN, &dst));
    uint8_t none[16];
    int final_len = 0;
    if (EVP_CipherInit_ex(k->enc, NULL, NULL, NULL, nonce, 1) != 1 || !update(k->enc, NULL, aad) ||
        !update(k->enc, dst, plain) || EVP_EncryptFinal_ex(k->enc, none, &final_len) != 1 ||
        final_len != 0 ||
        EVP_CIPHER_CTX_ctrl(k->enc, EVP_CTRL_GCM_GET_TAG, CS_AEAD_TAG_LEN, dst + plain.len) != 1) {
        cs_wipe(dst, plain.len + CS_AEAD_TAG_LEN);
        out->len = old_len;
        return cs_ossl_fail(CONSORT_E_CRYPTO, "AES-GCM: encrypt");
    }
    return CONSORT_OK;
}

consort_err cs_aead_key_open(cs_aead_key *k, const uint8_t nonce[CS_AEAD_NONCE_LEN], cs_slice aad,
                             cs_slice sealed, cs_buf *out)
{
    CS_ENSURE(sealed.len >= CS_AEAD_TAG_LEN, CONSORT_E_BAD_TAG,
              "AES-GCM: sealed data of %zu bytes is shorter than the %d-byte tag", sealed.len,
              CS_AEAD_TAG_LEN);
    CS_ENSURE(sealed.len <= INT_MAX && aad.len <= INT_MAX, CONSORT_E_TOO_LARGE,
              "AES-GCM: %zu sealed bytes and %zu of associated data, at most %d each", sealed.len,
              aad.len, INT_MAX);
    cs_slice cipher = CS_SLICE(sealed.ptr, sealed.len - CS_AEAD_TAG_LEN);
    uint8_t tag[CS_AEAD_TAG_LEN];
    memcpy(tag, sealed.ptr + cipher.len, CS_AEAD_TAG_LEN);
    size_t old_len = out->len;
    uint8_t *dst = NULL;
    if (cipher.len > 0)
        CS_TRY(cs_buf_extend(out, cipher.len, &dst));
    uint8_t none[16];
    int final_len = 0;
    consort_err rc = CONSORT_OK;
    if (EVP_CipherInit_ex(k->dec, NULL, NULL, NULL, nonce, 0) != 1 || !update(k->dec, NULL, aad) ||
        !update(k->dec, dst, cipher) ||
        EVP_CIPHER_CTX_ctrl(k->dec, EVP_CTRL_GCM_SET_TAG, CS_AEAD_TAG_LEN, tag) != 1) {
        rc = cs_ossl_fail(CONSORT_E_CRYPTO, "AES-GCM: decrypt");
    } else if (EVP_DecryptFinal_ex(k->dec, none, &final_len) != 1) {
        /* SP 800-38D §7.2 step 8: FAIL, and no plaintext */
        ERR_clear_error();
        rc = cs_fail(CONSORT_E_BAD_TAG,
                     "AES-GCM: authentication tag does not verify (%zu bytes sealed, %zu bytes "
                     "of associated data)",
                     sealed.len, aad.len);
    }
    if (rc != CONSORT_OK) {
        if (dst != NULL)
            cs_wipe(dst, cipher.len);
        out->len = old_len;
    }
    return rc;
}
