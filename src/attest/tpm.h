/*
 * The TPM 2.0 platform ("tpm", DESIGN.md "Platforms"); docs/platforms/tpm.md.
 *
 * Three parts, one file each:
 *   tpm_attest.c    pure parsing and checking of TPM structures: TPMS_ATTEST
 *                   (quotes), TPMT_SIGNATURE, TPMT_PUBLIC, PCR digests;
 *   tpm_evidence.c  consort's "tpm" evidence bytes (CBOR) and the verifier
 *                   cs_tpm_verifier (AK chain, quote signature, PCR digest,
 *                   code-id PCR, report data) — pure, no I/O;
 *   tpm_attester.c  the attester: talks to a TPM through tss2 ESYS and a TCTI
 *                   (swtpm, /dev/tpmrm0), creates the AK, extends the code id
 *                   into a PCR and quotes.
 *
 * Evidence for platform "tpm":
 *   evidence     = CBOR map, definite lengths, exactly these keys in this order:
 *                  { 1: TPMS_ATTEST bytes (bstr) as signed by the TPM,
 *                    2: TPMT_SIGNATURE bytes (bstr, TPM marshalling),
 *                    3: [* PCR value (bstr)] in the order the quote hashes them,
 *                    4: index of the PCR holding the code id (uint, 0..23),
 *                    5: code id (bstr, 32 bytes) }
 *   endorsements = [AK certificate (DER), intermediate CA certificates (DER)...]
 *   anchors      = the CA certificates trusted to certify AKs (required).
 *
 * Binding: extraData (TPM2_Quote qualifyingData) = report_data[0..32) =
 * SHA-256(DER SPKI of the node key || nonce); report_data[32..64) are zero
 * (the attester refuses anything else). The code-id PCR (SHA-256 bank) holds
 * SHA-256(32 zero bytes || code id): the PCR was reset and extended once.
 */
#ifndef CS_ATTEST_TPM_H
#define CS_ATTEST_TPM_H

#include "attest/evidence.h"
#include "crypto/sig.h"
#include "crypto/x509.h"

/* TPM 2.0 Library Part 2 constants, so users of this header need no tss2 headers. */
#define CS_TPM_GENERATED_VALUE 0xff544347u /* Part 2, TPM_GENERATED */
#define CS_TPM_ST_ATTEST_QUOTE 0x8018      /* Part 2, TPM_ST */
#define CS_TPM_ALG_SHA1        0x0004      /* Part 2, TPM_ALG_ID */
#define CS_TPM_ALG_SHA256      0x000B
#define CS_TPM_ALG_SHA384      0x000C
#define CS_TPM_ALG_SHA512      0x000D
#define CS_TPM_ALG_RSASSA      0x0014
#define CS_TPM_ALG_RSAPSS      0x0016
#define CS_TPM_ALG_ECDSA       0x0018

#define CS_TPM_PCR_COUNT           24 /* PC Client PTP: PCR 0..23 per bank */
#define CS_TPM_MAX_BANKS           4  /* PCR selections accepted in one quote */
#define CS_TPM_MAX_QUOTED_PCRS     24 /* PCR values accepted in one quote (each becomes a claim) */
#define CS_TPM_CODE_ID_PCR         23 /* "application support", resettable from locality 0 */
#define CS_TPM_REPORT_DATA_LEN     32 /* bytes of report_data carried in extraData */
#define CS_TPM_ATTEST_MAX_BYTES    1024
#define CS_TPM_SIGNATURE_MAX_BYTES 1024
#define CS_TPM_PUBLIC_MAX_BYTES    1024

/* One TPMS_PCR_SELECTION: a bank and the PCRs selected in it. */
typedef struct cs_tpm_pcr_selection {
    uint16_t hash_alg; /* TPM_ALG_ID of the bank */
    uint32_t pcrs;     /* bit i set: PCR i selected (i < CS_TPM_PCR_COUNT) */
} cs_tpm_pcr_selection;

/* A parsed TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE (Part 2, "Definition of TPMS_ATTEST
 * Structure" and "TPMS_QUOTE_INFO"). */
typedef struct cs_tpm_quote {
    uint8_t qualified_signer[68]; /* TPM2B_NAME contents */
    size_t qualified_signer_len;
    uint8_t extra_data[66]; /* TPM2B_DATA contents: the qualifying data */
    size_t extra_data_len;
    uint64_t clock; /* TPMS_CLOCK_INFO */
    uint32_t reset_count;
    uint32_t restart_count;
    bool safe;
    uint64_t firmware_version;
    cs_tpm_pcr_selection banks[CS_TPM_MAX_BANKS]; /* TPMS_QUOTE_INFO.pcrSelect */
    size_t bank_count;
    uint8_t pcr_digest[64]; /* TPMS_QUOTE_INFO.pcrDigest */
    size_t pcr_digest_len;
} cs_tpm_quote;

/* A parsed TPMT_SIGNATURE (Part 2, "TPMT_SIGNATURE") of scheme RSASSA, RSAPSS or ECDSA. */
typedef struct cs_tpm_signature {
    uint16_t sig_alg;                     /* CS_TPM_ALG_RSASSA / _RSAPSS / _ECDSA */
    uint16_t hash_alg;                    /* CS_TPM_ALG_SHA256 / _SHA384 / _SHA512 */
    uint8_t rsa[CS_SIG_RSA_MAX_BITS / 8]; /* RSA: the signature */
    size_t rsa_len;
    uint8_t ecdsa_r[66]; /* ECDSA: r and s as the TPM gave them (big-endian) */
    size_t ecdsa_r_len;
    uint8_t ecdsa_s[66];
    size_t ecdsa_s_len;
} cs_tpm_signature;

/* ---- pure TPM structures (tpm_attest.c) ---- */

/*
 * Parses a TPMS_ATTEST that must be a quote: magic TPM_GENERATED_VALUE, type
 * TPM_ST_ATTEST_QUOTE, every TPM2B within its bound, PCR selections on known
 * banks with PCRs 0..23 only and no bank twice, pcrDigest non-empty, no
 * trailing bytes. Errors: TRUNCATED, TRAILING_DATA, TOO_LARGE, MALFORMED,
 * UNSUPPORTED (a bank consort does not know).
 */
CS_MUST_CHECK consort_err cs_tpm_quote_parse(cs_slice attest, cs_tpm_quote *out);
/* Parses a TPMT_SIGNATURE; schemes other than RSASSA/RSAPSS/ECDSA with
 * SHA-256/384/512 are UNSUPPORTED; trailing bytes are an error. */
CS_MUST_CHECK consort_err cs_tpm_signature_parse(cs_slice sig, cs_tpm_signature *out);
/* A signature from bare RSA bytes (e.g. Azure's quote signature, which is not
 * wrapped in a TPMT_SIGNATURE). */
CS_MUST_CHECK consort_err cs_tpm_signature_from_rsa(uint16_t sig_alg, uint16_t hash_alg,
                                                    cs_slice rsa_sig, cs_tpm_signature *out);
/* Marshals `sig` as a TPMT_SIGNATURE (appends to `out`). */
CS_MUST_CHECK consort_err cs_tpm_signature_marshal(const cs_tpm_signature *sig, cs_buf *out);
/* CONSORT_E_BAD_SIGNATURE unless `sig` by `ak` covers exactly the bytes `attest`. */
CS_MUST_CHECK consort_err cs_tpm_signature_verify(const cs_tpm_signature *sig, const cs_key *ak,
                                                  cs_slice attest);

/* Digest size of a PCR bank (0 if unknown). */
size_t cs_tpm_bank_digest_len(uint16_t hash_alg);
/* "sha1", "sha256", "sha384", "sha512" or "unknown". */
const char *cs_tpm_alg_name(uint16_t alg);
/* Number of PCR values the quote's selection covers. */
size_t cs_tpm_quote_pcr_count(const cs_tpm_quote *q);
/*
 * Checks `values` (count of them, in selection order: each selection in turn,
 * PCR indices ascending) against the quote: the count and every length must
 * match the selection and pcrDigest must equal the hash, with the signature's
 * hash `sig_hash_alg` (Part 3 §18.4: "the hash of the signing scheme"), of
 * their concatenation. CONSORT_E_MALFORMED for a count/length mismatch,
 * CONSORT_E_ATTESTATION if the digest differs.
 */
CS_MUST_CHECK consort_err cs_tpm_quote_check_pcrs(const cs_tpm_quote *q, uint16_t sig_hash_alg,
                                                  const cs_slice *values, size_t count);
/* The position of (bank, pcr) in the quote's value order; NOT_FOUND if not selected. */
CS_MUST_CHECK consort_err cs_tpm_quote_pcr_position(const cs_tpm_quote *q, uint16_t hash_alg,
                                                    unsigned pcr, size_t *pos);
/* The public key of a TPMT_PUBLIC (RSA, or ECC on P-256/P-384); trailing bytes fail. */
CS_MUST_CHECK consort_err cs_tpm_public_to_key(cs_slice tpmt_public, cs_key **out);
/* The SHA-256-bank PCR value after one extend of `code_id` from zero:
 * SHA-256(0^32 || code_id) (Part 1, "Extend" of a PCR). */
void cs_tpm_code_id_pcr_value(const uint8_t code_id[32], uint8_t out[32]);

/* ---- consort "tpm" evidence and the verifier (tpm_evidence.c) ---- */

/* The decoded evidence bytes; slices borrow from the decoded input. */
typedef struct cs_tpm_evidence {
    cs_slice attest;
    cs_slice signature;
    cs_slice pcrs[CS_TPM_MAX_QUOTED_PCRS];
    size_t pcr_count;
    uint32_t code_id_pcr;
    uint8_t code_id[32];
} cs_tpm_evidence;

/* Strict decode of the CBOR above (wrong types, keys out of order, oversized
 * fields, more than CS_TPM_MAX_QUOTED_PCRS values and trailing bytes fail). */
CS_MUST_CHECK consort_err cs_tpm_evidence_decode(cs_slice in, cs_tpm_evidence *out);
CS_MUST_CHECK consort_err cs_tpm_evidence_encode(const cs_tpm_evidence *ev, cs_buf *out);

/*
 * The verifier (registered in registry.c). Claims: platform tpm; code_id from
 * the code-id PCR; report_data = extraData || 32 zero bytes; signer = SHA-256
 * of the AK's DER SPKI; security_version 0 (firmwareVersion is vendor-specific
 * and not ordered; it is an extra claim); debug false; extras: pcr_<bank>_<n>
 * for every quoted PCR, code_id_pcr, clock, reset_count, restart_count, safe,
 * firmware_version, qualified_signer.
 */
extern const cs_verifier cs_tpm_verifier;

/* ---- attester (tpm_attester.c, I/O through tss2) ---- */

typedef enum cs_tpm_ak_type {
    CS_TPM_AK_ECDSA_P256 = 0, /* ECC NIST P-256, ECDSA with SHA-256 (default) */
    CS_TPM_AK_RSASSA_2048 = 1,
    CS_TPM_AK_RSAPSS_2048 = 2,
} cs_tpm_ak_type;

typedef struct cs_tpm_attester_opts {
    /* TCTI configuration for Tss2_TctiLdr_Initialize, e.g.
     * "swtpm:host=127.0.0.1,port=2321" or "device:/dev/tpmrm0"; NULL: tss2's default. */
    const char *tcti;
    cs_tpm_ak_type ak_type;
    /* PCR for the code id; 0 means CS_TPM_CODE_ID_PCR. Must be resettable at
     * locality 0 (16 or 23). */
    unsigned code_id_pcr;
    /* Further SHA-256 PCRs to quote (bit i = PCR i), e.g. 0xff for the boot PCRs. */
    uint32_t extra_pcrs;
} cs_tpm_attester_opts;

typedef struct cs_tpm_attester cs_tpm_attester;

/*
 * Connects to the TPM, starts it if needed and creates the AK as a primary key
 * in the endorsement hierarchy (restricted, fixedTPM, sign-only; the same
 * template gives the same key on the same TPM, so its certificate stays valid
 * across restarts; keys there also get clock and firmware fields unobfuscated).
 * Errors: IO (no TPM at `tcti`, or a TPM command failed: the message has the
 * TPM's response code decoded), INVALID_ARGUMENT.
 */
CS_MUST_CHECK consort_err cs_tpm_attester_new(const cs_tpm_attester_opts *opts,
                                              cs_tpm_attester **out);
void cs_tpm_attester_free(cs_tpm_attester *att);
/* The AK's public key (borrowed; valid while `att` lives). */
const cs_key *cs_tpm_attester_ak(const cs_tpm_attester *att);

/*
 * SIMPLIFIED ENROLMENT: certifies `ak` with a local CA (ca_key, ca_cert) for
 * [not_before, not_after]. A real deployment would first prove that the AK
 * lives in the same TPM as a manufacturer-certified EK (TPM2_MakeCredential /
 * TPM2_ActivateCredential); consort does not do that step.
 */
CS_MUST_CHECK consort_err cs_tpm_ak_certify(const cs_key *ak, const cs_key *ca_key,
                                            const cs_x509 *ca_cert, int64_t not_before,
                                            int64_t not_after, cs_x509 **out);
/* Sets the endorsements put into evidence: the AK certificate, then `chain`
 * (intermediates, possibly the CA itself). Copies the DER encodings. */
CS_MUST_CHECK consort_err cs_tpm_attester_set_certs(cs_tpm_attester *att, const cs_x509 *ak_cert,
                                                    cs_x509 *const *chain, size_t chain_len);

/* Resets the code-id PCR and extends `code_id` into its SHA-256 bank once. */
CS_MUST_CHECK consort_err cs_tpm_attester_measure(cs_tpm_attester *att, const uint8_t code_id[32]);
/* Extends `digest` into the SHA-256 bank of PCR `pcr` (no reset). */
CS_MUST_CHECK consort_err cs_tpm_attester_extend(cs_tpm_attester *att, unsigned pcr,
                                                 const uint8_t digest[32]);
/*
 * Quotes the code-id PCR and opts->extra_pcrs with report_data[0..32) as
 * qualifying data, reads the quoted PCR values, and fills `ev` (platform tpm,
 * evidence bytes, endorsements). report_data[32..64) must be zero
 * (INVALID_ARGUMENT otherwise); cs_tpm_attester_measure and _set_certs must
 * have run (STATE). `ev` must be initialised (cs_evidence_init); its previous
 * contents are released, and on failure it is left empty.
 */
CS_MUST_CHECK consort_err cs_tpm_attester_quote(cs_tpm_attester *att, const uint8_t report_data[64],
                                                cs_evidence *ev);
/* cs_tpm_attester_quote with report_data = cs_report_data_bind(node_key, nonce). */
CS_MUST_CHECK consort_err cs_tpm_attest_key(cs_tpm_attester *att, const cs_key *node_key,
                                            cs_slice nonce, cs_evidence *ev);

#endif
