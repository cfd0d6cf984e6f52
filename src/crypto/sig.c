/*
 * Generic signature verification (sig.h): the RSA schemes on OpenSSL's EVP
 * interface, ECDSA delegated to ecdsa.c.
 */
#include "crypto/sig.h"

#include "crypto/key_verify.h"
#include "crypto/rand.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

const char *cs_sig_alg_name(cs_sig_alg alg)
{
    switch (alg) {
    case CS_SIG_RSA_PKCS1:
        return "RSASSA-PKCS1-v1_5";
    case CS_SIG_RSA_PSS:
        return "RSASSA-PSS";
    case CS_SIG_ECDSA:
        return "ECDSA";
    }
    return "unknown signature algorithm";
}

static const EVP_MD *md_of(cs_hash_alg hash)
{
    switch (hash) {
    case CS_HASH_SHA256:
        return EVP_sha256();
    case CS_HASH_SHA384:
        return EVP_sha384();
    case CS_HASH_SHA512:
        return EVP_sha512();
    }
    return NULL;
}

unsigned cs_key_rsa_bits(const cs_key *key)
{
    EVP_PKEY *pkey = cs_key_pkey(key);
    int id = EVP_PKEY_get_base_id(pkey);
    if (id != EVP_PKEY_RSA && id != EVP_PKEY_RSA_PSS)
        return 0;
    int bits = EVP_PKEY_get_bits(pkey);
    return bits > 0 ? (unsigned)bits : 0;
}

/* Checks that `key` is an RSA key of an accepted size; returns its modulus length. */
static consort_err rsa_check_key(const cs_key *key, cs_sig_alg alg, size_t *mod_len)
{
    unsigned bits = cs_key_rsa_bits(key);
    CS_ENSURE(bits != 0, CONSORT_E_INVALID_ARGUMENT, "%s: key is %s, not an RSA key",
              cs_sig_alg_name(alg), cs_key_type_name(key));
    CS_ENSURE(bits >= CS_SIG_RSA_MIN_BITS && bits <= CS_SIG_RSA_MAX_BITS, CONSORT_E_UNSUPPORTED,
              "%s: RSA modulus of %u bits, expected %d to %d", cs_sig_alg_name(alg), bits,
              CS_SIG_RSA_MIN_BITS, CS_SIG_RSA_MAX_BITS);
    *mod_len = (bits + 7) / 8;
    return CONSORT_OK;
}

/* Sets the RSA padding (and for PSS the MGF1 hash and salt length) on `pctx`. */
static bool rsa_set_padding(EVP_PKEY_CTX *pctx, cs_sig_alg alg, const EVP_MD *md, int saltlen)
{
    if (alg == CS_SIG_RSA_PKCS1)
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen) == 1;
}

/* What an RSA verification context is prepared with (cs_key_verify_setup.arg). */
typedef struct rsa_setup {
    cs_sig_alg alg;
    const EVP_MD *md;
} rsa_setup;

/* As EVP_DigestVerifyInit with `md` would set it, then the padding. */
static bool rsa_verify_setup(EVP_PKEY_CTX *pctx, const void *arg)
{
    const rsa_setup *s = arg;
    return EVP_PKEY_CTX_set_signature_md(pctx, s->md) == 1 &&
           rsa_set_padding(pctx, s->alg, s->md, RSA_PSS_SALTLEN_AUTO);
}

/*
 * The message is hashed here (hash.c) and the digest checked on the key's
 * kept context (key_verify.h): the same check EVP_DigestVerify makes after
 * hashing, without a new context and its algorithm fetches for every call.
 */
static consort_err rsa_verify(const cs_key *key, cs_sig_alg alg, cs_hash_alg hash, const EVP_MD *md,
                              cs_slice msg, cs_slice sig)
{
    size_t mod_len;
    CS_TRY(rsa_check_key(key, alg, &mod_len));
    /* RFC 8017 §8.2.2 step 1 / §8.1.2 step 1: the signature is exactly k octets. */
    CS_ENSURE(sig.len == mod_len, CONSORT_E_BAD_SIGNATURE,
              "%s: signature of %zu bytes, expected %zu (the modulus size)", cs_sig_alg_name(alg),
              sig.len, mod_len);
    uint8_t digest[CS_HASH_MAX_LEN];
    CS_TRY(cs_hash(hash, msg, digest));
    const rsa_setup arg = {alg, md};
    /* One id per scheme and hash: 0x100 | scheme << 4 | hash (both below 16). */
    const cs_key_verify_setup setup = {
        .id = 0x100u | (unsigned)alg << 4 | (unsigned)hash,
        .fn = rsa_verify_setup,
        .arg = &arg,
    };
    consort_err rc = cs_key_verify(key, &setup, CS_SLICE(digest, cs_hash_len(hash)), sig);
    if (rc == CONSORT_E_CRYPTO)
        return cs_err_context(rc, "RSA verify");
    CS_ENSURE(rc == CONSORT_OK, CONSORT_E_BAD_SIGNATURE,
              "%s with %s: RSA-%zu signature does not verify", cs_sig_alg_name(alg),
              EVP_MD_get0_name(md), mod_len * 8);
    return CONSORT_OK;
}

consort_err cs_sig_verify(const cs_key *key, cs_sig_alg alg, cs_hash_alg hash, cs_slice msg,
                          cs_slice sig)
{
    const EVP_MD *md = md_of(hash);
    CS_ENSURE(md != NULL, CONSORT_E_UNSUPPORTED, "signature: hash algorithm %d unsupported",
              (int)hash);
    switch (alg) {
    case CS_SIG_RSA_PKCS1:
    case CS_SIG_RSA_PSS:
        return rsa_verify(key, alg, hash, md, msg, sig);
    case CS_SIG_ECDSA:
        return cs_ecdsa_verify(key, hash, msg, CS_SIG_RAW, sig);
    }
    return cs_fail(CONSORT_E_UNSUPPORTED, "signature: algorithm %d unsupported", (int)alg);
}

static consort_err rsa_sign(const cs_key *key, cs_sig_alg alg, const EVP_MD *md, cs_slice msg,
                            cs_buf *sig)
{
    size_t mod_len;
    CS_TRY(rsa_check_key(key, alg, &mod_len));
    CS_ENSURE(cs_key_has_private(key), CONSORT_E_INVALID_ARGUMENT,
              "%s: no private key to sign with", cs_sig_alg_name(alg));
    size_t start = sig->len;
    uint8_t *dst;
    CS_TRY(cs_buf_extend(sig, mod_len, &dst));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    size_t len = mod_len;
    if (ctx == NULL || EVP_DigestSignInit(ctx, &pctx, md, NULL, cs_key_pkey(key)) != 1 ||
        !rsa_set_padding(pctx, alg, md, RSA_PSS_SALTLEN_DIGEST) ||
        EVP_DigestSign(ctx, dst, &len, msg.ptr, msg.len) != 1 || len != mod_len) {
        EVP_MD_CTX_free(ctx);
        sig->len = start;
        return cs_ossl_fail(CONSORT_E_CRYPTO, "RSA sign");
    }
    EVP_MD_CTX_free(ctx);
    return CONSORT_OK;
}

consort_err cs_sig_sign(const cs_key *key, cs_sig_alg alg, cs_hash_alg hash, cs_slice msg,
                        cs_buf *sig)
{
    const EVP_MD *md = md_of(hash);
    CS_ENSURE(md != NULL, CONSORT_E_UNSUPPORTED, "signature: hash algorithm %d unsupported",
              (int)hash);
    switch (alg) {
    case CS_SIG_RSA_PKCS1:
    case CS_SIG_RSA_PSS:
        return rsa_sign(key, alg, md, msg, sig);
    case CS_SIG_ECDSA:
        return cs_ecdsa_sign(key, hash, msg, CS_SIG_RAW, sig);
    }
    return cs_fail(CONSORT_E_UNSUPPORTED, "signature: algorithm %d unsupported", (int)alg);
}

consort_err cs_key_from_rsa(cs_slice n, cs_slice e, cs_key **out)
{
    /* Leading zero octets carry no value (some encodings keep a sign byte). */
    while (n.len > 0 && n.ptr[0] == 0) {
        n.ptr++;
        n.len--;
    }
    while (e.len > 0 && e.ptr[0] == 0) {
        e.ptr++;
        e.len--;
    }
    CS_ENSURE(n.len * 8 >= CS_SIG_RSA_MIN_BITS && n.len * 8 <= CS_SIG_RSA_MAX_BITS,
              CONSORT_E_UNSUPPORTED, "RSA key: modulus of %zu bytes, expected %d to %d bits", n.len,
              CS_SIG_RSA_MIN_BITS, CS_SIG_RSA_MAX_BITS);
    /* RFC 8017 §3.1: 3 <= e < n, and e is odd. Exponents longer than 8 bytes are refused. */
    CS_ENSURE(e.len >= 1 && e.len <= 8 && (e.ptr[e.len - 1] & 1) == 1 &&
                  !(e.len == 1 && e.ptr[0] < 3),
              CONSORT_E_MALFORMED, "RSA key: public exponent (%zu bytes) is not an odd value >= 3",
              e.len);
    CS_ENSURE((n.ptr[n.len - 1] & 1) == 1, CONSORT_E_MALFORMED, "RSA key: modulus is even");

    consort_err rc = CONSORT_OK;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn_n = BN_bin2bn(n.ptr, (int)n.len, NULL);
    BIGNUM *bn_e = BN_bin2bn(e.ptr, (int)e.len, NULL);
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    if (bld == NULL || bn_n == NULL || bn_e == NULL ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
        rc = cs_ossl_fail(CONSORT_E_NOMEM, "RSA key: parameters");
        goto done;
    }
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        rc = cs_ossl_fail(CONSORT_E_MALFORMED, "RSA key: not a valid public key");
        goto done;
    }
    rc = cs_key_wrap(pkey, out);
    pkey = NULL;
done:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    BN_free(bn_e);
    BN_free(bn_n);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

consort_err cs_key_generate_rsa(unsigned bits, cs_key **out)
{
    CS_ENSURE(bits >= CS_SIG_RSA_MIN_BITS && bits <= CS_SIG_RSA_MAX_BITS,
              CONSORT_E_INVALID_ARGUMENT, "RSA key: cannot generate %u bits, expected %d to %d",
              bits, CS_SIG_RSA_MIN_BITS, CS_SIG_RSA_MAX_BITS);
    EVP_PKEY *pkey = EVP_RSA_gen(bits);
    if (pkey == NULL)
        return cs_ossl_fail(CONSORT_E_CRYPTO, "RSA key: generate");
    return cs_key_wrap(pkey, out);
}
