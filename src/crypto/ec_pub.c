/*
 * EC public keys from raw coordinates (ec_pub.h): partial public-key
 * validation, which is full validation on the cofactor-1 NIST curves.
 */
#include "crypto/ec_pub.h"

#include "crypto/rand.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <string.h>

/* OpenSSL's names of the curves consort verifies on; all have cofactor 1
 * (FIPS 186-4 Appendix D.1.2: h = 1 for P-256, P-384 and P-521). */
static const char *group_name(cs_curve curve)
{
    switch (curve) {
    case CS_CURVE_P256:
        return "P-256";
    case CS_CURVE_P384:
        return "P-384";
    case CS_CURVE_P521:
        return "P-521";
    default:
        return NULL;
    }
}

consort_err cs_ecpub_from_xy(cs_curve curve, cs_slice xy, cs_key **out)
{
    *out = NULL;
    const char *group = group_name(curve);
    CS_ENSURE(group != NULL, CONSORT_E_INVALID_ARGUMENT, "EC public key: unknown curve %d",
              (int)curve);
    size_t field = cs_curve_field_len(curve);
    CS_ENSURE(xy.len == 2 * field, CONSORT_E_MALFORMED,
              "EC public key: %s x || y must be %zu bytes, got %zu", cs_curve_name(curve),
              2 * field, xy.len);
    uint8_t point[1 + 2 * 66];
    point[0] = 0x04; /* SEC 1 §2.3.3: uncompressed point */
    memcpy(point + 1, xy.ptr, xy.len);

    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + xy.len),
        OSSL_PARAM_construct_end(),
    };
    consort_err rc = CONSORT_OK;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *check = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL) {
        rc = cs_ossl_fail(CONSORT_E_NOMEM, "EC public key: context");
        goto done;
    }
    if (EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        rc = cs_ossl_fail(CONSORT_E_MALFORMED, "EC public key: not a point of the curve");
        goto done;
    }
    /* SP 800-56A Rev. 3 §5.6.2.3.4 steps 1-3. */
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (check == NULL || EVP_PKEY_public_check_quick(check) != 1) {
        rc = cs_ossl_fail(CONSORT_E_MALFORMED, "EC public key: not a valid public point");
        goto done;
    }
    rc = cs_key_wrap(pkey, out);
    pkey = NULL;
done:
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return rc;
}
