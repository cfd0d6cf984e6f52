/*
 * Read-only accessors of a parsed certificate: key, names, validity, serial,
 * fingerprint, CA flag, extensions, signature check.
 */
#include "crypto/x509_priv.h"

#include "crypto/rand.h"

#include <ctype.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

consort_err cs_x509_public_key(const cs_x509 *cert, cs_key **out)
{
    EVP_PKEY *pkey = X509_get_pubkey(cert->x509);
    if (pkey == NULL) {
        char subject[200], what[256];
        cs_x509_subject(cert, subject, sizeof subject);
        snprintf(what, sizeof what, "certificate '%s': public key not usable", subject);
        return cs_ossl_fail(CONSORT_E_UNSUPPORTED, what);
    }
    return cs_key_wrap(pkey, out);
}

void cs_x509_subject(const cs_x509 *cert, char *out, size_t n)
{
    cs_x509_name_line(X509_get_subject_name(cert->x509), out, n);
}

void cs_x509_issuer(const cs_x509 *cert, char *out, size_t n)
{
    cs_x509_name_line(X509_get_issuer_name(cert->x509), out, n);
}

consort_err cs_x509_validity(const cs_x509 *cert, int64_t *not_before, int64_t *not_after)
{
    /* RFC 5280 §4.1.2.5 */
    CS_TRY_CTX(cs_time_from_asn1(X509_get0_notBefore(cert->x509), not_before),
               "certificate notBefore");
    CS_TRY_CTX(cs_time_from_asn1(X509_get0_notAfter(cert->x509), not_after),
               "certificate notAfter");
    return CONSORT_OK;
}

void cs_x509_serial_hex(const cs_x509 *cert, char *out, size_t n)
{
    if (n == 0)
        return;
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert->x509), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    if (hex == NULL) {
        ERR_clear_error();
        snprintf(out, n, "?");
    } else {
        size_t i = 0;
        for (; hex[i] != '\0' && i + 1 < n; i++)
            out[i] = (char)tolower((unsigned char)hex[i]);
        out[i] = '\0';
    }
    OPENSSL_free(hex);
    BN_free(bn);
}

consort_err cs_x509_fingerprint(const cs_x509 *cert, uint8_t out[32])
{
    cs_buf der;
    cs_buf_init(&der, CS_X509_DER_MAX);
    consort_err rc = cs_x509_to_der(cert, &der);
    if (rc == CONSORT_OK)
        cs_sha256(cs_buf_slice(&der), out);
    cs_buf_cleanup(&der);
    return rc;
}

/* RFC 5280 §4.2.1.9: basicConstraints with cA TRUE (and well-formed extensions). */
bool cs_x509_is_ca(const cs_x509 *cert)
{
    uint32_t flags = X509_get_extension_flags(cert->x509);
    ERR_clear_error();
    return (flags & EXFLAG_INVALID) == 0 && (flags & EXFLAG_CA) != 0;
}

bool cs_x509_is_self_signed(const cs_x509 *cert)
{
    X509 *x = cert->x509;
    if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) != 0)
        return false;
    EVP_PKEY *pkey = X509_get0_pubkey(x);
    bool ok = pkey != NULL && X509_verify(x, pkey) == 1;
    ERR_clear_error();
    return ok;
}

/* Dotted decimal: at least two arcs, the first 0..2, no empty arcs (X.660 §7). */
static bool oid_syntax_ok(const char *oid)
{
    size_t len = strlen(oid), arcs = 0;
    if (len < 3 || len > 128 || oid[0] < '0' || oid[0] > '2' || oid[1] != '.')
        return false;
    for (const char *p = oid; *p != '\0'; p++) {
        size_t digits = strspn(p, "0123456789");
        if (digits == 0 || (digits > 1 && *p == '0'))
            return false; /* empty arc or leading zero */
        p += digits;
        arcs++;
        if (*p == '\0')
            break;
        if (*p != '.' || p[1] == '\0')
            return false;
    }
    return arcs >= 2;
}

consort_err cs_x509_extension(const cs_x509 *cert, const char *oid, cs_slice *value)
{
    CS_ENSURE(oid != NULL, CONSORT_E_INVALID_ARGUMENT, "certificate extension: NULL OID");
    CS_ENSURE(oid_syntax_ok(oid), CONSORT_E_INVALID_ARGUMENT,
              "certificate extension: '%.80s' is not a dotted OID", oid);
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1); /* 1: dotted numbers only, no names */
    if (obj == NULL)
        return cs_ossl_fail(CONSORT_E_INVALID_ARGUMENT,
                            "certificate extension: OID not in dotted form");
    int at = X509_get_ext_by_OBJ(cert->x509, obj, -1);
    int again = at >= 0 ? X509_get_ext_by_OBJ(cert->x509, obj, at) : -1;
    ASN1_OBJECT_free(obj);
    CS_ENSURE(at >= 0, CONSORT_E_NOT_FOUND, "certificate has no extension %.80s", oid);
    /* RFC 5280 §4.2: "A certificate MUST NOT include more than one instance of a
     * particular extension." */
    CS_ENSURE(again < 0, CONSORT_E_MALFORMED, "certificate has extension %.80s twice", oid);
    X509_EXTENSION *ext = X509_get_ext(cert->x509, at);
    const ASN1_OCTET_STRING *data = ext != NULL ? X509_EXTENSION_get_data(ext) : NULL;
    CS_ENSURE(data != NULL, CONSORT_E_MALFORMED, "certificate extension %.80s has no value", oid);
    int len = ASN1_STRING_length(data);
    *value = CS_SLICE(ASN1_STRING_get0_data(data), len > 0 ? (size_t)len : 0);
    return CONSORT_OK;
}

consort_err cs_x509_verify_signature(const cs_x509 *cert, const cs_key *issuer_key)
{
    int ok = X509_verify(cert->x509, cs_key_pkey(issuer_key));
    ERR_clear_error();
    if (ok != 1) {
        char subject[256];
        cs_x509_subject(cert, subject, sizeof subject);
        return cs_fail(CONSORT_E_BAD_SIGNATURE,
                       "certificate '%s': signature does not verify under the %s issuer key",
                       subject, cs_key_type_name(issuer_key));
    }
    return CONSORT_OK;
}
