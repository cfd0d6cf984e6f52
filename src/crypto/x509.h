/*
 * X.509 certificates and CRLs (RFC 5280) on OpenSSL.
 *
 * Every check that depends on the time takes `now` (seconds since the Unix
 * epoch) from the caller, so verifiers can be run at a recorded instant and
 * tests can move the clock.
 */
#ifndef CS_CRYPTO_X509_H
#define CS_CRYPTO_X509_H

#include "crypto/key.h"

#include <time.h>

typedef struct cs_x509 cs_x509;
typedef struct cs_x509_crl cs_x509_crl;

/* ---- certificates ---- */

/* Parses one DER certificate; trailing bytes are an error. */
CS_MUST_CHECK consort_err cs_x509_from_der(cs_slice der, cs_x509 **out);
/* Parses the first certificate in a PEM text. */
CS_MUST_CHECK consort_err cs_x509_from_pem(cs_slice pem, cs_x509 **out);
/*
 * Parses every certificate in `data`, which is either one DER certificate or
 * PEM text holding one or more certificates (other PEM blocks are skipped).
 * Appends them to `list` (growing it); `*count` is updated.
 */
CS_MUST_CHECK consort_err cs_x509_parse_all(cs_slice data, cs_x509 ***list, size_t *count);
/* Frees a list made by cs_x509_parse_all (and its certificates). */
void cs_x509_list_free(cs_x509 **list, size_t count);
/* Reads a PEM or DER certificate file. */
CS_MUST_CHECK consort_err cs_x509_load_file(const char *path, cs_x509 **out);
void cs_x509_free(cs_x509 *cert);
/* A new reference to the same certificate. */
cs_x509 *cs_x509_ref(cs_x509 *cert);

CS_MUST_CHECK consort_err cs_x509_to_der(const cs_x509 *cert, cs_buf *out);
CS_MUST_CHECK consort_err cs_x509_to_pem(const cs_x509 *cert, cs_buf *out);
/*
 * The PEM text (RFC 7468: "CERTIFICATE", base64 in lines of 64) of a
 * certificate's DER bytes as they are, without decoding the certificate:
 * for DER that was checked as a certificate before (a receipt's node
 * certificate, from a checked signature entry). The same text as
 * cs_x509_to_pem of the parsed certificate. MALFORMED unless `der` is one
 * definite-length DER SEQUENCE spanning exactly its bytes.
 */
CS_MUST_CHECK consort_err cs_x509_der_to_pem(cs_slice der, cs_buf *out);
/* The subject public key (a new reference the caller frees). */
CS_MUST_CHECK consort_err cs_x509_public_key(const cs_x509 *cert, cs_key **out);
/* One-line RFC 2253 subject / issuer names, truncated to fit `n`. */
void cs_x509_subject(const cs_x509 *cert, char *out, size_t n);
void cs_x509_issuer(const cs_x509 *cert, char *out, size_t n);
/* notBefore / notAfter as seconds since the epoch. */
CS_MUST_CHECK consort_err cs_x509_validity(const cs_x509 *cert, int64_t *not_before,
                                           int64_t *not_after);
/* Serial number as lower-case hex. */
void cs_x509_serial_hex(const cs_x509 *cert, char *out, size_t n);
/* SHA-256 over the DER encoding. */
CS_MUST_CHECK consort_err cs_x509_fingerprint(const cs_x509 *cert, uint8_t out[32]);
bool cs_x509_is_ca(const cs_x509 *cert);
/* True iff `cert`'s subject equals its issuer and its signature verifies under its own key. */
bool cs_x509_is_self_signed(const cs_x509 *cert);
/*
 * The contents (extnValue OCTET STRING contents, i.e. the DER of the
 * extension's value) of the extension with dotted OID `oid`, borrowed from
 * `cert` (valid while it lives). CONSORT_E_NOT_FOUND if absent.
 */
CS_MUST_CHECK consort_err cs_x509_extension(const cs_x509 *cert, const char *oid, cs_slice *value);
/* CONSORT_OK iff `cert`'s signature verifies under `issuer_key`. */
CS_MUST_CHECK consort_err cs_x509_verify_signature(const cs_x509 *cert, const cs_key *issuer_key);

/* What to put in a new certificate. */
typedef struct cs_x509_params {
    const char *subject_cn;  /* CN of the subject (required) */
    const char *subject_org; /* O, optional */
    uint64_t serial;         /* 0: a random 64-bit serial */
    int64_t not_before;      /* seconds since the epoch */
    int64_t not_after;
    bool is_ca;             /* basicConstraints CA:TRUE, keyCertSign, cRLSign */
    const char *const *dns; /* subjectAltName DNS names, NULL-terminated, optional */
    const char *const *ips; /* subjectAltName IP addresses, NULL-terminated, optional */
} cs_x509_params;

/*
 * Creates a certificate for `subject_key` (public half used) signed by
 * `issuer_key` (ECDSA with SHA-256 for P-256, SHA-384 for P-384). If
 * `issuer_cert` is NULL the certificate is self-signed (issuer = subject and
 * `issuer_key` must be the subject's private key); otherwise the issuer name
 * and authority key id come from `issuer_cert`.
 */
CS_MUST_CHECK consort_err cs_x509_create(const cs_x509_params *params, const cs_key *subject_key,
                                         const cs_key *issuer_key, const cs_x509 *issuer_cert,
                                         cs_x509 **out);

/* ---- CRLs ---- */

/* Parses one CRL in DER or PEM. */
CS_MUST_CHECK consort_err cs_x509_crl_parse(cs_slice data, cs_x509_crl **out);
void cs_x509_crl_free(cs_x509_crl *crl);
void cs_x509_crl_issuer(const cs_x509_crl *crl, char *out, size_t n);
/* thisUpdate / nextUpdate (next_update = 0 if absent). */
CS_MUST_CHECK consort_err cs_x509_crl_validity(const cs_x509_crl *crl, int64_t *this_update,
                                               int64_t *next_update);

/* ---- chain verification ---- */

typedef struct cs_x509_verify_opts {
    int64_t now;       /* the time at which every certificate and CRL must be valid */
    bool require_crls; /* every certificate in the path must be covered by a CRL of its issuer */
    cs_x509_crl *const *crls;
    size_t crl_count;
} cs_x509_verify_opts;

/*
 * Verifies that `leaf` chains through some of `intermediates` (in any order)
 * to one of `roots`, the only trust anchors, with every signature, validity
 * period, CA constraint and (if given) CRL checked at opts->now. On failure
 * the message names the certificate (subject) and the reason, and the code
 * says the kind: CONSORT_E_EXPIRED (a certificate or CRL outside its validity
 * at `now`), CONSORT_E_REVOKED, CONSORT_E_COLLATERAL_MISSING (require_crls and
 * a CRL is missing), CONSORT_E_BAD_CERTIFICATE (anything else: bad signature,
 * no path to a root, not a CA, ...).
 * If `path` is not NULL it receives the number of certificates in the
 * verified path, leaf and root included.
 */
CS_MUST_CHECK consort_err cs_x509_verify_chain(const cs_x509 *leaf, cs_x509 *const *intermediates,
                                               size_t intermediate_count, cs_x509 *const *roots,
                                               size_t root_count, const cs_x509_verify_opts *opts,
                                               size_t *path);

/* ---- time ---- */

/* Parses "2024-05-01T12:00:00Z" (RFC 3339, UTC 'Z' or +hh:mm offset, optional fraction). */
CS_MUST_CHECK consort_err cs_time_parse_rfc3339(const char *s, int64_t *out);
/* Formats as "2024-05-01T12:00:00Z"; `out` must hold 21 bytes. */
void cs_time_format_rfc3339(int64_t t, char out[21]);

/* For src/crypto only: the OpenSSL objects (borrowed). */
struct x509_st;
struct X509_crl_st;
struct x509_st *cs_x509_ossl(const cs_x509 *cert);
struct X509_crl_st *cs_x509_crl_ossl(const cs_x509_crl *crl);

#endif
