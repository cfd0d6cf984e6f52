/*
 * Sealed blobs (docs/migration.md §2): AES-256-GCM under a key derived from
 * a 32-byte sealing root, with a header that says who may open the blob.
 *
 *   [ "CSSL1", policy, sealer_code_id, successors, counter_name / null,
 *     counter_value, nonce, ciphertext || tag ]
 *
 * The associated data is the encoding up to (not including) the last
 * element, so every header field is authenticated. The key is
 *
 *   HKDF-SHA256(ikm = root, salt = binding, info = "consort seal v1" || policy)
 *
 * with binding = the code id (policy code; on opening, the OPENER's code id,
 * so another code derives another key) or CS_SEAL_LINEAGE_LABEL (policy
 * lineage). Opening checks, in this order (§2): the header parses (MALFORMED,
 * TRUNCATED, TRAILING_DATA, TOO_LARGE); policy code: opener == sealer, policy
 * lineage: opener == sealer, opener in successors or sealer in the opener's
 * ancestors (else POLICY); the tag (BAD_TAG). The counter is the caller's to
 * compare (cs_seal_header.counter_value against its named counter: ROLLBACK
 * when they differ); the sealed store does that (store.h).
 *
 * Speed: a cs_seal_keycache derives each (policy, binding) key once and keeps
 * its AES key schedule, and draws nonces from a pool of random bytes, so a
 * seal costs the cipher, the header and a copy. cs_seal / cs_unseal are the
 * one-shot forms (a fresh cache per call: an HKDF each time).
 */
#ifndef CS_SEALING_SEAL_H
#define CS_SEALING_SEAL_H

#include "base/buf.h"

#define CS_SEAL_ROOT_LEN         32
#define CS_SEAL_CODE_ID_LEN      32
#define CS_SEAL_MAX_BLOB         ((size_t)16 << 20)
#define CS_SEAL_MAX_SUCCESSORS   64
#define CS_SEAL_MAX_COUNTER_NAME 64
/* The header and tag around the plaintext: at most this many bytes. */
#define CS_SEAL_OVERHEAD ((size_t)4096)
/* The largest plaintext a blob within CS_SEAL_MAX_BLOB holds for sure. */
#define CS_SEAL_MAX_PLAIN (CS_SEAL_MAX_BLOB - CS_SEAL_OVERHEAD)

typedef enum cs_seal_policy {
    CS_SEAL_POLICY_CODE = 1,    /* only the exact code id that sealed it */
    CS_SEAL_POLICY_LINEAGE = 2, /* the sealer, its approved successors, its heirs */
} cs_seal_policy;

/* A code id (a struct, so that arrays of them convert to const). */
typedef struct cs_code_id {
    uint8_t b[CS_SEAL_CODE_ID_LEN];
} cs_code_id;

/* What to seal under. Borrowed for the call. */
typedef struct cs_seal_params {
    cs_seal_policy policy;
    const uint8_t *code_id;       /* 32 bytes: the sealer's own code id */
    const cs_code_id *successors; /* lineage only (must be 0 for code): approved successors */
    size_t successor_count;       /* at most CS_SEAL_MAX_SUCCESSORS */
    const char *counter_name;     /* NULL: bound to no counter (then counter_value must be 0) */
    uint64_t counter_value;
} cs_seal_params;

/* Who opens. Borrowed for the call. */
typedef struct cs_seal_opener {
    const uint8_t *code_id;      /* 32 bytes: the opener's code id */
    const cs_code_id *ancestors; /* code ids whose state the opener inherited */
    size_t ancestor_count;
} cs_seal_opener;

/* The authenticated header of an opened blob. */
typedef struct cs_seal_header {
    cs_seal_policy policy;
    uint8_t sealer_code_id[CS_SEAL_CODE_ID_LEN];
    cs_code_id successors[CS_SEAL_MAX_SUCCESSORS];
    size_t successor_count;
    bool has_counter;
    char counter_name[CS_SEAL_MAX_COUNTER_NAME + 1]; /* "" when none */
    uint64_t counter_value;
} cs_seal_header;

/* SHA-256("consort lineage v1"): the binding of policy lineage. */
void cs_seal_lineage_label(uint8_t out[32]);

typedef struct cs_seal_keycache cs_seal_keycache;

/* A key cache over a copy of `root` (wiped by _free). Not thread-safe. */
CS_MUST_CHECK consort_err cs_seal_keycache_new(const uint8_t root[CS_SEAL_ROOT_LEN],
                                               cs_seal_keycache **out);
void cs_seal_keycache_free(cs_seal_keycache *kc);

/*
 * Seals `plain` (at most CS_SEAL_MAX_PLAIN bytes) and appends the blob to
 * `out` (`plain` must not point into `out`). INVALID_ARGUMENT for bad
 * parameters (an unknown policy, successors with policy code, more than 64,
 * a counter name that is empty, longer than 64 bytes or not printable
 * ASCII, a counter value without a name); TOO_LARGE. On failure `out` is
 * left as it was.
 */
CS_MUST_CHECK consort_err cs_seal_with(cs_seal_keycache *kc, const cs_seal_params *p,
                                       cs_slice plain, cs_buf *out);
/*
 * Opens `blob` for `o`: fills *hdr (may be NULL) and appends the plaintext to
 * `plain_out` (make it secret if the contents are). Errors as above (file
 * comment); on failure nothing is appended.
 */
CS_MUST_CHECK consort_err cs_unseal_with(cs_seal_keycache *kc, const cs_seal_opener *o,
                                         cs_slice blob, cs_seal_header *hdr, cs_buf *plain_out);

/* One-shot forms of the two above. */
CS_MUST_CHECK consort_err cs_seal(const uint8_t root[CS_SEAL_ROOT_LEN], const cs_seal_params *p,
                                  cs_slice plain, cs_buf *out);
CS_MUST_CHECK consort_err cs_unseal(const uint8_t root[CS_SEAL_ROOT_LEN], const cs_seal_opener *o,
                                    cs_slice blob, cs_seal_header *hdr, cs_buf *plain_out);

/* Parses a blob's header without opening it (not authenticated: for
 * routing and messages only). */
CS_MUST_CHECK consort_err cs_seal_peek(cs_slice blob, cs_seal_header *hdr);

#endif
