/*
 * LtHash16 (Lewi, Kim, Maykov, Weis: "Securing Update Propagation with
 * Homomorphic Hashing", 2019): a digest of a multiset of byte strings that
 * can be updated in O(1) when one element is added or removed, so a store
 * can keep the digest of its whole state as it changes.
 *
 * The state is 1024 lanes of 16 bits. An element's contribution is its
 * expansion (docs/kv.md "State digest"): the 2048-byte keystream of
 * AES-256-CTR under the key SHA-256("consort lthash v1" || element) with an
 * all-zero initial counter block, read as 1024 little-endian uint16. Adding
 * an element adds its expansion lane by lane mod 2^16; removing subtracts
 * it. The order of additions does not matter; adding then removing the same
 * element restores the state exactly.
 *
 * The digest is SHA-256("consort lthash digest v1" || the 1024 lanes as
 * little-endian uint16).
 */
#ifndef CS_CRYPTO_LTHASH_H
#define CS_CRYPTO_LTHASH_H

#include "base/buf.h"

#define CS_LTHASH_LANES      1024
#define CS_LTHASH_DIGEST_LEN 32

typedef struct cs_lthash {
    uint16_t lanes[CS_LTHASH_LANES];
} cs_lthash;

/* The empty multiset (every lane 0). */
void cs_lthash_init(cs_lthash *h);
/* Adds / removes the element whose bytes are the concatenation of `parts`
 * (so callers need not copy a record into one buffer). CRYPTO if OpenSSL
 * fails; `h` is unchanged then. */
CS_MUST_CHECK consort_err cs_lthash_add(cs_lthash *h, const cs_slice *parts, size_t count);
CS_MUST_CHECK consort_err cs_lthash_sub(cs_lthash *h, const cs_slice *parts, size_t count);
/* h += other / h -= other, lane by lane. */
void cs_lthash_combine(cs_lthash *h, const cs_lthash *other);
void cs_lthash_uncombine(cs_lthash *h, const cs_lthash *other);
/* The 32-byte digest of the current state. */
void cs_lthash_digest(const cs_lthash *h, uint8_t out[CS_LTHASH_DIGEST_LEN]);

#endif
