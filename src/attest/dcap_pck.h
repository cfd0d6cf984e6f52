/*
 * Certificate checks for DCAP (private to dcap_*.c): the pinned Intel SGX
 * Root CA, the PCK chain with its CRLs, and the TCB Signing chain that signs
 * TCB info and QE identity documents.
 */
#ifndef CS_ATTEST_DCAP_PCK_H
#define CS_ATTEST_DCAP_PCK_H

#include "attest/dcap_collateral.h"

/* The DER of the pinned Intel SGX Root CA (static storage). */
cs_slice cs_dcap_root_der(void);

/* What one verification trusts and may use. */
typedef struct cs_dcap_trust {
    cs_x509 *root; /* the pinned root (owned) */
    cs_x509
        *pool[CS_DCAP_MAX_CERTS + CS_DCAP_MAX_QUOTE_CERTS]; /* candidate intermediates (borrowed) */
    size_t pool_count;
    cs_x509_crl *const *crls; /* borrowed from the collateral */
    size_t crl_count;
    int64_t now;
} cs_dcap_trust;

/*
 * Parses the pinned root and gathers the certificates of the quote
 * (`quote_certs`) and of the collateral as candidate intermediates. The
 * caller keeps both alive while `t` is used.
 */
CS_MUST_CHECK consort_err cs_dcap_trust_init(cs_dcap_trust *t, cs_x509 *const *quote_certs,
                                             size_t quote_cert_count, const cs_dcap_collateral *c,
                                             int64_t now);
void cs_dcap_trust_cleanup(cs_dcap_trust *t);

/*
 * Whether a CRL issued by `issuer` (one-line name) is present and current:
 * *present false if none is given; CONSORT_E_EXPIRED, naming `what`, the
 * issuer and the date, if every such CRL is outside its validity at t->now.
 */
CS_MUST_CHECK consort_err cs_dcap_crl_state(const cs_dcap_trust *t, const char *issuer,
                                            const char *what, bool *present);

/*
 * [QVL 4.1.2.4.4-7] The PCK leaf: "SGX PCK Certificate" in its CN, a path to
 * the pinned root at t->now, and revocation through the PCK CRL (issued by
 * the leaf's issuer) and the Root CA CRL. If either CRL is absent the chain
 * is still verified, without it, and *pck_crl / *root_crl say which were
 * present so the caller can report them as missing.
 */
CS_MUST_CHECK consort_err cs_dcap_verify_pck_chain(const cs_dcap_trust *t, const cs_x509 *leaf,
                                                   bool *pck_crl, bool *root_crl);

/*
 * Verifies the raw ECDSA P-256 signature `sig` over `body` (a TCB info or QE
 * identity body, named `what`) by an "Intel SGX TCB Signing" certificate
 * from the pool whose chain to the pinned root verifies at t->now (with the
 * Root CA CRL when `root_crl`). CONSORT_E_COLLATERAL_MISSING if no such
 * certificate was given, CONSORT_E_BAD_SIGNATURE if the signature fails,
 * the chain's error otherwise.
 */
CS_MUST_CHECK consort_err cs_dcap_verify_signed_body(const cs_dcap_trust *t, cs_slice body,
                                                     const uint8_t sig[64], bool root_crl,
                                                     const char *what);

#endif
