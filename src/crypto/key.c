#include "crypto/key.h"

#include "base/alloc.h"
#include "base/file.h"
#include "crypto/key_verify.h"
#include "crypto/rand.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

struct cs_key {
    EVP_PKEY *pkey;
    cs_curve curve;
    atomic_int refs;
    /* The verification context kept by cs_key_verify (key_verify.h): a cache,
     * not part of the key's value. Whoever sets vctx_lent owns vctx and
     * vctx_id until it clears the flag again. */
    atomic_bool vctx_lent;
    unsigned vctx_id; /* the setup vctx was prepared for */
    EVP_PKEY_CTX *vctx;
    /* cs_key_id, kept once computed (encoding the SPKI through OpenSSL 3's
     * encoders costs ~0.1 ms): id_state 0 none, 1 being stored, 2 in `id` */
    atomic_int id_state;
    uint8_t id[CS_SHA256_LEN];
};

static const struct {
    cs_curve curve;
    const char *name; /* how consort prints it */
    const char *ossl; /* OpenSSL group name */
    const char *aliases[3];
    size_t field;
} curves[] = {
    {CS_CURVE_P256, "P-256", "prime256v1", {"p256", "secp256r1", "prime256v1"}, 32},
    {CS_CURVE_P384, "P-384", "secp384r1", {"p384", "secp384r1", NULL}, 48},
    {CS_CURVE_P521, "P-521", "secp521r1", {"p521", "secp521r1", NULL}, 66},
};

const char *cs_curve_name(cs_curve c)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(curves); i++)
        if (curves[i].curve == c)
            return curves[i].name;
    return "none";
}

size_t cs_curve_field_len(cs_curve c)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(curves); i++)
        if (curves[i].curve == c)
            return curves[i].field;
    return 0;
}

static const char *curve_ossl(cs_curve c)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(curves); i++)
        if (curves[i].curve == c)
            return curves[i].ossl;
    return NULL;
}

consort_err cs_curve_parse(const char *s, cs_curve *out)
{
    for (size_t i = 0; i < CS_ARRAY_LEN(curves); i++) {
        bool match = strcasecmp(s, curves[i].name) == 0;
        for (size_t j = 0; j < 3 && !match && curves[i].aliases[j]; j++)
            match = strcasecmp(s, curves[i].aliases[j]) == 0;
        if (match) {
            *out = curves[i].curve;
            return CONSORT_OK;
        }
    }
    return cs_fail(CONSORT_E_INVALID_ARGUMENT, "curve '%s' unknown, expected P-256 or P-384", s);
}

static cs_curve detect_curve(EVP_PKEY *pkey)
{
    char group[64];
    size_t len = 0;
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC)
        return CS_CURVE_NONE;
    if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &len) != 1)
        return CS_CURVE_NONE;
    for (size_t i = 0; i < CS_ARRAY_LEN(curves); i++)
        if (strcmp(group, curves[i].ossl) == 0)
            return curves[i].curve;
    return CS_CURVE_NONE;
}

consort_err cs_key_wrap(EVP_PKEY *pkey, cs_key **out)
{
    cs_key *k = cs_calloc(1, sizeof *k);
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return cs_fail(CONSORT_E_NOMEM, "key: out of memory");
    }
    k->pkey = pkey;
    k->curve = detect_curve(pkey);
    atomic_init(&k->refs, 1);
    atomic_init(&k->vctx_lent, false);
    atomic_init(&k->id_state, 0);
    *out = k;
    return CONSORT_OK;
}

EVP_PKEY *cs_key_pkey(const cs_key *key)
{
    return key->pkey;
}

cs_key *cs_key_ref(cs_key *key)
{
    atomic_fetch_add(&key->refs, 1);
    return key;
}

void cs_key_free(cs_key *key)
{
    if (key == NULL || atomic_fetch_sub(&key->refs, 1) != 1)
        return;
    EVP_PKEY_CTX_free(key->vctx);
    EVP_PKEY_free(key->pkey);
    cs_free(key);
}

consort_err cs_key_generate(cs_curve curve, cs_key **out)
{
    CS_ENSURE(curve == CS_CURVE_P256 || curve == CS_CURVE_P384, CONSORT_E_INVALID_ARGUMENT,
              "key: cannot generate on curve %s, expected P-256 or P-384", cs_curve_name(curve));
    EVP_PKEY *pkey = EVP_EC_gen(curve_ossl(curve));
    if (pkey == NULL)
        return cs_ossl_fail(CONSORT_E_CRYPTO, "key: generate");
    return cs_key_wrap(pkey, out);
}

/* Encrypted PEM keys are refused: without this callback OpenSSL would prompt
 * for a passphrase on the controlling terminal. */
static int no_passphrase_cb(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

consort_err cs_key_from_pem(cs_slice pem, cs_key **out)
{
    CS_ENSURE(pem.len <= INT32_MAX, CONSORT_E_TOO_LARGE, "key: PEM too large");
    CS_ENSURE(pem.len > 0, CONSORT_E_MALFORMED, "key: empty PEM");
    BIO *bio = BIO_new_mem_buf(pem.ptr, (int)pem.len);
    if (bio == NULL)
        return cs_ossl_fail(CONSORT_E_NOMEM, "key: BIO");
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase_cb, NULL);
    if (pkey == NULL) {
        ERR_clear_error();
        (void)BIO_reset(bio);
        pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase_cb, NULL);
    }
    BIO_free(bio);
    if (pkey == NULL)
        return cs_ossl_fail(CONSORT_E_MALFORMED, "key: not a PEM private key or public key");
    ERR_clear_error();
    return cs_key_wrap(pkey, out);
}

consort_err cs_key_from_spki_der(cs_slice der, cs_key **out)
{
    CS_ENSURE(der.len <= INT32_MAX, CONSORT_E_TOO_LARGE, "key: DER too large");
    const unsigned char *p = der.ptr;
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)der.len);
    if (pkey == NULL)
        return cs_ossl_fail(CONSORT_E_MALFORMED, "key: not a DER SubjectPublicKeyInfo");
    if ((size_t)(p - der.ptr) != der.len) {
        EVP_PKEY_free(pkey);
        return cs_fail(CONSORT_E_TRAILING_DATA, "key: %zu trailing bytes after SPKI",
                       der.len - (size_t)(p - der.ptr));
    }
    return cs_key_wrap(pkey, out);
}

consort_err cs_key_from_ec_coords(cs_curve curve, cs_slice x, cs_slice y, cs_slice d, cs_key **out)
{
    size_t field = cs_curve_field_len(curve);
    CS_ENSURE(field != 0, CONSORT_E_INVALID_ARGUMENT, "key: unknown curve");
    CS_ENSURE(x.len == field && y.len == field, CONSORT_E_MALFORMED,
              "key: %s coordinates must be %zu bytes each, got %zu and %zu", cs_curve_name(curve),
              field, x.len, y.len);
    CS_ENSURE(d.len == 0 || d.len == field, CONSORT_E_MALFORMED,
              "key: %s private scalar must be %zu bytes, got %zu", cs_curve_name(curve), field,
              d.len);
    uint8_t point[1 + 2 * 66];
    point[0] = 0x04; /* SEC 1 §2.3.3 uncompressed point */
    memcpy(point + 1, x.ptr, field);
    memcpy(point + 1 + field, y.ptr, field);

    consort_err rc = CONSORT_OK;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    BIGNUM *priv = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *check = NULL;
    CS_ENSURE_GOTO(rc, bld != NULL, done, CONSORT_E_NOMEM, "key: out of memory");
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve_ossl(curve), 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * field)) {
        rc = cs_ossl_fail(CONSORT_E_CRYPTO, "key: parameters");
        goto done;
    }
    if (d.len > 0) {
        priv = BN_secure_new();
        if (priv == NULL || BN_bin2bn(d.ptr, (int)d.len, priv) == NULL ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)) {
            rc = cs_ossl_fail(CONSORT_E_CRYPTO, "key: private scalar");
            goto done;
        }
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, d.len ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) !=
            1) {
        rc = cs_ossl_fail(CONSORT_E_MALFORMED, "key: EC point not valid");
        goto done;
    }
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (check == NULL || EVP_PKEY_public_check(check) != 1) {
        rc = cs_ossl_fail(CONSORT_E_MALFORMED, "key: point is not on the curve");
        goto done;
    }
    /* SEC 1 §3.2.1: with a private scalar d, also 0 < d < n and Q = d*G. */
    if (d.len > 0 && EVP_PKEY_pairwise_check(check) != 1) {
        rc = cs_ossl_fail(CONSORT_E_MALFORMED,
                          "key: private scalar does not match the public point");
        goto done;
    }
    rc = cs_key_wrap(pkey, out);
    pkey = NULL;
done:
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    BN_clear_free(priv);
    OSSL_PARAM_BLD_free(bld);
    cs_wipe(point, sizeof point);
    return rc;
}

consort_err cs_key_load_pem_file(const char *path, cs_key **out)
{
    cs_buf pem;
    cs_buf_init_secret(&pem, 64 * 1024);
    consort_err rc = cs_file_read(path, &pem);
    if (rc == CONSORT_OK)
        rc = cs_key_from_pem(cs_buf_slice(&pem), out);
    if (rc != CONSORT_OK)
        rc = cs_err_context(rc, "%s", path);
    cs_buf_cleanup(&pem);
    return rc;
}

bool cs_key_has_private(const cs_key *key)
{
    BIGNUM *priv = NULL;
    if (key->curve != CS_CURVE_NONE) {
        bool has = EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &priv) == 1;
        BN_clear_free(priv);
        ERR_clear_error();
        return has;
    }
    bool has = EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_D, &priv) == 1;
    BN_clear_free(priv);
    ERR_clear_error();
    return has;
}

cs_curve cs_key_curve(const cs_key *key)
{
    return key->curve;
}

const char *cs_key_type_name(const cs_key *key)
{
    switch (EVP_PKEY_get_base_id(key->pkey)) {
    case EVP_PKEY_EC:
        return "EC";
    case EVP_PKEY_RSA:
        return "RSA";
    case EVP_PKEY_RSA_PSS:
        return "RSA-PSS";
    default:
        return "other";
    }
}

consort_err cs_key_spki_der(const cs_key *key, cs_buf *out)
{
    int n = i2d_PUBKEY(key->pkey, NULL);
    if (n <= 0)
        return cs_ossl_fail(CONSORT_E_CRYPTO, "key: encode SPKI");
    uint8_t *dst;
    CS_TRY(cs_buf_extend(out, (size_t)n, &dst));
    unsigned char *p = dst;
    if (i2d_PUBKEY(key->pkey, &p) != n)
        return cs_ossl_fail(CONSORT_E_CRYPTO, "key: encode SPKI");
    return CONSORT_OK;
}

static consort_err bio_to_buf(BIO *bio, cs_buf *out)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    CS_ENSURE(n >= 0, CONSORT_E_CRYPTO, "key: BIO");
    return cs_buf_append(out, data, (size_t)n);
}

consort_err cs_key_public_pem(const cs_key *key, cs_buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_PUBKEY(bio, key->pkey) != 1) {
        BIO_free(bio);
        return cs_ossl_fail(CONSORT_E_CRYPTO, "key: encode public PEM");
    }
    consort_err rc = bio_to_buf(bio, out);
    BIO_free(bio);
    return rc;
}

consort_err cs_key_private_pem(const cs_key *key, cs_buf *out)
{
    CS_ENSURE(cs_key_has_private(key), CONSORT_E_INVALID_ARGUMENT, "key: no private key to encode");
    BIO *bio = BIO_new(BIO_s_secmem());
    if (bio == NULL ||
        PEM_write_bio_PKCS8PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        return cs_ossl_fail(CONSORT_E_CRYPTO, "key: encode private PEM");
    }
    consort_err rc = bio_to_buf(bio, out);
    BIO_free(bio);
    return rc;
}

consort_err cs_key_private_der(const cs_key *key, cs_buf *out)
{
    CS_ENSURE(cs_key_has_private(key), CONSORT_E_INVALID_ARGUMENT, "key: no private key to encode");
    BIO *bio = BIO_new(BIO_s_secmem());
    if (bio == NULL || i2d_PKCS8PrivateKey_bio(bio, key->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        return cs_ossl_fail(CONSORT_E_CRYPTO, "key: encode private DER");
    }
    consort_err rc = bio_to_buf(bio, out);
    BIO_free(bio);
    return rc;
}

consort_err cs_key_id(const cs_key *key, uint8_t out[CS_SHA256_LEN])
{
    cs_key *k = (cs_key *)key; /* the kept id is a cache, not part of the key's value */
    if (atomic_load_explicit(&k->id_state, memory_order_acquire) == 2) {
        memcpy(out, k->id, CS_SHA256_LEN);
        return CONSORT_OK;
    }
    cs_buf der;
    cs_buf_init(&der, 16 * 1024);
    consort_err rc = cs_key_spki_der(key, &der);
    if (rc == CONSORT_OK)
        cs_sha256(cs_buf_slice(&der), out);
    cs_buf_cleanup(&der);
    int none = 0; /* the first to finish keeps it; the others computed the same */
    if (rc == CONSORT_OK && atomic_compare_exchange_strong(&k->id_state, &none, 1)) {
        memcpy(k->id, out, CS_SHA256_LEN);
        atomic_store_explicit(&k->id_state, 2, memory_order_release);
    }
    return rc;
}

bool cs_key_same_public(const cs_key *a, const cs_key *b)
{
    return EVP_PKEY_eq(a->pkey, b->pkey) == 1;
}

/* ---- verification on a kept context (key_verify.h) ---- */

static EVP_PKEY_CTX *verify_ctx_new(EVP_PKEY *pkey, const cs_key_verify_setup *setup)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1 ||
        (setup->fn != NULL && !setup->fn(ctx, setup->arg))) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

consort_err cs_key_verify(const cs_key *key, const cs_key_verify_setup *setup, cs_slice tbs,
                          cs_slice sig)
{
    /* Every cs_key is allocated by cs_key_wrap, never const itself: changing
     * the kept context behind a const pointer is defined. */
    cs_key *k = (cs_key *)key;
    bool kept = !atomic_exchange_explicit(&k->vctx_lent, true, memory_order_acquire);
    EVP_PKEY_CTX *ctx;
    if (kept) {
        if (k->vctx == NULL || k->vctx_id != setup->id) {
            EVP_PKEY_CTX_free(k->vctx);
            k->vctx = verify_ctx_new(k->pkey, setup);
            k->vctx_id = setup->id;
        }
        ctx = k->vctx;
    } else {
        ctx = verify_ctx_new(k->pkey, setup); /* lent to another thread: one of our own */
    }
    consort_err rc;
    if (ctx == NULL) {
        rc = cs_ossl_fail(CONSORT_E_CRYPTO, "verification context setup");
    } else {
        int ok = EVP_PKEY_verify(ctx, sig.ptr, sig.len, tbs.ptr, tbs.len);
        ERR_clear_error();
        rc = ok == 1 ? CONSORT_OK : cs_fail(CONSORT_E_BAD_SIGNATURE, "signature does not verify");
    }
    if (kept)
        atomic_store_explicit(&k->vctx_lent, false, memory_order_release);
    else
        EVP_PKEY_CTX_free(ctx);
    return rc;
}
