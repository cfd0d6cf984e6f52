/*
 * Issuing X.509 v3 certificates (RFC 5280) with ECDSA keys: the node,
 * platform and test certificates consort makes itself.
 *
 * Profile: version 3; subject O (optional) and CN; serial given or 63 random
 * bits; subjectKeyIdentifier and authorityKeyIdentifier; basicConstraints
 * (critical); keyUsage (critical); subjectAltName DNS/IP when given. Signed
 * with ECDSA-SHA256 by a P-256 issuer key, ECDSA-SHA384 by a P-384 one.
 */
#include "crypto/x509_priv.h"

#include "crypto/rand.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <string.h>

/* RFC 5280 Appendix A.1: ub-common-name and ub-organization-name are 64. */
#define NAME_MAX_LEN 64
#define SAN_MAX      64
#define DNS_MAX_LEN  253
/* RFC 5280 §4.1.2.5: 99991231235959Z, "no well-defined expiration date". */
#define NOT_AFTER_MAX 253402300799LL
#define KEY_ID_LEN    20

static consort_err check_name(const char *what, const char *value)
{
    size_t len = strlen(value);
    CS_ENSURE(len >= 1 && len <= NAME_MAX_LEN, CONSORT_E_INVALID_ARGUMENT,
              "certificate: %s of %zu characters, expected 1 to %d", what, len, NAME_MAX_LEN);
    return CONSORT_OK;
}

static consort_err check_params(const cs_x509_params *p)
{
    CS_ENSURE(p->subject_cn != NULL, CONSORT_E_INVALID_ARGUMENT, "certificate: no subject CN");
    CS_TRY(check_name("subject CN", p->subject_cn));
    if (p->subject_org != NULL)
        CS_TRY(check_name("subject O", p->subject_org));
    CS_ENSURE(p->not_before >= 0 && p->not_before < p->not_after && p->not_after <= NOT_AFTER_MAX,
              CONSORT_E_INVALID_ARGUMENT,
              "certificate: validity %lld..%lld, expected 0 <= notBefore < notAfter <= %lld",
              (long long)p->not_before, (long long)p->not_after, NOT_AFTER_MAX);
    return CONSORT_OK;
}

/* The message digest for an ECDSA issuer key (RFC 5758 §3.2). */
static consort_err issuer_md(const cs_key *issuer_key, const EVP_MD **md)
{
    switch (cs_key_curve(issuer_key)) {
    case CS_CURVE_P256:
        *md = EVP_sha256();
        return CONSORT_OK;
    case CS_CURVE_P384:
        *md = EVP_sha384();
        return CONSORT_OK;
    default:
        return cs_fail(CONSORT_E_INVALID_ARGUMENT,
                       "certificate: issuer key is %s %s, expected EC P-256 or P-384",
                       cs_key_type_name(issuer_key), cs_curve_name(cs_key_curve(issuer_key)));
    }
}

static consort_err set_serial(X509 *x, uint64_t serial)
{
    if (serial == 0) {
        /* RFC 5280 §4.1.2.2: a positive integer, unique per issuer: 63 random bits. */
        uint8_t r[8];
        CS_TRY(cs_random(r, sizeof r));
        for (size_t i = 0; i < sizeof r; i++)
            serial = (serial << 8) | r[i];
        serial &= INT64_MAX;
        if (serial == 0)
            serial = 1;
    }
    if (ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) != 1)
        return cs_ossl_fail(CONSORT_E_CRYPTO, "certificate: serial");
    return CONSORT_OK;
}

static consort_err set_subject(X509 *x, const cs_x509_params *p)
{
    X509_NAME *name = X509_get_subject_name(x);
    const unsigned char *org = (const unsigned char *)p->subject_org;
    const unsigned char *cn = (const unsigned char *)p->subject_cn;
    if ((org != NULL && X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8, org,
                                                   -1, -1, 0) != 1) ||
        X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, cn, -1, -1, 0) != 1)
        return cs_ossl_fail(CONSORT_E_INVALID_ARGUMENT, "certificate: subject name");
    return CONSORT_OK;
}

/*
 * RFC 7093 §2 method 1: the key identifier is the leftmost 160 bits of the
 * SHA-256 of the subjectPublicKey BIT STRING value.
 */
static void key_id_of(const X509 *x, uint8_t id[KEY_ID_LEN])
{
    const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);
    uint8_t digest[CS_SHA256_LEN];
    int len = bits != NULL ? ASN1_STRING_length(bits) : 0;
    cs_sha256(CS_SLICE(len > 0 ? ASN1_STRING_get0_data(bits) : NULL, len > 0 ? (size_t)len : 0),
              digest);
    memcpy(id, digest, KEY_ID_LEN);
}

static consort_err add_ext(X509 *x, int nid, void *value, bool critical, const char *what)
{
    if (X509_add1_ext_i2d(x, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1)
        return cs_ossl_fail(CONSORT_E_CRYPTO, what);
    return CONSORT_OK;
}

/* subjectKeyIdentifier (RFC 5280 §4.2.1.2) and authorityKeyIdentifier (§4.2.1.1). */
static consort_err add_key_ids(X509 *x, X509 *issuer)
{
    uint8_t ski[KEY_ID_LEN];
    key_id_of(x, ski);
    ASN1_OCTET_STRING *ski_os = ASN1_OCTET_STRING_new();
    AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
    ASN1_OCTET_STRING *aki_os = ASN1_OCTET_STRING_new();
    consort_err rc = CONSORT_OK;
    if (ski_os == NULL || akid == NULL || aki_os == NULL ||
        ASN1_OCTET_STRING_set(ski_os, ski, KEY_ID_LEN) != 1) {
        rc = cs_ossl_fail(CONSORT_E_NOMEM, "certificate: key identifiers");
        goto done;
    }
    /* The AKI names the issuer's SKI, so path building can match them. */
    const ASN1_OCTET_STRING *issuer_ski = issuer != NULL ? X509_get0_subject_key_id(issuer) : NULL;
    uint8_t aki[KEY_ID_LEN] = {0};
    if (issuer == NULL)
        memcpy(aki, ski, KEY_ID_LEN);
    else if (issuer_ski == NULL)
        key_id_of(issuer, aki);
    int ok = issuer_ski != NULL ? ASN1_STRING_copy(aki_os, issuer_ski)
                                : ASN1_OCTET_STRING_set(aki_os, aki, KEY_ID_LEN);
    if (ok != 1) {
        rc = cs_ossl_fail(CONSORT_E_NOMEM, "certificate: authority key identifier");
        goto done;
    }
    akid->keyid = aki_os;
    aki_os = NULL;
    CS_TRY_GOTO(rc, add_ext(x, NID_subject_key_identifier, ski_os, false, "certificate: SKI"),
                done);
    CS_TRY_GOTO(rc, add_ext(x, NID_authority_key_identifier, akid, false, "certificate: AKI"),
                done);
done:
    ASN1_OCTET_STRING_free(aki_os);
    AUTHORITY_KEYID_free(akid);
    ASN1_OCTET_STRING_free(ski_os);
    return rc;
}

/* basicConstraints (RFC 5280 §4.2.1.9, critical) and keyUsage (§4.2.1.3, critical). */
static consort_err add_constraints(X509 *x, bool is_ca)
{
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    consort_err rc = CONSORT_OK;
    CS_ENSURE_GOTO(rc, bc != NULL && ku != NULL, done, CONSORT_E_NOMEM,
                   "certificate: out of memory");
    bc->ca = is_ca ? 0xff : 0;
    /* KeyUsage bits: digitalSignature (0), keyCertSign (5), cRLSign (6). */
    int ok = is_ca ? ASN1_BIT_STRING_set_bit(ku, 5, 1) && ASN1_BIT_STRING_set_bit(ku, 6, 1)
                   : ASN1_BIT_STRING_set_bit(ku, 0, 1);
    CS_ENSURE_GOTO(rc, ok, done, CONSORT_E_NOMEM, "certificate: key usage");
    CS_TRY_GOTO(rc, add_ext(x, NID_basic_constraints, bc, true, "certificate: basicConstraints"),
                done);
    CS_TRY_GOTO(rc, add_ext(x, NID_key_usage, ku, true, "certificate: keyUsage"), done);
done:
    ASN1_BIT_STRING_free(ku);
    BASIC_CONSTRAINTS_free(bc);
    return rc;
}

/* A dNSName (RFC 5280 §4.2.1.6, an IA5String): letters, digits, '-', '.', '_', '*'. */
static consort_err check_dns(const char *dns)
{
    size_t len = strlen(dns);
    CS_ENSURE(len >= 1 && len <= DNS_MAX_LEN, CONSORT_E_INVALID_ARGUMENT,
              "certificate: DNS name of %zu characters", len);
    size_t ok = strspn(dns, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._*");
    CS_ENSURE(ok == len, CONSORT_E_INVALID_ARGUMENT,
              "certificate: DNS name '%.80s' has character 0x%02x at %zu", dns,
              (unsigned char)dns[ok], ok);
    return CONSORT_OK;
}

static consort_err push_name(GENERAL_NAMES *gens, int type, ASN1_STRING *value)
{
    GENERAL_NAME *g = GENERAL_NAME_new();
    if (g == NULL) {
        ASN1_STRING_free(value);
        return cs_fail(CONSORT_E_NOMEM, "certificate: out of memory");
    }
    GENERAL_NAME_set0_value(g, type, value);
    if (sk_GENERAL_NAME_push(gens, g) <= 0) {
        GENERAL_NAME_free(g);
        return cs_fail(CONSORT_E_NOMEM, "certificate: out of memory");
    }
    return CONSORT_OK;
}

static consort_err build_san(GENERAL_NAMES *gens, const cs_x509_params *p)
{
    for (size_t i = 0; p->dns != NULL && p->dns[i] != NULL; i++) {
        CS_TRY(check_dns(p->dns[i]));
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        if (s == NULL || ASN1_STRING_set(s, p->dns[i], -1) != 1) {
            ASN1_IA5STRING_free(s);
            return cs_ossl_fail(CONSORT_E_NOMEM, "certificate: DNS name");
        }
        CS_TRY(push_name(gens, GEN_DNS, s));
    }
    for (size_t i = 0; p->ips != NULL && p->ips[i] != NULL; i++) {
        ASN1_OCTET_STRING *ip = a2i_IPADDRESS(p->ips[i]); /* 4 or 16 octets, §4.2.1.6 */
        if (ip == NULL)
            return cs_ossl_fail(CONSORT_E_INVALID_ARGUMENT, "certificate: IP address not valid");
        CS_TRY(push_name(gens, GEN_IPADD, ip));
    }
    CS_ENSURE(sk_GENERAL_NAME_num(gens) <= SAN_MAX, CONSORT_E_INVALID_ARGUMENT,
              "certificate: %d subjectAltNames, at most %d", sk_GENERAL_NAME_num(gens), SAN_MAX);
    return CONSORT_OK;
}

/* subjectAltName (RFC 5280 §4.2.1.6), non-critical since the subject is not empty. */
static consort_err add_san(X509 *x, const cs_x509_params *p)
{
    bool any = (p->dns != NULL && p->dns[0] != NULL) || (p->ips != NULL && p->ips[0] != NULL);
    if (!any)
        return CONSORT_OK;
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    CS_ENSURE(gens != NULL, CONSORT_E_NOMEM, "certificate: out of memory");
    consort_err rc = build_san(gens, p);
    if (rc == CONSORT_OK)
        rc = add_ext(x, NID_subject_alt_name, gens, false, "certificate: subjectAltName");
    GENERAL_NAMES_free(gens);
    return rc;
}

static consort_err check_keys(const cs_key *subject_key, const cs_key *issuer_key,
                              const cs_x509 *issuer_cert)
{
    CS_ENSURE(subject_key != NULL && issuer_key != NULL, CONSORT_E_INVALID_ARGUMENT,
              "certificate: subject and issuer keys are required");
    CS_ENSURE(cs_key_has_private(issuer_key), CONSORT_E_INVALID_ARGUMENT,
              "certificate: the issuer key has no private half");
    const EVP_PKEY *want =
        issuer_cert != NULL ? X509_get0_pubkey(issuer_cert->x509) : cs_key_pkey(subject_key);
    bool match = want != NULL && EVP_PKEY_eq(want, cs_key_pkey(issuer_key)) == 1;
    ERR_clear_error();
    CS_ENSURE(match, CONSORT_E_INVALID_ARGUMENT, "certificate: the issuer key does not match %s",
              issuer_cert != NULL ? "the issuer certificate"
                                  : "the subject key (self-signed certificate)");
    return CONSORT_OK;
}

consort_err cs_x509_create(const cs_x509_params *params, const cs_key *subject_key,
                           const cs_key *issuer_key, const cs_x509 *issuer_cert, cs_x509 **out)
{
    CS_ENSURE(params != NULL, CONSORT_E_INVALID_ARGUMENT, "certificate: no parameters");
    CS_TRY(check_params(params));
    CS_TRY(check_keys(subject_key, issuer_key, issuer_cert));
    const EVP_MD *md = NULL;
    CS_TRY(issuer_md(issuer_key, &md));

    consort_err rc = CONSORT_OK;
    unsigned char *der = NULL;
    X509 *x = X509_new();
    CS_ENSURE_GOTO(rc, x != NULL, done, CONSORT_E_NOMEM, "certificate: out of memory");
    X509 *issuer = issuer_cert != NULL ? issuer_cert->x509 : NULL;
    if (X509_set_version(x, X509_VERSION_3) != 1 ||
        X509_set_pubkey(x, cs_key_pkey(subject_key)) != 1 ||
        ASN1_TIME_set(X509_getm_notBefore(x), (time_t)params->not_before) == NULL ||
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)params->not_after) == NULL) {
        rc = cs_ossl_fail(CONSORT_E_CRYPTO, "certificate: fields");
        goto done;
    }
    CS_TRY_GOTO(rc, set_serial(x, params->serial), done);
    CS_TRY_GOTO(rc, set_subject(x, params), done);
    if (X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer)
                                               : X509_get_subject_name(x)) != 1) {
        rc = cs_ossl_fail(CONSORT_E_CRYPTO, "certificate: issuer name");
        goto done;
    }
    CS_TRY_GOTO(rc, add_constraints(x, params->is_ca), done);
    CS_TRY_GOTO(rc, add_key_ids(x, issuer), done);
    CS_TRY_GOTO(rc, add_san(x, params), done);
    if (X509_sign(x, cs_key_pkey(issuer_key), md) <= 0) {
        rc = cs_ossl_fail(CONSORT_E_CRYPTO, "certificate: sign");
        goto done;
    }
    /* Return what a relying party will parse: the encoded certificate, re-read. */
    int n = i2d_X509(x, &der);
    if (n <= 0) {
        rc = cs_ossl_fail(CONSORT_E_CRYPTO, "certificate: encode");
        goto done;
    }
    rc = cs_x509_from_der(CS_SLICE(der, (size_t)n), out);
done:
    OPENSSL_free(der);
    X509_free(x);
    if (rc != CONSORT_OK)
        rc = cs_err_context(rc, "create certificate '%s'", params->subject_cn);
    return rc;
}
