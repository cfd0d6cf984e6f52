/*
 * COSE_Sign1 (RFC 9052 §4.2) with ECDSA (RFC 9053 §2.1): consort's one path
 * for every signed object (receipts, governance ballots, usage receipts).
 *
 *   sign    cs_cose_sign1_sign()    key + parameters -> tagged COSE_Sign1 bytes
 *   decode  cs_cose_sign1_decode()  bytes -> cs_cose_sign1 of borrowed slices
 *   verify  cs_cose_sign1_verify()  rebuilds Sig_structure (§4.4), checks ECDSA
 *
 * Nothing here allocates except the caller's output buffer (sign) and the
 * short-lived buffers of the ECDSA layer (verify). The Sig_structure is
 * hashed piece by piece, never assembled, unless a caller asks for its bytes
 * (cs_cose_sign1_tbs, for tests and diagnostics).
 *
 * Strictness (decode): definite lengths only; exactly one COSE_Sign1, tagged
 * 18 or untagged, and no other tag; the four fields with the exact types of
 * §4.2; labels int or tstr, unique inside each map and never in both maps
 * (§3); the common parameters of §3.1 with their registered types; at most
 * CS_COSE_MAX_HEADERS entries per map and CS_COSE_MAX_MESSAGE bytes in all;
 * no trailing bytes.
 *
 * Strictness (verify): `alg` must be in the protected header (§3.1: it "MUST
 * be authenticated"); only ES256, ES384 and ES512 are accepted; the protected
 * bstr goes into the Sig_structure exactly as transmitted, so an empty map
 * sent as h'A0' is covered as h'A0' (§3 lets a sender choose either encoding
 * of an empty map; the bytes are what is signed).
 */
#ifndef CS_CRYPTO_COSE_H
#define CS_CRYPTO_COSE_H

#include "crypto/key.h"

/* Largest COSE_Sign1 decode accepts (receipts and ballots are far smaller). */
#define CS_COSE_MAX_MESSAGE ((size_t)1 << 20)
/* Most entries in one header map. */
#define CS_COSE_MAX_HEADERS 16
/* RFC 9052 §4.2: COSE_Sign1_Tagged = #6.18(COSE_Sign1). */
#define CS_COSE_TAG_SIGN1 18

/* Header labels: RFC 9052 §3.1 Table 3, and RFC 9942 (COSE Receipts). */
#define CS_COSE_HDR_ALG        1
#define CS_COSE_HDR_CRIT       2
#define CS_COSE_HDR_CTY        3
#define CS_COSE_HDR_KID        4
#define CS_COSE_HDR_IV         5
#define CS_COSE_HDR_PARTIAL_IV 6
#define CS_COSE_HDR_VDS        395 /* verifiable data structure */
#define CS_COSE_HDR_VDP        396 /* verifiable data structure proofs */

/* Algorithm identifiers, IANA "COSE Algorithms" (RFC 9053 §2.1 Table 1). */
typedef enum cs_cose_alg {
    CS_COSE_ES256 = -7,  /* ECDSA w/ SHA-256 */
    CS_COSE_ES384 = -35, /* ECDSA w/ SHA-384 */
    CS_COSE_ES512 = -36, /* ECDSA w/ SHA-512 (verify only) */
} cs_cose_alg;

/* "ES256", "ES384", "ES512", or "unknown". */
const char *cs_cose_alg_name(int64_t alg);

/* A header label: int or tstr (RFC 9052 §1.5). */
typedef struct cs_cose_label {
    bool is_text;
    int64_t num;   /* when !is_text */
    cs_slice text; /* when is_text (UTF-8, borrowed) */
} cs_cose_label;

#define CS_COSE_LABEL(n) ((cs_cose_label){.is_text = false, .num = (n)})

/* ---- decoded header maps ---- */

typedef struct cs_cose_header {
    cs_cose_label label;
    cs_slice value; /* the value's exact CBOR encoding (borrowed) */
} cs_cose_header;

typedef struct cs_cose_headers {
    cs_slice raw; /* the encoded map; empty for a zero-length protected bstr */
    size_t count;
    cs_cose_header items[CS_COSE_MAX_HEADERS];
} cs_cose_headers;

/*
 * Parses one encoded header map (exactly `map`, no trailing bytes) into `out`,
 * borrowing from `map`. An empty slice is the empty map. Enforces the
 * per-map rules listed at the top (unique labels, types of §3.1, the cap).
 */
CS_MUST_CHECK consort_err cs_cose_headers_parse(cs_slice map, cs_cose_headers *out);

/*
 * Looks up `label`; `*raw` receives the exact CBOR of its value.
 * CONSORT_E_NOT_FOUND (with a message) if absent.
 */
CS_MUST_CHECK consort_err cs_cose_headers_find(const cs_cose_headers *h, cs_cose_label label,
                                               cs_slice *raw);
bool cs_cose_headers_has(const cs_cose_headers *h, int64_t label);
/* True if the protected map's crit (label 2) lists the integer `label`. */
bool cs_cose_crit_lists(const cs_cose_headers *prot, int64_t label);
/* Typed getters for an integer label: CONSORT_E_NOT_FOUND if absent,
 * CONSORT_E_MALFORMED if the value has another type. */
CS_MUST_CHECK consort_err cs_cose_headers_get(const cs_cose_headers *h, int64_t label,
                                              cs_slice *raw);
CS_MUST_CHECK consort_err cs_cose_headers_get_int(const cs_cose_headers *h, int64_t label,
                                                  int64_t *out);
CS_MUST_CHECK consort_err cs_cose_headers_get_bytes(const cs_cose_headers *h, int64_t label,
                                                    cs_slice *out);
CS_MUST_CHECK consort_err cs_cose_headers_get_text(const cs_cose_headers *h, int64_t label,
                                                   cs_slice *out);

/*
 * The rules that involve both maps of one message (RFC 9052 §3, §3.1): no
 * label in both; crit only protected, non-empty, every listed label present
 * in the protected map; not both IV and Partial IV.
 */
CS_MUST_CHECK consort_err cs_cose_headers_check_pair(const cs_cose_headers *prot,
                                                     const cs_cose_headers *unprot);

/* ---- decode ---- */

/* A decoded COSE_Sign1. Every slice borrows from the decoded input. */
typedef struct cs_cose_sign1 {
    bool tagged;             /* carried tag 18 */
    cs_slice protected_bstr; /* the protected bstr's content exactly as sent */
    cs_cose_headers protected_hdr;
    cs_cose_headers unprotected_hdr;
    bool detached;    /* payload was nil */
    cs_slice payload; /* empty when detached */
    cs_slice signature;
} cs_cose_sign1;

/*
 * Strictly parses a COSE_Sign1 (tagged or untagged) into `out`. Structural
 * only: algorithm and signature are checked by cs_cose_sign1_verify.
 * Errors: TOO_LARGE, TRUNCATED, TRAILING_DATA, MALFORMED, UNSUPPORTED
 * (indefinite lengths, a tag other than 18).
 */
CS_MUST_CHECK consort_err cs_cose_sign1_decode(cs_slice in, cs_cose_sign1 *out);

/* The protected `alg` (RFC 9052 §3.1). MALFORMED if absent from the protected
 * header (also when it is only in the unprotected one); UNSUPPORTED if not
 * ES256/ES384/ES512 (a text value included). */
CS_MUST_CHECK consort_err cs_cose_sign1_alg(const cs_cose_sign1 *msg, cs_cose_alg *out);

/* ---- verify ---- */

typedef struct cs_cose_verify_opts {
    cs_slice external_aad; /* RFC 9052 §4.3; empty = none */
    /* The payload of a detached message (§4.1), NULL otherwise. Giving one
     * for a message that carries its payload is an error. */
    const cs_slice *detached_payload;
    /* Labels the caller processes, for `crit` (§3.1). The common labels
     * 1..6 of Table 3 are understood without being listed. */
    const int64_t *understood;
    size_t understood_count;
} cs_cose_verify_opts;

/*
 * Verifies `msg` under `key` (`opts` may be NULL for none). The key may be on
 * P-256, P-384 or P-521; RFC 9053 §2.1 only "suggests" pairing each hash with
 * its curve, so ES512 under a P-256 key verifies. CONSORT_OK iff the raw r||s
 * signature is valid over the Sig_structure; BAD_SIGNATURE if not (wrong key,
 * altered bytes, wrong signature length); MALFORMED/UNSUPPORTED for the alg
 * and crit rules; INVALID_ARGUMENT for a missing or superfluous detached
 * payload or a non-EC key.
 */
CS_MUST_CHECK consort_err cs_cose_sign1_verify(const cs_cose_sign1 *msg, const cs_key *key,
                                               const cs_cose_verify_opts *opts);

/* Appends the Sig_structure of `msg` (what verify hashes) to `out`. */
CS_MUST_CHECK consort_err cs_cose_sign1_tbs(const cs_cose_sign1 *msg,
                                            const cs_cose_verify_opts *opts, cs_buf *out);
/* Appends ["Signature1", protected, external_aad, payload] (RFC 9052 §4.4). */
CS_MUST_CHECK consort_err cs_cose_sig_structure(cs_slice protected_bstr, cs_slice external_aad,
                                                cs_slice payload, cs_buf *out);

/* ---- sign ---- */

typedef enum cs_cose_value_type {
    CS_COSE_VALUE_INT,
    CS_COSE_VALUE_BYTES,
    CS_COSE_VALUE_TEXT,
    CS_COSE_VALUE_RAW, /* `s` is one pre-encoded CBOR data item */
} cs_cose_value_type;

/* One protected header entry supplied by a signer. */
typedef struct cs_cose_param {
    cs_cose_label label;
    cs_cose_value_type type;
    int64_t i;  /* CS_COSE_VALUE_INT */
    cs_slice s; /* BYTES, TEXT, RAW */
} cs_cose_param;

#define CS_COSE_PARAM_INT(l, v)                                                                    \
    ((cs_cose_param){.label = CS_COSE_LABEL(l), .type = CS_COSE_VALUE_INT, .i = (v)})
#define CS_COSE_PARAM_BYTES(l, v)                                                                  \
    ((cs_cose_param){.label = CS_COSE_LABEL(l), .type = CS_COSE_VALUE_BYTES, .s = (v)})
#define CS_COSE_PARAM_TEXT(l, v)                                                                   \
    ((cs_cose_param){.label = CS_COSE_LABEL(l), .type = CS_COSE_VALUE_TEXT, .s = (v)})
#define CS_COSE_PARAM_RAW(l, v)                                                                    \
    ((cs_cose_param){.label = CS_COSE_LABEL(l), .type = CS_COSE_VALUE_RAW, .s = (v)})

typedef struct cs_cose_sign1_params {
    cs_cose_alg alg; /* ES256 (P-256 key) or ES384 (P-384 key) */
    /* Extra protected entries, encoded in this order after `alg`, which is
     * always first and must not be given here. */
    const cs_cose_param *protected_params;
    size_t protected_count;
    cs_slice unprotected; /* one pre-encoded CBOR map; empty slice = {} */
    cs_slice payload;
    bool detached;         /* send nil instead of the payload (§4.1) */
    cs_slice external_aad; /* empty = none */
} cs_cose_sign1_params;

/*
 * Signs and appends a tagged COSE_Sign1 to `out`. The result always decodes
 * (the header maps are checked by the same rules as decode). On failure
 * `out` keeps its previous length. Errors: INVALID_ARGUMENT (alg not
 * ES256/ES384, key not on the matching curve, alg among the params, a bad
 * RAW value or unprotected map, duplicate labels), CRYPTO, NOMEM, TOO_LARGE.
 */
CS_MUST_CHECK consort_err cs_cose_sign1_sign(const cs_key *key, const cs_cose_sign1_params *p,
                                             cs_buf *out);

#endif
