/*
 * Private to the X.509 files of src/crypto (x509*.c, crl*.c, time.c): the
 * wrapper structs and the helpers they share. Nothing outside src/crypto
 * includes this header.
 */
#ifndef CS_CRYPTO_X509_PRIV_H
#define CS_CRYPTO_X509_PRIV_H

#include "crypto/x509.h"

#include <openssl/x509.h>
#include <stdatomic.h>

/* Hard caps on untrusted input (each certificate/CRL, each bundle). */
#define CS_X509_DER_MAX          (256u * 1024)
#define CS_X509_CRL_MAX          (16u << 20)
#define CS_X509_BUNDLE_MAX       (16u << 20)
#define CS_X509_BUNDLE_CERTS_MAX 64

/* A reference-counted owner of one X509 (certificates are immutable). */
struct cs_x509 {
    X509 *x509;
    atomic_int refs;
};

struct cs_x509_crl {
    X509_CRL *crl;
};

/* Wraps `x`, taking ownership of one reference (freed on failure too). */
CS_MUST_CHECK consort_err cs_x509_wrap(X509 *x, cs_x509 **out);

/*
 * Checks that `der` is exactly one DER SEQUENCE (X.690 §8.1: tag 0x30,
 * definite length) and nothing else: CONSORT_E_TRUNCATED if the length runs
 * past the end, CONSORT_E_TRAILING_DATA if bytes follow it, MALFORMED else.
 * `what` names the object in messages.
 */
CS_MUST_CHECK consort_err cs_der_expect_one_sequence(cs_slice der, const char *what);

/* True if `data` looks like DER (starts with a SEQUENCE tag) rather than PEM. */
bool cs_der_looks_like_der(cs_slice data);

/* An ASN1_TIME (UTCTime or GeneralizedTime) as seconds since the epoch. */
CS_MUST_CHECK consort_err cs_time_from_asn1(const ASN1_TIME *t, int64_t *out);

/*
 * Seconds since the epoch of a proleptic-Gregorian UTC date and time; the
 * caller has range-checked every field (year 0..9999, second 0..59).
 */
int64_t cs_time_from_civil(int year, int month, int day, int hour, int minute, int second);

/* The RFC 2253 one-line form of `name` into out[n] (truncated, always terminated). */
void cs_x509_name_line(const X509_NAME *name, char *out, size_t n);

#endif
