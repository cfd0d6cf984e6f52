/* Issuing v2 CRLs (RFC 5280 §5.1) signed with ECDSA. */
#include "crypto/x509_crl_create.h"

#include "crypto/rand.h"
#include "crypto/x509_priv.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#define REVOKED_MAX 100000
#define TIME_MAX    253402300799LL /* 9999-12-31T23:59:59Z */

static consort_err check(const cs_x509_crl_params *p, const cs_x509 *issuer_cert,
                         const cs_key *issuer_key, const EVP_MD **md)
{
    CS_ENSURE(p != NULL && issuer_cert != NULL && issuer_key != NULL, CONSORT_E_INVALID_ARGUMENT,
              "CRL: parameters, issuer certificate and key required");
    CS_ENSURE(
        p->this_update >= 0 && p->this_update < p->next_update && p->next_update <= TIME_MAX &&
            p->revocation_date >= 0 && p->revocation_date <= TIME_MAX,
        CONSORT_E_INVALID_ARGUMENT, "CRL: times out of range (thisUpdate %lld, nextUpdate %lld)",
        (long long)p->this_update, (long long)p->next_update);
    CS_ENSURE(p->revoked_count <= REVOKED_MAX && (p->revoked != NULL || p->revoked_count == 0),
              CONSORT_E_INVALID_ARGUMENT, "CRL: %zu revoked entries", p->revoked_count);
    CS_ENSURE(cs_key_has_private(issuer_key), CONSORT_E_INVALID_ARGUMENT,
              "CRL: the issuer key has no private half");
    const EVP_PKEY *cert_key = X509_get0_pubkey(issuer_cert->x509);
    bool match = cert_key != NULL && EVP_PKEY_eq(cert_key, cs_key_pkey(issuer_key)) == 1;
    ERR_clear_error();
    CS_ENSURE(match, CONSORT_E_INVALID_ARGUMENT,
              "CRL: the issuer key does not match the issuer certificate");
    cs_curve curve = cs_key_curve(issuer_key);
    CS_ENSURE(curve == CS_CURVE_P256 || curve == CS_CURVE_P384, CONSORT_E_INVALID_ARGUMENT,
              "CRL: issuer key is %s %s, expected EC P-256 or P-384", cs_key_type_name(issuer_key),
              cs_curve_name(curve));
    *md = curve == CS_CURVE_P256 ? EVP_sha256() : EVP_sha384();
    return CONSORT_OK;
}

/* §5.1.2.4 thisUpdate, §5.1.2.5 nextUpdate. */
static bool set_times(X509_CRL *crl, int64_t this_update, int64_t next_update)
{
    ASN1_TIME *t1 = ASN1_TIME_set(NULL, (time_t)this_update);
    ASN1_TIME *t2 = ASN1_TIME_set(NULL, (time_t)next_update);
    bool ok = t1 != NULL && t2 != NULL && X509_CRL_set1_lastUpdate(crl, t1) == 1 &&
              X509_CRL_set1_nextUpdate(crl, t2) == 1;
    ASN1_TIME_free(t1);
    ASN1_TIME_free(t2);
    return ok;
}

/* §5.1.2.6 revokedCertificates: userCertificate (the serial) and revocationDate. */
static bool add_revoked(X509_CRL *crl, const cs_x509_crl_params *p)
{
    int64_t when = p->revocation_date != 0 ? p->revocation_date : p->this_update;
    ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)when);
    bool ok = t != NULL;
    for (size_t i = 0; ok && i < p->revoked_count; i++) {
        X509_REVOKED *r = X509_REVOKED_new();
        ok = r != NULL &&
             X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(p->revoked[i]->x509)) == 1 &&
             X509_REVOKED_set_revocationDate(r, t) == 1 && X509_CRL_add0_revoked(crl, r) == 1;
        if (!ok)
            X509_REVOKED_free(r);
    }
    ASN1_TIME_free(t);
    return ok && X509_CRL_sort(crl) == 1;
}

/* §5.2.1 authorityKeyIdentifier (from the issuer's SKI) and §5.2.3 cRLNumber. */
static bool add_extensions(X509_CRL *crl, X509 *issuer, uint64_t number)
{
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(issuer);
    bool ok = num != NULL && akid != NULL && ASN1_INTEGER_set_uint64(num, number) == 1 &&
              X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, X509V3_ADD_DEFAULT) == 1;
    if (ok && ski != NULL) {
        akid->keyid = ASN1_OCTET_STRING_dup(ski);
        ok = akid->keyid != NULL && X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid,
                                                          0, X509V3_ADD_DEFAULT) == 1;
    }
    AUTHORITY_KEYID_free(akid);
    ASN1_INTEGER_free(num);
    return ok;
}

consort_err cs_x509_crl_create(const cs_x509_crl_params *params, const cs_x509 *issuer_cert,
                               const cs_key *issuer_key, cs_x509_crl **out)
{
    const EVP_MD *md = NULL;
    CS_TRY(check(params, issuer_cert, issuer_key, &md));
    consort_err rc = CONSORT_OK;
    unsigned char *der = NULL;
    X509_CRL *crl = X509_CRL_new();
    X509 *issuer = issuer_cert->x509;
    if (crl == NULL || X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) != 1 ||
        !set_times(crl, params->this_update, params->next_update) || !add_revoked(crl, params) ||
        !add_extensions(crl, issuer, params->crl_number)) {
        rc = cs_ossl_fail(CONSORT_E_CRYPTO, "CRL: fields");
        goto done;
    }
    if (X509_CRL_sign(crl, cs_key_pkey(issuer_key), md) <= 0) {
        rc = cs_ossl_fail(CONSORT_E_CRYPTO, "CRL: sign");
        goto done;
    }
    int n = i2d_X509_CRL(crl, &der);
    if (n <= 0) {
        rc = cs_ossl_fail(CONSORT_E_CRYPTO, "CRL: encode");
        goto done;
    }
    rc = cs_x509_crl_parse(CS_SLICE(der, (size_t)n), out);
done:
    OPENSSL_free(der);
    X509_CRL_free(crl);
    return rc;
}
