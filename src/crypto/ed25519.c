/* Ed25519 verification (ed25519.h) on OpenSSL's EVP one-shot interface. */
#include "crypto/ed25519.h"

#include "crypto/rand.h"

#include <openssl/err.h>
#include <openssl/evp.h>

consort_err cs_ed25519_verify(cs_slice pub, cs_slice msg, cs_slice sig)
{
    CS_ENSURE(pub.len == CS_ED25519_PUBLIC_LEN, CONSORT_E_MALFORMED,
              "Ed25519: public key of %zu bytes, expected %d", pub.len, CS_ED25519_PUBLIC_LEN);
    CS_ENSURE(sig.len == CS_ED25519_SIG_LEN, CONSORT_E_BAD_SIGNATURE,
              "Ed25519: signature of %zu bytes, expected %d", sig.len, CS_ED25519_SIG_LEN);
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub.ptr, pub.len);
    if (pkey == NULL)
        return cs_ossl_fail(CONSORT_E_MALFORMED, "Ed25519: public key");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    consort_err rc;
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1) {
        rc = cs_ossl_fail(CONSORT_E_CRYPTO, "Ed25519: verify context");
        goto out;
    }
    /* RFC 8032 §5.1.7: 1 is a valid signature; 0 and negative are not. */
    if (EVP_DigestVerify(ctx, sig.ptr, sig.len, msg.ptr, msg.len) != 1) {
        ERR_clear_error();
        rc = cs_fail(CONSORT_E_BAD_SIGNATURE, "Ed25519: signature does not verify");
        goto out;
    }
    rc = CONSORT_OK;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return rc;
}
