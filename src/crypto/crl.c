/*
 * Certificate revocation lists (RFC 5280 §5): parsing and accessors.
 * Revocation itself is checked by cs_x509_verify_chain (x509_chain.c).
 */
#include "crypto/x509_priv.h"

#include "base/alloc.h"
#include "crypto/rand.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>

static consort_err crl_wrap(X509_CRL *crl, cs_x509_crl **out)
{
    cs_x509_crl *c = cs_calloc(1, sizeof *c);
    if (c == NULL) {
        X509_CRL_free(crl);
        return cs_fail(CONSORT_E_NOMEM, "CRL: out of memory");
    }
    c->crl = crl;
    *out = c;
    return CONSORT_OK;
}

static consort_err crl_from_der(cs_slice der, cs_x509_crl **out)
{
    CS_TRY(cs_der_expect_one_sequence(der, "CRL"));
    const unsigned char *p = der.ptr;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)der.len);
    if (crl == NULL)
        return cs_ossl_fail(CONSORT_E_MALFORMED, "CRL: DER does not parse");
    if ((size_t)(p - der.ptr) != der.len) { /* defensive: the framing was checked above */
        X509_CRL_free(crl);
        return cs_fail(CONSORT_E_TRAILING_DATA, "CRL: trailing bytes after the DER");
    }
    return crl_wrap(crl, out);
}

/* The first "X509 CRL" block (RFC 7468 §6), other blocks skipped; its DER framed strictly. */
static consort_err crl_from_pem(cs_slice pem, cs_x509_crl **out)
{
    BIO *bio = BIO_new_mem_buf(pem.ptr, (int)pem.len);
    if (bio == NULL)
        return cs_ossl_fail(CONSORT_E_NOMEM, "CRL: BIO");
    consort_err rc = CONSORT_OK;
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long len = 0;
        if (PEM_read_bio(bio, &name, &header, &data, &len) != 1) {
            rc = cs_ossl_fail(CONSORT_E_MALFORMED, "CRL: no X509 CRL PEM block");
            break;
        }
        bool is_crl = strcmp(name, PEM_STRING_X509_CRL) == 0;
        if (is_crl)
            rc = crl_from_der(CS_SLICE(data, (size_t)len), out);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        if (is_crl)
            break;
    }
    BIO_free(bio);
    return rc;
}

consort_err cs_x509_crl_parse(cs_slice data, cs_x509_crl **out)
{
    CS_ENSURE(data.len <= CS_X509_CRL_MAX, CONSORT_E_TOO_LARGE,
              "CRL: %zu bytes, at most %u allowed", data.len, CS_X509_CRL_MAX);
    CS_ENSURE(data.len > 0, CONSORT_E_MALFORMED, "CRL: empty input");
    if (cs_der_looks_like_der(data))
        return crl_from_der(data, out);
    return crl_from_pem(data, out);
}

void cs_x509_crl_free(cs_x509_crl *crl)
{
    if (crl == NULL)
        return;
    X509_CRL_free(crl->crl);
    cs_free(crl);
}

X509_CRL *cs_x509_crl_ossl(const cs_x509_crl *crl)
{
    return crl->crl;
}

void cs_x509_crl_issuer(const cs_x509_crl *crl, char *out, size_t n)
{
    cs_x509_name_line(X509_CRL_get_issuer(crl->crl), out, n);
}

consort_err cs_x509_crl_validity(const cs_x509_crl *crl, int64_t *this_update, int64_t *next_update)
{
    /* RFC 5280 §5.1.2.4 thisUpdate, §5.1.2.5 nextUpdate (optional in the ASN.1). */
    CS_TRY_CTX(cs_time_from_asn1(X509_CRL_get0_lastUpdate(crl->crl), this_update),
               "CRL thisUpdate");
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl->crl);
    *next_update = 0;
    if (next != NULL)
        CS_TRY_CTX(cs_time_from_asn1(next, next_update), "CRL nextUpdate");
    return CONSORT_OK;
}
