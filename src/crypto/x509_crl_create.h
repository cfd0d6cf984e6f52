/*
 * Issuing CRLs (RFC 5280 §5): a CA revokes certificates it issued. Used by
 * tests and by anything that runs its own small CA.
 */
#ifndef CS_CRYPTO_X509_CRL_CREATE_H
#define CS_CRYPTO_X509_CRL_CREATE_H

#include "crypto/x509.h"

typedef struct cs_x509_crl_params {
    int64_t this_update;     /* seconds since the epoch */
    int64_t next_update;     /* must be later than this_update */
    uint64_t crl_number;     /* cRLNumber extension (§5.2.3) */
    cs_x509 *const *revoked; /* certificates to list as revoked (their serials) */
    size_t revoked_count;
    int64_t revocation_date; /* for every entry; 0: this_update */
} cs_x509_crl_params;

/*
 * Creates a v2 CRL issued by `issuer_cert` and signed with `issuer_key` (its
 * private key; ECDSA P-256 -> SHA-256, P-384 -> SHA-384), with the
 * authorityKeyIdentifier and cRLNumber extensions. The caller frees *out.
 * CONSORT_E_INVALID_ARGUMENT if the key does not match the certificate or a
 * parameter is out of range.
 */
CS_MUST_CHECK consort_err cs_x509_crl_create(const cs_x509_crl_params *params,
                                             const cs_x509 *issuer_cert, const cs_key *issuer_key,
                                             cs_x509_crl **out);

#endif
