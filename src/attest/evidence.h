/*
 * Attestation evidence, claims and verifiers (DESIGN.md "Platforms").
 *
 * Evidence is what an attester produces: the platform's raw report or quote
 * plus endorsements (certificates, CRLs, TCB collateral) that a verifier may
 * need. A verifier checks evidence and returns claims; a policy (policy.h)
 * then accepts or rejects the claims with a reason.
 *
 * Evidence always binds the attester's public key:
 *   report_data = SHA-256(DER SubjectPublicKeyInfo || nonce),
 * zero-padded to the platform's report-data field (64 bytes everywhere
 * consort runs). cs_report_data_bind computes it; cs_claims_check_binding
 * checks it.
 */
#ifndef CS_ATTEST_EVIDENCE_H
#define CS_ATTEST_EVIDENCE_H

#include "crypto/key.h"

typedef enum cs_platform {
    CS_PLATFORM_NONE = 0,
    CS_PLATFORM_VIRTUAL = 1,
    CS_PLATFORM_TPM = 2,
    CS_PLATFORM_SNP = 3,
    CS_PLATFORM_TDX = 4,
    CS_PLATFORM_SGX = 5,
} cs_platform;

#define CS_PLATFORM_COUNT 6

/* "virtual", "tpm", "snp", "tdx", "sgx". */
const char *cs_platform_name(cs_platform p);
CS_MUST_CHECK consort_err cs_platform_parse(const char *name, cs_platform *out);

/* Caps on what a decoder accepts. */
#define CS_EVIDENCE_MAX_BYTES     (256 * 1024)
#define CS_EVIDENCE_MAX_ENDORSEMENTS 32
#define CS_ENDORSEMENT_MAX_BYTES  (256 * 1024)

/* An owned list of byte blobs (certificates, CRLs, collateral documents). */
typedef struct cs_blob_list {
    cs_buf *items;
    size_t count;
} cs_blob_list;

void cs_blob_list_init(cs_blob_list *l);
void cs_blob_list_cleanup(cs_blob_list *l);
CS_MUST_CHECK consort_err cs_blob_list_add(cs_blob_list *l, cs_slice data);
/* Adds every regular file in `dir` (not recursive; hidden files skipped). */
CS_MUST_CHECK consort_err cs_blob_list_add_dir(cs_blob_list *l, const char *dir);

/* The evidence envelope. */
typedef struct cs_evidence {
    cs_platform platform;
    cs_buf evidence;           /* the platform's report / quote / attest structure */
    cs_blob_list endorsements; /* certificates, CRLs, collateral: recognised by content */
} cs_evidence;

void cs_evidence_init(cs_evidence *ev);
void cs_evidence_cleanup(cs_evidence *ev);

/*
 * Envelope encoding (CBOR, definite lengths, exactly these keys in this order):
 *   { 1: platform (tstr), 2: evidence (bstr), 3: [* endorsement (bstr)] }
 * Documented in docs/formats.md.
 */
CS_MUST_CHECK consort_err cs_evidence_encode(const cs_evidence *ev, cs_buf *out);
/* Strict decode: wrong types, unknown keys, oversized fields and trailing bytes fail. */
CS_MUST_CHECK consort_err cs_evidence_decode(cs_slice in, cs_evidence *ev);

/* ---- claims ---- */

#define CS_CLAIM_MAX_BYTES 64
#define CS_CLAIMS_MAX_EXTRA 40
#define CS_CLAIMS_MAX_ADVISORIES 32

typedef enum cs_claim_kind {
    CS_CLAIM_HEX,    /* bytes, printed as hex */
    CS_CLAIM_U64,    /* number */
    CS_CLAIM_BOOL,
    CS_CLAIM_STRING, /* printable text */
} cs_claim_kind;

/* One platform-specific claim (e.g. "vmpl", "chip_id", "rtmr0"). */
typedef struct cs_claim {
    char name[32];
    cs_claim_kind kind;
    uint8_t bytes[CS_CLAIM_MAX_BYTES]; /* HEX */
    size_t len;                        /* HEX: bytes used */
    uint64_t u64;                      /* U64, BOOL (0/1) */
    char str[64];                      /* STRING */
} cs_claim;

/* What a verifier established about genuine evidence. */
typedef struct cs_claims {
    cs_platform platform;
    uint8_t code_id[32];         /* DESIGN.md "Code id" */
    uint8_t signer[CS_CLAIM_MAX_BYTES]; /* who vouches for the code (MRSIGNER, VCEK/VLEK kind, ...) */
    size_t signer_len;
    uint64_t security_version;   /* platform SVN / TCB version as one number */
    bool debug;                  /* true if the TEE permits debugging (never trust its secrets) */
    uint8_t report_data[64];
    char tcb_status[48];         /* "UpToDate", "OutOfDate", ... ("" if not applicable) */
    char advisories[CS_CLAIMS_MAX_ADVISORIES][24]; /* e.g. "INTEL-SA-00615" */
    size_t advisory_count;
    cs_claim extra[CS_CLAIMS_MAX_EXTRA];
    size_t extra_count;
} cs_claims;

void cs_claims_init(cs_claims *c, cs_platform p);
CS_MUST_CHECK consort_err cs_claims_add_hex(cs_claims *c, const char *name, cs_slice bytes);
CS_MUST_CHECK consort_err cs_claims_add_u64(cs_claims *c, const char *name, uint64_t v);
CS_MUST_CHECK consort_err cs_claims_add_bool(cs_claims *c, const char *name, bool v);
CS_MUST_CHECK consort_err cs_claims_add_string(cs_claims *c, const char *name, const char *v);
CS_MUST_CHECK consort_err cs_claims_add_advisory(cs_claims *c, const char *id);
/* The named extra claim, or NULL. */
const cs_claim *cs_claims_find(const cs_claims *c, const char *name);

/* report_data for binding `key` with `nonce` (may be empty): 64 bytes. */
CS_MUST_CHECK consort_err cs_report_data_bind(const cs_key *key, cs_slice nonce,
                                              uint8_t out[64]);
/* CONSORT_E_REPORT_DATA unless claims->report_data binds `key` and `nonce`. */
CS_MUST_CHECK consort_err cs_claims_check_binding(const cs_claims *claims, const cs_key *key,
                                                  cs_slice nonce);

/* ---- verifiers ---- */

typedef struct cs_verify_opts {
    int64_t now; /* seconds since the epoch at which every expiry is checked */
    /* Extra trust anchors. For "virtual": the trusted platform certificates
     * (required). Platforms with pinned vendor roots ignore it unless a test
     * asks them to pin a different root. */
    const cs_blob_list *anchors;
    /* Optional (NULL: none): verified endorsements reused across calls
     * (verify_cache.h). Same result as without it; only faster. */
    struct cs_verify_cache *cache;
} cs_verify_opts;

/*
 * Checks `ev` (its platform must match) and fills `claims`. Never accepts on
 * doubt: anything unverifiable is an error whose message says what and why.
 */
typedef consort_err (*cs_verify_fn)(const cs_evidence *ev, const cs_verify_opts *opts,
                                    cs_claims *claims);

typedef struct cs_verifier {
    cs_platform platform;
    const char *name;
    cs_verify_fn verify;
} cs_verifier;

/* The verifier for `p`, or NULL if consort has none. */
const cs_verifier *cs_verifier_find(cs_platform p);

/* Looks up the verifier for ev->platform and runs it. */
CS_MUST_CHECK consort_err cs_evidence_verify(const cs_evidence *ev, const cs_verify_opts *opts,
                                             cs_claims *claims);

#endif
