/*
 * Intel DCAP ECDSA quotes (SGX quote v3, TDX quote v4 and v5) and their
 * collateral: the shared core of the "sgx" and "tdx" verifiers.
 *
 * References quoted at the code that enforces them:
 *   [quote3.h]  Intel DCAP QuoteGeneration/quote_wrapper/common/inc/sgx_quote_3.h
 *               (quote v3, sgx_quote3_t) and sgx_report.h (sgx_report_body_t);
 *   [quote4.h]  the same directory, sgx_quote_4.h (sgx_quote4_header_t,
 *               sgx_report2_body_t, certification data types);
 *   [quote5.h]  sgx_quote_5.h (sgx_quote5_t body descriptor, sgx_report2_body_v1_5_t);
 *   [PCKProf]   Intel SGX PCK Certificate and CRL Profile;
 *   [PCS]       Intel PCS API v4: TCB Info (SGX/TDX v3) and Enclave Identity v2;
 *   [QVL]       Intel's Quote Verification Library (SGX-TDX-DCAP-QVL), whose step
 *               numbers (4.1.2.4.x) name its checks.
 *
 * Everything here is a pure function over buffers: no files, no clock (the
 * verification time is an argument).
 */
#ifndef CS_ATTEST_DCAP_H
#define CS_ATTEST_DCAP_H

#include "attest/evidence.h"
#include "crypto/asn1_sgx.h"

/* ---- quote layout ---- */

#define CS_DCAP_HEADER_LEN    48
#define CS_DCAP_SGX_BODY_LEN  384 /* SGX REPORTBODY, also the QE report */
#define CS_DCAP_TD10_BODY_LEN 584 /* TD report body, TDX 1.0 */
#define CS_DCAP_TD15_BODY_LEN 648 /* TD report body, TDX 1.5 (quote v5 body type 3) */
#define CS_DCAP_ECDSA_SIG_LEN 64  /* r || s, P-256 */
#define CS_DCAP_ATT_KEY_LEN   64  /* x || y, P-256 */
#define CS_DCAP_MAX_AUTH_DATA 1024
#define CS_DCAP_MAX_CERT_DATA (32 * 1024)
#define CS_DCAP_MAX_SIG_DATA  (40 * 1024)

#define CS_DCAP_TEE_SGX      0x00000000u
#define CS_DCAP_TEE_TDX      0x00000081u
#define CS_DCAP_ATT_KEY_P256 2

typedef enum cs_dcap_body_type {
    CS_DCAP_BODY_SGX = 1,  /* quote v3 (implicit) or v5 body type 1 */
    CS_DCAP_BODY_TD10 = 2, /* quote v4 (implicit) or v5 body type 2 */
    CS_DCAP_BODY_TD15 = 3, /* quote v5 body type 3 */
} cs_dcap_body_type;

/* An SGX REPORTBODY (384 bytes) [quote3.h: sgx_report_body_t]. */
typedef struct cs_sgx_report {
    uint8_t cpusvn[16];
    uint8_t miscselect[4]; /* as stored: little-endian u32 */
    uint8_t isv_ext_prod_id[16];
    uint8_t attributes[16];
    uint8_t mrenclave[32];
    uint8_t mrsigner[32];
    uint8_t config_id[64];
    uint16_t isvprodid;
    uint16_t isvsvn;
    uint16_t config_svn;
    uint8_t isv_family_id[16];
    uint8_t report_data[64];
} cs_sgx_report;

/* A TD report body [quote4.h: sgx_report2_body_t; quote5.h: sgx_report2_body_v1_5_t]. */
typedef struct cs_td_report {
    uint8_t tee_tcb_svn[16];
    uint8_t mrseam[48];
    uint8_t mrsignerseam[48];
    uint8_t seam_attributes[8];
    uint8_t td_attributes[8];
    uint8_t xfam[8];
    uint8_t mrtd[48];
    uint8_t mrconfigid[48];
    uint8_t mrowner[48];
    uint8_t mrownerconfig[48];
    uint8_t rtmr[4][48];
    uint8_t report_data[64];
    bool td15; /* body type 3: the two fields below are present */
    uint8_t tee_tcb_svn2[16];
    uint8_t mrservicetd[48];
} cs_td_report;

/*
 * A parsed quote. Every slice borrows the input of cs_dcap_quote_parse, which
 * must outlive it.
 */
typedef struct cs_dcap_quote {
    uint16_t version;      /* 3, 4 or 5 */
    uint16_t att_key_type; /* 2: ECDSA-256-with-P-256 */
    uint32_t tee_type;     /* CS_DCAP_TEE_SGX or CS_DCAP_TEE_TDX */
    uint16_t qe_svn;       /* header bytes 8..9 (v3; reserved in v4/v5) */
    uint16_t pce_svn;      /* header bytes 10..11 (v3; reserved in v4/v5) */
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
    cs_dcap_body_type body_type;
    cs_sgx_report sgx;    /* the body, if body_type is CS_DCAP_BODY_SGX */
    cs_td_report td;      /* the body, if body_type is TD10 or TD15 */
    cs_slice signed_data; /* header [|| v5 body descriptor] || body */
    cs_slice signature;   /* ECDSA signature by the attestation key, raw r || s */
    cs_slice att_key;     /* the attestation public key, raw x || y */
    cs_slice qe_report;   /* 384 bytes, signed by the PCK key */
    cs_sgx_report qe;     /* qe_report, parsed */
    cs_slice qe_report_sig;
    cs_slice qe_auth_data;
    cs_slice pck_chain; /* certification data type 5: PEM, trailing NULs dropped */
    size_t len;         /* bytes of the input the quote occupies */
} cs_dcap_quote;

/*
 * Parses a quote from the start of `in`. The quote's own length fields bound
 * it: q->len says how many bytes it occupies, and bytes after that are left
 * to the caller (the sample quotes carry padding). Inside the quote every
 * length must add up exactly. Errors: CONSORT_E_TRUNCATED, CONSORT_E_MALFORMED,
 * CONSORT_E_UNSUPPORTED (version, attestation key type, TEE type, body type,
 * certification data type), CONSORT_E_TOO_LARGE.
 */
CS_MUST_CHECK consort_err cs_dcap_quote_parse(cs_slice in, cs_dcap_quote *q);
/* Parses exactly CS_DCAP_SGX_BODY_LEN bytes. */
CS_MUST_CHECK consort_err cs_sgx_report_parse(cs_slice body, cs_sgx_report *out);
/* Parses a TD report body of `type` (TD10: 584 bytes, TD15: 648 bytes). */
CS_MUST_CHECK consort_err cs_td_report_parse(cs_slice body, cs_dcap_body_type type,
                                             cs_td_report *out);

/* ---- TCB statuses [PCS "tcbStatus"] ---- */

typedef enum cs_dcap_status {
    CS_DCAP_UP_TO_DATE = 0,
    CS_DCAP_SW_HARDENING_NEEDED,
    CS_DCAP_CONFIGURATION_NEEDED,
    CS_DCAP_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    CS_DCAP_OUT_OF_DATE,
    CS_DCAP_OUT_OF_DATE_CONFIGURATION_NEEDED,
    CS_DCAP_TD_RELAUNCH_ADVISED,                      /* derived only, never in JSON */
    CS_DCAP_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED, /* derived only */
    CS_DCAP_REVOKED,
} cs_dcap_status;

/* The PCS spelling, e.g. "ConfigurationAndSWHardeningNeeded". */
const char *cs_dcap_status_name(cs_dcap_status s);
/* Parses one of the seven statuses a PCS document may carry. */
CS_MUST_CHECK consort_err cs_dcap_status_parse(const char *s, cs_dcap_status *out);

#define CS_DCAP_MAX_ADVISORIES CS_CLAIMS_MAX_ADVISORIES
#define CS_DCAP_ADVISORY_LEN   24

typedef struct cs_dcap_advisories {
    char id[CS_DCAP_MAX_ADVISORIES][CS_DCAP_ADVISORY_LEN];
    size_t count;
} cs_dcap_advisories;

/* Adds every id of `from` not yet in `to` (in order); TOO_LARGE past the cap. */
CS_MUST_CHECK consort_err cs_dcap_advisories_merge(cs_dcap_advisories *to,
                                                   const cs_dcap_advisories *from);

/* ---- TCB info [PCS "TCB Info V3" for SGX and TDX; SGX v2 accepted] ---- */

typedef struct cs_dcap_tcb_level {
    uint8_t sgx_comp[16];
    uint16_t pcesvn;
    uint8_t tdx_comp[16]; /* TDX TCB info only */
    cs_dcap_status status;
    char tcb_date[24];
    cs_dcap_advisories adv;
} cs_dcap_tcb_level;

/* One entry of an ISV-SVN-indexed "tcbLevels" array: a QE identity's levels
 * and a TDX module identity's levels have the same shape. */
typedef struct cs_dcap_svn_level {
    uint16_t isvsvn;
    cs_dcap_status status;
    char tcb_date[24];
    cs_dcap_advisories adv;
} cs_dcap_svn_level;

/* "tdxModule" (id "") or one of "tdxModuleIdentities" (id "TDX_03", ...). */
typedef struct cs_dcap_tdx_module {
    char id[16];
    uint8_t mrsigner[48];
    uint8_t attributes[8];
    uint8_t attributes_mask[8];
    cs_dcap_svn_level *levels; /* owned, in document order (highest first) */
    size_t level_count;
} cs_dcap_tdx_module;

#define CS_DCAP_MAX_TCB_LEVELS 128
#define CS_DCAP_MAX_MODULE_IDS 16

typedef struct cs_dcap_tcb_info {
    cs_slice signed_body;  /* the exact bytes of the "tcbInfo" value (borrowed) */
    uint8_t signature[64]; /* raw r || s over signed_body */
    size_t source;         /* index of the endorsement it came from */
    bool tdx;              /* id "TDX" (else "SGX") */
    int version;
    int64_t issue_date;
    int64_t next_update;
    char next_update_text[24];
    uint8_t fmspc[6];
    uint8_t pceid[2];
    uint32_t eval_number;
    cs_dcap_tdx_module module; /* TDX only */
    cs_dcap_tdx_module *module_ids;
    size_t module_id_count;
    cs_dcap_tcb_level *levels; /* owned, in document order (highest first) */
    size_t level_count;
} cs_dcap_tcb_info;

/* Parses the inner TCB info object (the signed bytes). Caller cleans up. */
CS_MUST_CHECK consort_err cs_dcap_tcb_info_parse(cs_slice body, cs_dcap_tcb_info *out);
void cs_dcap_tcb_info_cleanup(cs_dcap_tcb_info *t);

/* ---- QE identity [PCS "Enclave Identity V2"] ---- */

typedef struct cs_dcap_qe_identity {
    cs_slice signed_body; /* the exact bytes of the "enclaveIdentity" value (borrowed) */
    uint8_t signature[64];
    size_t source;
    char id[8]; /* "QE", "TD_QE", "QVE" */
    int version;
    int64_t issue_date;
    int64_t next_update;
    char next_update_text[24];
    uint32_t eval_number;
    uint8_t miscselect[4];
    uint8_t miscselect_mask[4];
    uint8_t attributes[16];
    uint8_t attributes_mask[16];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    cs_dcap_svn_level *levels; /* owned, in document order (highest first) */
    size_t level_count;
} cs_dcap_qe_identity;

CS_MUST_CHECK consort_err cs_dcap_qe_identity_parse(cs_slice body, cs_dcap_qe_identity *out);
void cs_dcap_qe_identity_cleanup(cs_dcap_qe_identity *q);

/*
 * Matches a QE report against the identity [QVL 4.1.2.9.5-10]: MISCSELECT and
 * ATTRIBUTES under their masks, MRSIGNER, ISVPRODID (CONSORT_E_ATTESTATION on
 * a mismatch), then the level with the highest isvsvn <= the report's ISVSVN
 * gives `*level` (CONSORT_E_TCB if there is none).
 */
CS_MUST_CHECK consort_err cs_dcap_qe_identity_match(const cs_dcap_qe_identity *id,
                                                    const cs_sgx_report *qe,
                                                    const cs_dcap_svn_level **level);

/* ---- verification (dcap_verify.c) ---- */

typedef struct cs_dcap_result {
    cs_dcap_quote quote;            /* borrows the quote bytes */
    cs_sgx_pck_ext pck;             /* the PCK certificate's SGX extension */
    bool collateral_checked;        /* TCB info, QE identity and both CRLs were checked */
    cs_dcap_status status;          /* the combined TCB status (docs/platforms/tdx-sgx.md) */
    cs_dcap_status platform_status; /* the TCB level's, with the TDX module's */
    cs_dcap_status qe_status;
    char tcb_date[24];
    char tdx_module_id[16]; /* "TDX_01", ... when a module identity was used */
    uint32_t tcb_eval_number;
    cs_dcap_advisories adv; /* platform + TDX module + QE advisory ids */
} cs_dcap_result;

/*
 * Verifies a DCAP quote of TEE type `tee_type` (CS_DCAP_TEE_SGX/TDX) with
 * the collateral in `endorsements` at time `now`, in this order (each step
 * fails with its own code and a message naming the values):
 *   1. structure (cs_dcap_quote_parse), TEE type, collateral blobs;
 *   2. the attestation key's ECDSA signature over header and body;
 *   3. the QE report's signature by the PCK leaf key;
 *   4. QE report data = SHA-256(attestation key || QE auth data) || 0^32;
 *   5. the PCK chain to the pinned Intel SGX Root CA with the PCK and Root CA CRLs;
 *   6. TCB info: signature by the TCB Signing chain, validity at `now`,
 *      id, FMSPC and PCE-ID against the PCK certificate;
 *   7. QE identity: signature, validity, id, MISCSELECT/ATTRIBUTES/MRSIGNER/ISVPRODID;
 *   8. TCB levels (and the TDX module), combined with the QE's level.
 * Returns CONSORT_OK with r->status not Revoked; CONSORT_E_REVOKED when the
 * combined status is Revoked; CONSORT_E_COLLATERAL_MISSING when steps 1-5
 * passed (and what collateral there was verified) but some collateral is
 * absent, naming each missing item; otherwise the failing step's error.
 * `r` is filled as far as verification got.
 */
CS_MUST_CHECK consort_err cs_dcap_verify(cs_slice quote, const cs_blob_list *endorsements,
                                         uint32_t tee_type, int64_t now, cs_dcap_result *r);
/*
 * cs_dcap_verify, reusing through `cache` (verify_cache.h; NULL: none) what
 * steps 1 and 5-7 established for the same PCK chain and endorsement bytes
 * while every certificate, CRL and collateral document keeps its validity
 * state: a hit runs steps 2-4, the QE identity match and step 8. Same
 * result as cs_dcap_verify.
 */
CS_MUST_CHECK consort_err cs_dcap_verify_cached(cs_slice quote, const cs_blob_list *endorsements,
                                                uint32_t tee_type, int64_t now,
                                                struct cs_verify_cache *cache, cs_dcap_result *r);

/*
 * The claims both verifiers share (dcap_verify.c): tcb_status, advisories,
 * and the extras "fmspc", "tcb_date", "tcb_eval", "qe_svn", "pce_svn".
 */
CS_MUST_CHECK consort_err cs_dcap_claims_common(const cs_dcap_result *r, cs_claims *claims);

/* The rows of the verifier table (src/attest/registry.c): sgx.c and tdx.c. */
extern const cs_verifier cs_sgx_verifier;
extern const cs_verifier cs_tdx_verifier;

#endif
