/*
 * libFuzzer target for the X.509 parsers (src/crypto/x509.h): arbitrary
 * bytes go through cs_x509_parse_all (DER or PEM bundle) and
 * cs_x509_crl_parse; whatever parses has every accessor exercised and the
 * first certificate is verified as a chain against the others. The input,
 * NUL-terminated, is also an RFC 3339 time. Nothing may crash, leak or read
 * out of bounds, and a parsed certificate must re-encode to DER that parses,
 * and its DER written as PEM without decoding (cs_x509_der_to_pem) must be
 * the PEM cs_x509_to_pem writes; the input itself goes through
 * cs_x509_der_to_pem's DER framing check too.
 * Seeds: real Intel SGX and AMD SEV-SNP certificates, a bundle and a CRL.
 */
#include "crypto/x509.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void outcome(consort_err rc)
{
    (void)rc;
}

static void exercise(cs_x509 *cert)
{
    char text[256];
    int64_t a, b;
    uint8_t fp[32];
    cs_slice v;
    cs_x509_subject(cert, text, sizeof text);
    cs_x509_issuer(cert, text, sizeof text);
    cs_x509_serial_hex(cert, text, sizeof text);
    outcome(cs_x509_validity(cert, &a, &b));
    outcome(cs_x509_fingerprint(cert, fp));
    outcome(cs_x509_extension(cert, "2.5.29.19", &v));
    outcome(cs_x509_extension(cert, "1.3.6.1.4.1.3704.1.4", &v));
    (void)cs_x509_is_ca(cert);
    (void)cs_x509_is_self_signed(cert);
    cs_key *key = NULL;
    if (cs_x509_public_key(cert, &key) == CONSORT_OK) {
        outcome(cs_x509_verify_signature(cert, key));
        cs_key_free(key);
    }
    cs_buf der;
    cs_buf_init(&der, 0);
    if (cs_x509_to_der(cert, &der) == CONSORT_OK) {
        cs_x509 *again = NULL;
        if (cs_x509_from_der(cs_buf_slice(&der), &again) != CONSORT_OK)
            abort(); /* what we encode must parse */
        cs_x509_free(again);
        cs_buf pem, fast;
        cs_buf_init(&pem, 0);
        cs_buf_init(&fast, 0);
        if (cs_x509_to_pem(cert, &pem) == CONSORT_OK &&
            (cs_x509_der_to_pem(cs_buf_slice(&der), &fast) != CONSORT_OK || fast.len != pem.len ||
             memcmp(fast.ptr, pem.ptr, pem.len) != 0))
            abort(); /* the same text, without decoding */
        cs_buf_cleanup(&pem);
        cs_buf_cleanup(&fast);
    }
    cs_buf_cleanup(&der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cs_slice in = CS_SLICE(data, size);
    cs_buf pem;
    cs_buf_init(&pem, 0);
    outcome(cs_x509_der_to_pem(in, &pem)); /* the framing check on any bytes */
    cs_buf_cleanup(&pem);
    cs_x509 **list = NULL;
    size_t count = 0;
    if (cs_x509_parse_all(in, &list, &count) == CONSORT_OK) {
        for (size_t i = 0; i < count; i++)
            exercise(list[i]);
        cs_x509_verify_opts opts = {.now = 1750377600}; /* 2025-06-20T00:00:00Z */
        size_t path = 0;
        outcome(cs_x509_verify_chain(list[0], list, count, list + count - 1, 1, &opts, &path));
    }
    cs_x509_list_free(list, count);

    cs_x509_crl *crl = NULL;
    if (cs_x509_crl_parse(in, &crl) == CONSORT_OK) {
        char issuer[256];
        int64_t a, b;
        cs_x509_crl_issuer(crl, issuer, sizeof issuer);
        outcome(cs_x509_crl_validity(crl, &a, &b));
        cs_x509_crl_free(crl);
    }

    if (size < 64) {
        char s[65];
        memcpy(s, data, size);
        s[size] = '\0';
        int64_t t;
        if (cs_time_parse_rfc3339(s, &t) == CONSORT_OK) {
            char out[21];
            cs_time_format_rfc3339(t, out);
        }
    }
    return 0;
}
