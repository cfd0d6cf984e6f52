/* The key cache behind seal.h (seal_keys.c), for seal.c only. */
#ifndef CS_SEALING_SEAL_PRIV_H
#define CS_SEALING_SEAL_PRIV_H

#include "crypto/aead_key.h"
#include "sealing/seal.h"

/*
 * The kept key of (policy, binding): binding_id is the code id for policy
 * code and ignored for lineage (whose binding is the lineage label). The
 * key is derived on the first use and kept (borrowed: valid until the cache
 * is freed or CS_SEAL_KEYCACHE_SLOTS other bindings were asked for since).
 */
CS_MUST_CHECK consort_err cs_seal_keycache_key(cs_seal_keycache *kc, cs_seal_policy policy,
                                               const uint8_t *binding_id, cs_aead_key **out);
/* A fresh random nonce (from a pool refilled by cs_random). */
CS_MUST_CHECK consort_err cs_seal_keycache_nonce(cs_seal_keycache *kc,
                                                 uint8_t nonce[CS_AEAD_NONCE_LEN]);

/* True if all n bytes are printable ASCII (0x20..0x7e). */
bool cs_seal_printable(const uint8_t *p, size_t n);

/* The most bytes cs_seal_write_header writes: the array, the format, the
 * policy, the code id, CS_SEAL_MAX_SUCCESSORS successors, the longest
 * counter name, a 64-bit value, the nonce and the ciphertext's head. */
#define CS_SEAL_HEADER_MAX                                                                         \
    (1 + 6 + 1 + 34 + 2 + CS_SEAL_MAX_SUCCESSORS * 34 + 2 + CS_SEAL_MAX_COUNTER_NAME + 9 + 13 + 9)

/* Appends the header of a blob sealing `plain_len` bytes under `p`
 * (checked) and `nonce`, and the ciphertext's byte-string head, into room
 * the caller reserved (at least CS_SEAL_HEADER_MAX bytes). Returns the
 * length of the associated data: the header without that last head. */
size_t cs_seal_write_header(const cs_seal_params *p, const uint8_t nonce[CS_AEAD_NONCE_LEN],
                            size_t plain_len, cs_buf *out);

/* A blob taken apart: the header into *h, and where its associated data,
 * nonce and sealed bytes are (slices of the blob). MALFORMED, TRUNCATED,
 * UNSUPPORTED (another format), TOO_LARGE. */
typedef struct cs_seal_parsed {
    cs_slice aad;
    uint8_t nonce[CS_AEAD_NONCE_LEN];
    cs_slice sealed;
} cs_seal_parsed;
CS_MUST_CHECK consort_err cs_seal_parse(cs_slice blob, cs_seal_header *h, cs_seal_parsed *out);

#endif
