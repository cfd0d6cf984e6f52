/*
 * Private to the snp_*.c files: reading the AMD extensions of a VCEK/VLEK
 * (snp_endorse.c; cs_snp_check_endorsement_key itself is in snp.h) and
 * turning a verified report into claims (snp_claims.c).
 */
#ifndef CS_ATTEST_SNP_PRIV_H
#define CS_ATTEST_SNP_PRIV_H

#include "attest/snp.h"

/* "VCEK" or "VLEK". */
const char *cs_snp_key_name(cs_snp_signing_key kind);

/*
 * Whether `cert` is an AMD endorsement key certificate, and which: a VCEK
 * carries the hwID extension, a VLEK the CSP id extension. *is_key is false
 * for a certificate with neither. CONSORT_E_BAD_CERTIFICATE if it has both,
 * CONSORT_E_MALFORMED if either appears twice.
 */
CS_MUST_CHECK consort_err cs_snp_endorsement_kind(const cs_x509 *cert, bool *is_key,
                                                  cs_snp_signing_key *kind);

/* True iff CHIP_ID is all zero (the host enabled SNP_CONFIG.MASK_CHIP_ID). */
bool cs_snp_chip_id_masked(const cs_snp_report *r);

/* The product named by the productName extension. */
CS_MUST_CHECK consort_err cs_snp_endorsement_product(const cs_x509 *leaf, cs_snp_product *out);

/* A VLEK's CSP id extension (e.g. "CN=cc-us-east-2.amazonaws.com") into out[n]. */
CS_MUST_CHECK consort_err cs_snp_endorsement_csp_id(const cs_x509 *leaf, char *out, size_t n);

/*
 * Fills `claims` (initialised by the caller) from a report whose signature,
 * chain and endorsement key were verified: code id, signer, security
 * version, debug, report data and the extra claims listed in
 * docs/platforms/snp.md. `csp_id` is the VLEK's CSP id or NULL.
 */
CS_MUST_CHECK consort_err cs_snp_fill_claims(const cs_snp_report *r, cs_snp_product product,
                                             const char *csp_id, cs_claims *claims);

#endif
