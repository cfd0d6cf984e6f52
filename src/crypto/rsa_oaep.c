/*
 * RSA-OAEP-256 on OpenSSL 3's EVP_PKEY interface (see rsa_oaep.h).
 */
#include "crypto/rsa_oaep.h"

#include "crypto/rand.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <string.h>

consort_err cs_rsa_generate(unsigned bits, cs_key **out)
{
    CS_ENSURE(bits >= CS_RSA_MIN_BITS && bits <= CS_RSA_MAX_BITS && bits % 1024 == 0,
              CONSORT_E_INVALID_ARGUMENT, "RSA: cannot generate %u bits, expected %d..%d", bits,
              CS_RSA_MIN_BITS, CS_RSA_MAX_BITS);
    EVP_PKEY *pkey = EVP_RSA_gen(bits);
    if (pkey == NULL)
        return cs_ossl_fail(CONSORT_E_CRYPTO, "RSA: generate");
    return cs_key_wrap(pkey, out);
}

size_t cs_rsa_bits(const cs_key *key)
{
    EVP_PKEY *pkey = cs_key_pkey(key);
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA)
        return 0;
    int bits = EVP_PKEY_get_bits(pkey);
    return bits > 0 ? (size_t)bits : 0;
}

static consort_err check_key(const cs_key *key, bool need_private)
{
    size_t bits = cs_rsa_bits(key);
    CS_ENSURE(bits != 0, CONSORT_E_INVALID_ARGUMENT, "RSA-OAEP: key is %s, expected RSA",
              cs_key_type_name(key));
    CS_ENSURE(bits >= CS_RSA_MIN_BITS && bits <= CS_RSA_MAX_BITS, CONSORT_E_INVALID_ARGUMENT,
              "RSA-OAEP: key has %zu bits, expected %d..%d", bits, CS_RSA_MIN_BITS,
              CS_RSA_MAX_BITS);
    CS_ENSURE(!need_private || cs_key_has_private(key), CONSORT_E_INVALID_ARGUMENT,
              "RSA-OAEP: a private key is needed to decrypt");
    return CONSORT_OK;
}

/* A context for encryption (enc) or decryption with OAEP, SHA-256, MGF1-SHA-256
 * and `label`; NULL on failure (the OpenSSL queue says why). */
static EVP_PKEY_CTX *oaep_ctx(const cs_key *key, bool enc, cs_slice label)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, cs_key_pkey(key), NULL);
    if (ctx == NULL)
        return NULL;
    if ((enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1)
        goto fail;
    if (label.len > 0) {
        /* OpenSSL takes ownership of the label's memory. */
        void *copy = OPENSSL_memdup(label.ptr, label.len);
        if (copy == NULL)
            goto fail;
        if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, copy, (int)label.len) != 1) {
            OPENSSL_free(copy);
            goto fail;
        }
    }
    return ctx;
fail:
    EVP_PKEY_CTX_free(ctx);
    return NULL;
}

consort_err cs_rsa_oaep_encrypt(const cs_key *key, cs_slice label, cs_slice plain, cs_buf *out)
{
    CS_TRY(check_key(key, false));
    size_t mod_len = (cs_rsa_bits(key) + 7) / 8;
    CS_ENSURE(plain.len <= mod_len - CS_RSA_OAEP_OVERHEAD, CONSORT_E_INVALID_ARGUMENT,
              "RSA-OAEP: plaintext %zu bytes, at most %zu for this key", plain.len,
              mod_len - CS_RSA_OAEP_OVERHEAD);
    CS_ENSURE(label.len <= 1024, CONSORT_E_INVALID_ARGUMENT, "RSA-OAEP: label %zu bytes",
              label.len);
    size_t old_len = out->len;
    uint8_t *dst;
    CS_TRY(cs_buf_extend(out, mod_len, &dst));
    EVP_PKEY_CTX *ctx = oaep_ctx(key, true, label);
    size_t n = mod_len;
    if (ctx == NULL || EVP_PKEY_encrypt(ctx, dst, &n, plain.ptr, plain.len) != 1 || n != mod_len) {
        EVP_PKEY_CTX_free(ctx);
        cs_wipe(dst, mod_len);
        out->len = old_len;
        return cs_ossl_fail(CONSORT_E_CRYPTO, "RSA-OAEP: encrypt");
    }
    EVP_PKEY_CTX_free(ctx);
    return CONSORT_OK;
}

consort_err cs_rsa_oaep_decrypt(const cs_key *key, cs_slice label, cs_slice cipher, cs_buf *out)
{
    CS_TRY(check_key(key, true));
    size_t mod_len = (cs_rsa_bits(key) + 7) / 8;
    CS_ENSURE(cipher.len == mod_len, CONSORT_E_MALFORMED,
              "RSA-OAEP: ciphertext %zu bytes, expected %zu for this key", cipher.len, mod_len);
    size_t old_len = out->len;
    uint8_t *dst;
    CS_TRY(cs_buf_extend(out, mod_len, &dst));
    EVP_PKEY_CTX *ctx = oaep_ctx(key, false, label);
    if (ctx == NULL) {
        out->len = old_len;
        return cs_ossl_fail(CONSORT_E_CRYPTO, "RSA-OAEP: decrypt setup");
    }
    size_t n = mod_len;
    int ok = EVP_PKEY_decrypt(ctx, dst, &n, cipher.ptr, cipher.len);
    EVP_PKEY_CTX_free(ctx);
    if (ok != 1 || n > mod_len) {
        cs_wipe(dst, mod_len);
        out->len = old_len;
        /* RFC 8017 §7.1.2 note: report one error for every decoding failure. */
        (void)cs_ossl_fail(CONSORT_E_BAD_TAG, "RSA-OAEP");
        return cs_fail(CONSORT_E_BAD_TAG,
                       "RSA-OAEP: ciphertext does not decrypt under this key (another key, or "
                       "altered)");
    }
    cs_wipe(dst + n, mod_len - n);
    out->len = old_len + n;
    return CONSORT_OK;
}
