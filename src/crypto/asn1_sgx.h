/*
 * The Intel SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1),
 * parsed with OpenSSL's ASN.1 reader.
 *
 * Intel SGX PCK Certificate and CRL Profile §1.3.5 ("Intel SGX PCK
 * Certificate"): the extension value is
 *   SEQUENCE OF SEQUENCE { sgxExtensionId OBJECT IDENTIFIER, value ANY }
 * with, under the arc 1.2.840.113741.1.13.1:
 *   .1  PPID                OCTET STRING (16)
 *   .2  TCB                 SEQUENCE OF SEQUENCE { OID, value }:
 *         .2.1 .. .2.16     SGX TCB component SVNs, INTEGER 0..255
 *         .2.17             PCESVN, INTEGER 0..65535
 *         .2.18             CPUSVN, OCTET STRING (16)
 *   .3  PCE-ID              OCTET STRING (2)
 *   .4  FMSPC               OCTET STRING (6)
 *   .5  SGX Type            ENUMERATED (0 Standard, 1 Scalable, 2 Scalable with integrity)
 *   .6  PlatformInstanceID  OCTET STRING (16), Platform CA certificates only
 *   .7  Configuration       SEQUENCE, Platform CA certificates only
 * Entries .1 to .5 are required; .6, .7 and identifiers defined later are
 * accepted and skipped. A duplicated entry, a wrong type or size, or bytes
 * after any DER element is an error (CONSORT_E_MALFORMED).
 */
#ifndef CS_CRYPTO_ASN1_SGX_H
#define CS_CRYPTO_ASN1_SGX_H

#include "base/buf.h"

#define CS_SGX_EXT_OID "1.2.840.113741.1.13.1"

typedef struct cs_sgx_pck_ext {
    uint8_t ppid[16];
    uint8_t tcb_comp[16]; /* SGX TCB component SVNs 1..16, in order */
    uint16_t pcesvn;
    uint8_t cpusvn[16];
    uint8_t pceid[2];
    uint8_t fmspc[6];
    int sgx_type;
} cs_sgx_pck_ext;

/*
 * Parses `der`, the DER contents of the extension value (what
 * cs_x509_extension returns for CS_SGX_EXT_OID), into `out`.
 */
CS_MUST_CHECK consort_err cs_asn1_sgx_parse(cs_slice der, cs_sgx_pck_ext *out);

#endif
