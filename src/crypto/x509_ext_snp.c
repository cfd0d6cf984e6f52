/*
 * Typed certificate extensions, names and the RSASSA-PSS scheme check used
 * by the SEV-SNP verifier (see x509_ext_snp.h).
 */
#include "crypto/x509_ext_snp.h"

#include "crypto/rand.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <string.h>

/* Copies printable ASCII (0x20..0x7e) into out[n], NUL-terminated. */
static consort_err copy_printable(const unsigned char *data, int len, const char *what, char *out,
                                  size_t n)
{
    CS_ENSURE(len >= 0 && (size_t)len<n, CONSORT_E_TOO_LARGE, "%s: %d characters, at most %zu fit",
                                      what, len, n> 0
                  ? n - 1
                  : 0);
    for (int i = 0; i < len; i++)
        CS_ENSURE(data[i] >= 0x20 && data[i] <= 0x7e, CONSORT_E_MALFORMED,
                  "%s: byte 0x%02x at position %d is not printable ASCII", what, data[i], i);
    memcpy(out, data, (size_t)len);
    out[len] = '\0';
    return CONSORT_OK;
}

consort_err cs_x509_ext_uint(const cs_x509 *cert, const char *oid, uint64_t *out)
{
    cs_slice v;
    CS_TRY(cs_x509_extension(cert, oid, &v));
    CS_ENSURE(v.len > 0 && v.len <= 16 && v.ptr[0] == V_ASN1_INTEGER, CONSORT_E_MALFORMED,
              "certificate extension %.80s: not a DER INTEGER", oid);
    const unsigned char *p = v.ptr;
    ASN1_INTEGER *ai = d2i_ASN1_INTEGER(NULL, &p, (long)v.len);
    if (ai == NULL) {
        ERR_clear_error();
        return cs_fail(CONSORT_E_MALFORMED, "certificate extension %.80s: bad DER INTEGER", oid);
    }
    size_t used = (size_t)(p - v.ptr);
    uint64_t u = 0;
    int ok = ASN1_INTEGER_get_uint64(&u, ai); /* fails for negative values */
    ASN1_INTEGER_free(ai);
    ERR_clear_error();
    CS_ENSURE(used == v.len, CONSORT_E_MALFORMED,
              "certificate extension %.80s: %zu bytes after the INTEGER", oid, v.len - used);
    CS_ENSURE(ok == 1, CONSORT_E_MALFORMED,
              "certificate extension %.80s: INTEGER is negative or wider than 64 bits", oid);
    *out = u;
    return CONSORT_OK;
}

consort_err cs_x509_ext_ia5(const cs_x509 *cert, const char *oid, char *out, size_t n)
{
    cs_slice v;
    CS_TRY(cs_x509_extension(cert, oid, &v));
    CS_ENSURE(v.len > 0 && v.ptr[0] == V_ASN1_IA5STRING, CONSORT_E_MALFORMED,
              "certificate extension %.80s: not a DER IA5String", oid);
    CS_ENSURE(v.len <= 4096, CONSORT_E_TOO_LARGE, "certificate extension %.80s: %zu bytes", oid,
              v.len);
    const unsigned char *p = v.ptr;
    ASN1_IA5STRING *s = d2i_ASN1_IA5STRING(NULL, &p, (long)v.len);
    if (s == NULL) {
        ERR_clear_error();
        return cs_fail(CONSORT_E_MALFORMED, "certificate extension %.80s: bad DER IA5String", oid);
    }
    size_t used = (size_t)(p - v.ptr);
    consort_err rc = CONSORT_OK;
    if (used != v.len)
        rc = cs_fail(CONSORT_E_MALFORMED,
                     "certificate extension %.80s: %zu bytes after the "
                     "IA5String",
                     oid, v.len - used);
    else
        rc = copy_printable(ASN1_STRING_get0_data(s), ASN1_STRING_length(s),
                            "certificate extension", out, n);
    ASN1_IA5STRING_free(s);
    return rc;
}

static consort_err name_cn(const X509_NAME *name, const char *which, char *out, size_t n)
{
    int at = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    CS_ENSURE(at >= 0, CONSORT_E_NOT_FOUND, "certificate %s has no commonName", which);
    CS_ENSURE(X509_NAME_get_index_by_NID(name, NID_commonName, at) < 0, CONSORT_E_MALFORMED,
              "certificate %s has several commonNames", which);
    const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, at);
    const ASN1_STRING *d = e != NULL ? X509_NAME_ENTRY_get_data(e) : NULL;
    CS_ENSURE(d != NULL, CONSORT_E_MALFORMED, "certificate %s commonName is empty", which);
    return copy_printable(ASN1_STRING_get0_data(d), ASN1_STRING_length(d), "commonName", out, n);
}

consort_err cs_x509_ext_subject_cn(const cs_x509 *cert, char *out, size_t n)
{
    return name_cn(X509_get_subject_name(cs_x509_ossl(cert)), "subject", out, n);
}

consort_err cs_x509_ext_issuer_cn(const cs_x509 *cert, char *out, size_t n)
{
    return name_cn(X509_get_issuer_name(cs_x509_ossl(cert)), "issuer", out, n);
}

bool cs_x509_ext_name_chains(const cs_x509 *child, const cs_x509 *parent)
{
    return X509_NAME_cmp(X509_get_issuer_name(cs_x509_ossl(child)),
                         X509_get_subject_name(cs_x509_ossl(parent))) == 0;
}

bool cs_x509_ext_same_subject(const cs_x509 *a, const cs_x509 *b)
{
    return X509_NAME_cmp(X509_get_subject_name(cs_x509_ossl(a)),
                         X509_get_subject_name(cs_x509_ossl(b))) == 0;
}

bool cs_x509_ext_self_issued(const cs_x509 *cert)
{
    const X509 *x = cs_x509_ossl(cert);
    return X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0;
}

/* NID of an AlgorithmIdentifier's OID (NID_undef for NULL). */
static int algor_nid(const X509_ALGOR *a)
{
    const ASN1_OBJECT *obj = NULL;
    if (a == NULL)
        return NID_undef;
    X509_ALGOR_get0(&obj, NULL, NULL, a);
    return obj != NULL ? OBJ_obj2nid(obj) : NID_undef;
}

/* Checks decoded RSASSA-PSS-params (RFC 4055 §3.1) against SHA-384/MGF1-SHA-384/48/1. */
static consort_err check_pss_params(const RSA_PSS_PARAMS *pss)
{
    /* hashAlgorithm absent means SHA-1 (RFC 4055 §3.1 DEFAULT sha1Identifier). */
    CS_ENSURE(algor_nid(pss->hashAlgorithm) == NID_sha384, CONSORT_E_BAD_CERTIFICATE,
              "RSASSA-PSS hash is %s, expected SHA-384",
              pss->hashAlgorithm ? OBJ_nid2sn(algor_nid(pss->hashAlgorithm)) : "SHA-1 (default)");
    CS_ENSURE(algor_nid(pss->maskGenAlgorithm) == NID_mgf1, CONSORT_E_BAD_CERTIFICATE,
              "RSASSA-PSS mask generation is not MGF1");
    const ASN1_TYPE *mgf_param = pss->maskGenAlgorithm->parameter;
    CS_ENSURE(mgf_param != NULL && mgf_param->type == V_ASN1_SEQUENCE, CONSORT_E_BAD_CERTIFICATE,
              "RSASSA-PSS MGF1 has no hash parameter");
    X509_ALGOR *mgf_hash = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(X509_ALGOR), mgf_param);
    int mgf_nid = algor_nid(mgf_hash);
    X509_ALGOR_free(mgf_hash);
    ERR_clear_error();
    CS_ENSURE(mgf_nid == NID_sha384, CONSORT_E_BAD_CERTIFICATE,
              "RSASSA-PSS MGF1 hash is %s, expected SHA-384",
              mgf_nid == NID_undef ? "unreadable" : OBJ_nid2sn(mgf_nid));
    int64_t salt = 20; /* DEFAULT 20 */
    if (pss->saltLength != NULL && ASN1_INTEGER_get_int64(&salt, pss->saltLength) != 1)
        salt = -1;
    CS_ENSURE(salt == 48, CONSORT_E_BAD_CERTIFICATE, "RSASSA-PSS salt length %lld, expected 48",
              (long long)salt);
    int64_t trailer = 1; /* DEFAULT trailerFieldBC (1) */
    if (pss->trailerField != NULL && ASN1_INTEGER_get_int64(&trailer, pss->trailerField) != 1)
        trailer = -1;
    CS_ENSURE(trailer == 1, CONSORT_E_BAD_CERTIFICATE, "RSASSA-PSS trailer field %lld, expected 1",
              (long long)trailer);
    return CONSORT_OK;
}

consort_err cs_x509_ext_require_rsa_pss_sha384(const cs_x509 *cert)
{
    const ASN1_BIT_STRING *sig = NULL;
    const X509_ALGOR *alg = NULL;
    X509_get0_signature(&sig, &alg, cs_x509_ossl(cert));
    int nid = algor_nid(alg);
    CS_ENSURE(nid == NID_rsassaPss, CONSORT_E_BAD_CERTIFICATE,
              "certificate signature algorithm is %s, expected RSASSA-PSS",
              nid == NID_undef ? "unknown" : OBJ_nid2sn(nid));
    CS_ENSURE(alg->parameter != NULL && alg->parameter->type == V_ASN1_SEQUENCE,
              CONSORT_E_BAD_CERTIFICATE, "RSASSA-PSS signature algorithm without parameters");
    RSA_PSS_PARAMS *pss = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(RSA_PSS_PARAMS), alg->parameter);
    if (pss == NULL)
        return cs_ossl_fail(CONSORT_E_BAD_CERTIFICATE, "RSASSA-PSS parameters do not parse");
    consort_err rc = check_pss_params(pss);
    RSA_PSS_PARAMS_free(pss);
    return rc;
}
