/*
 * DCAP collateral recognised by content.
 *
 * Endorsements arrive as anonymous blobs (files as Intel's PCS serves them,
 * under any names, plus any certificates). Each blob is one of:
 *   - a TCB info response   {"tcbInfo": {...}, "signature": "<hex>"}
 *   - a QE identity response {"enclaveIdentity": {...}, "signature": "<hex>"}
 *   - a CRL, DER or PEM ("X509 CRL" block)
 *   - certificates: one DER certificate, a PEM bundle (issuer chains), or a
 *     PCS issuer-chain header value (URL-encoded PEM, "-----BEGIN%20...")
 * Anything else is an error naming the blob: nothing is silently ignored.
 */
#ifndef CS_ATTEST_DCAP_COLLATERAL_H
#define CS_ATTEST_DCAP_COLLATERAL_H

#include "attest/dcap.h"
#include "crypto/x509.h"

/* Certificates in the endorsements, and in a quote's PCK chain (3 in practice). */
#define CS_DCAP_MAX_CERTS       48
#define CS_DCAP_MAX_QUOTE_CERTS 8

typedef struct cs_dcap_collateral {
    cs_dcap_tcb_info tcb_infos[CS_EVIDENCE_MAX_ENDORSEMENTS];
    size_t tcb_info_count;
    cs_dcap_qe_identity qe_ids[CS_EVIDENCE_MAX_ENDORSEMENTS];
    size_t qe_id_count;
    cs_x509_crl *crls[CS_EVIDENCE_MAX_ENDORSEMENTS];
    size_t crl_count;
    cs_x509 **certs; /* owned list (cs_x509_parse_all) */
    size_t cert_count;
} cs_dcap_collateral;

void cs_dcap_collateral_init(cs_dcap_collateral *c);
void cs_dcap_collateral_cleanup(cs_dcap_collateral *c);

/*
 * Sorts every blob of `blobs` into `c`. Signed JSON bodies borrow from
 * `blobs`, which must outlive `c`. Errors name the blob ("endorsement #3:
 * ..."): CONSORT_E_MALFORMED for a blob that is none of the kinds above or
 * does not parse, CONSORT_E_TOO_LARGE past the caps.
 */
CS_MUST_CHECK consort_err cs_dcap_collateral_load(cs_dcap_collateral *c, const cs_blob_list *blobs);

/*
 * Parses one signed response `doc` ({"<member>": {...}, "signature": hex})
 * into the signed span and the raw 64-byte signature.
 */
CS_MUST_CHECK consort_err cs_dcap_signed_json_split(cs_slice doc, const char *member,
                                                    cs_slice *body, uint8_t signature[64]);

#endif
