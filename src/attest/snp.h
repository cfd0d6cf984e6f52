/*
 * AMD SEV-SNP: the attestation report (SEV-SNP ABI specification, Table
 * "ATTESTATION_REPORT Structure"), its endorsement chain ARK -> ASK|ASVK ->
 * VCEK|VLEK (AMD "Versioned Chip Endorsement Key (VCEK) Certificate and KDS
 * Interface Specification") and the `snp` verifier (docs/platforms/snp.md).
 *
 *   snp_report.c  parses the 1184-byte report (versions 2 and 3) into
 *                 cs_snp_report and decodes TCB_VERSION per product;
 *   snp_roots.c   the pinned AMD root keys (ARK-Milan, ARK-Genoa, ARK-Turin);
 *   snp_verify.c  sorts the endorsements, verifies the chain to a pinned ARK,
 *                 the VCEK/VLEK extensions against the report, the report
 *                 signature, and fills the claims.
 *
 * Every function here is pure: bytes and certificates in, a result out.
 */
#ifndef CS_ATTEST_SNP_H
#define CS_ATTEST_SNP_H

#include "attest/evidence.h"
#include "crypto/x509.h"

/* SEV-SNP ABI, ATTESTATION_REPORT: 0x4A0 bytes, signature over 0x000-0x29F. */
#define CS_SNP_REPORT_LEN 0x4A0
#define CS_SNP_SIGNED_LEN 0x2A0

/* The processor generations consort has pinned roots for. */
typedef enum cs_snp_product {
    CS_SNP_PRODUCT_UNKNOWN = 0,
    CS_SNP_PRODUCT_MILAN = 1,
    CS_SNP_PRODUCT_GENOA = 2,
    CS_SNP_PRODUCT_TURIN = 3,
} cs_snp_product;

#define CS_SNP_PRODUCT_COUNT 4

/* KEY_INFO.SIGNING_KEY (SEV-SNP ABI, ATTESTATION_REPORT offset 0x48, bits 4:2). */
typedef enum cs_snp_signing_key {
    CS_SNP_KEY_VCEK = 0,
    CS_SNP_KEY_VLEK = 1,
} cs_snp_signing_key;

/* GUEST_POLICY bits used by the verifier (SEV-SNP ABI, "GUEST_POLICY Structure"). */
#define CS_SNP_POLICY_SMT        (UINT64_C(1) << 16)
#define CS_SNP_POLICY_RESERVED1  (UINT64_C(1) << 17) /* must be one */
#define CS_SNP_POLICY_MIGRATE_MA (UINT64_C(1) << 18)
#define CS_SNP_POLICY_DEBUG      (UINT64_C(1) << 19)

/* KEY_INFO bits. */
#define CS_SNP_KEYINFO_AUTHOR_KEY_EN 0x1u
#define CS_SNP_KEYINFO_MASK_CHIP_KEY 0x2u

/* A parsed report. Every field is copied out of the input; nothing is borrowed. */
typedef struct cs_snp_report {
    uint32_t version; /* 2 or 3 */
    uint32_t guest_svn;
    uint64_t policy;
    uint8_t family_id[16];
    uint8_t image_id[16];
    uint32_t vmpl;
    uint32_t signature_algo; /* always 1: ECDSA P-384 with SHA-384 */
    uint64_t current_tcb;
    uint64_t platform_info;
    uint32_t key_info;              /* raw KEY_INFO word */
    cs_snp_signing_key signing_key; /* KEY_INFO bits 4:2 */
    bool author_key_en;             /* KEY_INFO bit 0 */
    bool mask_chip_key;             /* KEY_INFO bit 1: the report is NOT signed */
    uint8_t report_data[64];
    uint8_t measurement[48];
    uint8_t host_data[32];
    uint8_t id_key_digest[48];
    uint8_t author_key_digest[48];
    uint8_t report_id[32];
    uint8_t report_id_ma[32];
    uint64_t reported_tcb;
    bool has_cpuid;       /* version 3: the CPUID fields below are meaningful */
    uint8_t cpuid_fam_id; /* combined family (e.g. 0x19) */
    uint8_t cpuid_mod_id; /* combined model */
    uint8_t cpuid_step;
    uint8_t chip_id[64];
    uint64_t committed_tcb;
    uint8_t current_build, current_minor, current_major;
    uint8_t committed_build, committed_minor, committed_major;
    uint64_t launch_tcb;
    /* The signature as r || s, each 48 bytes big-endian (converted from the
     * report's 72-byte little-endian fields), ready for cs_ecdsa_verify_digest. */
    uint8_t signature[96];
    /* SHA-384 over bytes 0x000-0x29F: the message the signature covers. */
    uint8_t signed_digest[48];
} cs_snp_report;

/*
 * Parses a report of exactly CS_SNP_REPORT_LEN bytes into `out` (zeroed on
 * failure). Rejects, with a message naming the field and value: fewer bytes
 * (CONSORT_E_TRUNCATED), more bytes (CONSORT_E_TRAILING_DATA), a version
 * other than 2 or 3, a signature algorithm other than 1 or a SIGNING_KEY
 * other than 0 (VCEK) or 1 (VLEK) (CONSORT_E_UNSUPPORTED), reserved bits or
 * bytes that are not zero (including GUEST_POLICY bit 17, which must be
 * one) and r/s values wider than 48 bytes (CONSORT_E_MALFORMED).
 */
CS_MUST_CHECK consort_err cs_snp_report_parse(cs_slice raw, cs_snp_report *out);

/* TCB_VERSION decoded. Milan and Genoa: BOOT_LOADER (byte 0), TEE (1), SNP
 * (6), MICROCODE (7). Turin: FMC (0), BOOT_LOADER (1), TEE (2), SNP (3),
 * MICROCODE (7). Bytes not listed are reserved. */
typedef struct cs_snp_tcb {
    bool has_fmc;
    uint8_t fmc, bl, tee, snp, ucode;
} cs_snp_tcb;

/* Decodes `tcb` with the layout of `product`. CONSORT_E_MALFORMED if a
 * reserved byte is not zero, CONSORT_E_INVALID_ARGUMENT for an unknown product. */
CS_MUST_CHECK consort_err cs_snp_tcb_decode(uint64_t tcb, cs_snp_product product, cs_snp_tcb *out);

/* The product a version-3 report's CPUID_FAM_ID / CPUID_MOD_ID names, or
 * CONSORT_E_UNSUPPORTED naming the family and model. */
CS_MUST_CHECK consort_err cs_snp_product_from_cpuid(uint8_t family, uint8_t model,
                                                    cs_snp_product *out);

/* "Milan", "Genoa", "Turin" ("unknown" otherwise). */
const char *cs_snp_product_name(cs_snp_product p);
/* Parses a VCEK/VLEK productName: "Milan", "Milan-B0", "Genoa-B1", ... */
CS_MUST_CHECK consort_err cs_snp_product_parse(const char *name, cs_snp_product *out);

/* ---- pinned roots (snp_roots.c) ---- */

/*
 * The pinned ARK of `product` as a new certificate the caller frees, parsed
 * from the copy compiled into consort. CONSORT_E_NOT_FOUND for a product
 * without a pinned root.
 */
CS_MUST_CHECK consort_err cs_snp_root_load(cs_snp_product product, cs_x509 **out);
/* The pinned ARK's PEM text (static storage), or NULL. */
const char *cs_snp_root_pem(cs_snp_product product);

/* ---- verification (snp_verify.c) ---- */

/*
 * Checks that the endorsement key certificate `leaf` (a VCEK or VLEK, as
 * `kind` says) describes the platform that produced `report` on `product`:
 * productName names `product`; the TCB extensions (blSPL, teeSPL, snpSPL,
 * ucodeSPL, and fmcSPL on Turin) equal the report's REPORTED_TCB
 * (CONSORT_E_TCB otherwise); for a VCEK, the hwID extension equals CHIP_ID
 * (CONSORT_E_ATTESTATION otherwise) unless CHIP_ID is all zero (the host
 * set SNP_CONFIG.MASK_CHIP_ID).
 */
CS_MUST_CHECK consort_err cs_snp_check_endorsement_key(const cs_snp_report *report,
                                                       const cs_x509 *leaf, cs_snp_signing_key kind,
                                                       cs_snp_product product);

/*
 * Verifies `raw_report` with the certificates in `certs` (endorsements,
 * sorted here by content) at `now` and fills `claims` (which the caller has
 * initialised with cs_claims_init). The whole algorithm is described in
 * docs/platforms/snp.md; errors: the parser's, CONSORT_E_COLLATERAL_MISSING
 * (no VCEK/VLEK or no ASK/ASVK), CONSORT_E_EXPIRED, CONSORT_E_BAD_CERTIFICATE,
 * CONSORT_E_TCB, CONSORT_E_ATTESTATION (product or chip mismatch),
 * CONSORT_E_BAD_SIGNATURE.
 */
CS_MUST_CHECK consort_err cs_snp_verify_report(cs_slice raw_report, cs_x509 *const *certs,
                                               size_t cert_count, int64_t now, cs_claims *claims);

/* The `snp` row of the verifier table (src/attest/registry.c). */
extern const cs_verifier cs_snp_verifier;

#endif
