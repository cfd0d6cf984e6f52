/* ECDH on OpenSSL EVP (key.h cs_key_ecdh). */
#include "crypto/key.h"

#include "crypto/rand.h"

#include <openssl/evp.h>

consort_err cs_key_ecdh(const cs_key *priv, const cs_key *peer, cs_buf *out)
{
    CS_ENSURE(cs_key_has_private(priv), CONSORT_E_INVALID_ARGUMENT,
              "ECDH: the local key has no private half");
    cs_curve curve = cs_key_curve(priv);
    CS_ENSURE(curve != CS_CURVE_NONE && curve == cs_key_curve(peer), CONSORT_E_INVALID_ARGUMENT,
              "ECDH: local key on %s, peer key on %s", cs_curve_name(curve),
              cs_curve_name(cs_key_curve(peer)));
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(cs_key_pkey(priv), NULL);
    size_t len = 0;
    if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 ||
        EVP_PKEY_derive_set_peer(ctx, cs_key_pkey(peer)) != 1 ||
        EVP_PKEY_derive(ctx, NULL, &len) != 1 || len != cs_curve_field_len(curve)) {
        EVP_PKEY_CTX_free(ctx);
        return cs_ossl_fail(CONSORT_E_CRYPTO, "ECDH: derive");
    }
    size_t old_len = out->len;
    uint8_t *dst;
    consort_err rc = cs_buf_extend(out, len, &dst);
    if (rc == CONSORT_OK && EVP_PKEY_derive(ctx, dst, &len) != 1) {
        cs_wipe(dst, len);
        out->len = old_len;
        rc = cs_ossl_fail(CONSORT_E_CRYPTO, "ECDH: derive");
    }
    EVP_PKEY_CTX_free(ctx);
    return rc;
}
