/*
 * The Merkle tree of RFC 9162 §2.1 (SHA-256): the one Merkle tree of consort.
 * It backs the ledger and every receipt (DESIGN.md "Receipts").
 *
 *   leaf hash      = SHA-256(0x00 || leaf data)            RFC 9162 §2.1.1
 *   interior node  = SHA-256(0x01 || left || right)        RFC 9162 §2.1.1
 *   empty tree     = SHA-256("")                           RFC 9162 §2.1.1
 *
 * A receipt leaf is the leaf hash of a 96-byte leaf entry
 * (SHA-256(ledger entry) || SHA-256(commit evidence) || claims digest).
 *
 * Two halves:
 *
 * - cs_merkle_tree, an append-only tree that the ledger owns. It produces the
 *   root of the current size and of any earlier size, inclusion proofs
 *   (§2.1.3.1) and consistency proofs (§2.1.4.1) for any sizes it has held,
 *   and can be truncated back to a smaller size (rollback of uncommitted
 *   entries). Not thread-safe: one writer, and readers serialised with it.
 *
 * - Verifiers (§2.1.3.2, §2.1.4.2): pure functions over untrusted buffers that
 *   need no tree. Every hash they hash must be exactly 32 bytes. Following
 *   the transparency-dev semantics, a consistency check from size1 == 0
 *   always fails, and size1 == size2 needs an empty proof and byte-equal
 *   roots (compared as given, of any length: nothing is computed from them).
 *
 * Errors: CONSORT_E_INVALID_ARGUMENT for an impossible index or size (index
 * >= size, a size larger than the tree, size1 > size2, size1 == 0),
 * CONSORT_E_NOT_FOUND for what a tree made from peaks does not hold,
 * CONSORT_E_BAD_PROOF when a proof does not verify (including hashes of the
 * wrong length and proofs of the wrong length), CONSORT_E_NOMEM from appends.
 * Messages give the values.
 *
 * Memory: the tree stores every leaf hash it holds (32 bytes) and, of the interior
 * nodes, only the complete subtrees whose height is a multiple of 4 (one node
 * per 16, 256, 4096, ... leaves), in chunks of 512 hashes. That is at most
 * CS_MERKLE_BYTES_PER_LEAF bytes per leaf (32 * 16/15 plus the chunk tables),
 * plus less than one 16 KiB chunk per stored level and a small fixed part
 * (2 KiB of it the peaks that stand for the leaves a tree made from peaks
 * does not hold).
 * Any other node is recomputed from at most 8 stored nodes (7 hashes), so an
 * inclusion proof or a historical root costs a few dozen hashes. Appending
 * costs one SHA-256 per leaf amortised (15 per 16th leaf, and so on).
 * Measured (bench/RESULTS.md): 5.7 M appends/s, 89 k inclusion proofs
 * generated and 257 k verified per second on a 1 M-leaf tree, one core.
 */
#ifndef CS_CRYPTO_MERKLE_H
#define CS_CRYPTO_MERKLE_H

#include "base/buf.h"

#include <stdint.h>

#define CS_MERKLE_HASH_LEN 32
/* Longest proof for any tree of up to 2^64 - 1 leaves: an inclusion path has
 * at most 64 hashes, a consistency proof at most 65. Verifiers reject longer. */
#define CS_MERKLE_PROOF_MAX 65
/* Upper bound of allocated bytes per leaf in the long run (see above). */
#define CS_MERKLE_BYTES_PER_LEAF 34.2

typedef struct cs_merkle_tree cs_merkle_tree;

/* A proof the tree generated: `len` hashes in the order the RFC lists them.
 * Plain value type (about 2 KiB); no cleanup needed. */
typedef struct cs_merkle_proof {
    size_t len;
    uint8_t hash[CS_MERKLE_PROOF_MAX][CS_MERKLE_HASH_LEN];
} cs_merkle_proof;

/* ---- hashing (RFC 9162 §2.1.1) ---- */

/* SHA-256(0x00 || data). */
void cs_merkle_leaf_hash(cs_slice data, uint8_t out[CS_MERKLE_HASH_LEN]);
/* SHA-256(0x01 || left || right). `out` may alias either input. */
void cs_merkle_node_hash(const uint8_t left[CS_MERKLE_HASH_LEN],
                         const uint8_t right[CS_MERKLE_HASH_LEN], uint8_t out[CS_MERKLE_HASH_LEN]);
/* The root of the empty tree, SHA-256(""). */
void cs_merkle_empty_root(uint8_t out[CS_MERKLE_HASH_LEN]);

/* ---- the tree ---- */

/* An empty tree; free with cs_merkle_free. CONSORT_E_NOMEM. */
CS_MUST_CHECK consort_err cs_merkle_new(cs_merkle_tree **out);
/* Frees the tree; NULL is a no-op. */
void cs_merkle_free(cs_merkle_tree *t);

/*
 * Appends one leaf: by its data (hashed here as SHA-256(0x00 || data)) or by
 * its precomputed leaf hash. On CONSORT_E_NOMEM the tree is unchanged
 * (memory reserved before the failure stays with the tree and is reused);
 * CONSORT_E_TOO_LARGE once it holds 2^64 - 1 leaves.
 */
CS_MUST_CHECK consort_err cs_merkle_append(cs_merkle_tree *t, cs_slice leaf_data);
CS_MUST_CHECK consort_err cs_merkle_append_hash(cs_merkle_tree *t,
                                                const uint8_t leaf_hash[CS_MERKLE_HASH_LEN]);

/* Number of leaves. */
uint64_t cs_merkle_size(const cs_merkle_tree *t);
/* Bytes the tree has allocated (for the memory bound in tests and metrics). */
size_t cs_merkle_memory(const cs_merkle_tree *t);
/* The leaf hash at `index` (< size; NOT_FOUND before the first held). */
CS_MUST_CHECK consort_err cs_merkle_leaf(const cs_merkle_tree *t, uint64_t index,
                                         uint8_t out[CS_MERKLE_HASH_LEN]);

/*
 * A tree that starts from its peaks: `size` leaves, of which it holds only
 * the complete subtrees MTH(D[0:size]) splits into (RFC 9162 §2.1.1: one
 * per set bit of size, the largest, leftmost, first; `n` must be the number
 * of set bits), as cs_merkle_peaks gives them. Appends, roots and proofs
 * then work as in the tree the peaks came from for everything at or after
 * `size` (roots of sizes >= size, inclusion proofs of leaves >= size,
 * consistency proofs from sizes >= size); what lies inside the first
 * `size` leaves is refused with NOT_FOUND. A snapshot carries a ledger's
 * tree this way: at most 64 hashes, whatever the ledger's length.
 * INVALID_ARGUMENT for a wrong count, NOMEM.
 */
CS_MUST_CHECK consort_err cs_merkle_new_from_peaks(uint64_t size, const uint8_t *peaks, size_t n,
                                                   cs_merkle_tree **out);
/* The index of the first leaf the tree holds: 0, or the size it was made
 * from peaks at. */
uint64_t cs_merkle_first_held(const cs_merkle_tree *t);
/* The peaks of the tree at `size` leaves (size <= current size), largest
 * first, into `out` (room for 64 hashes); *n is their count, the number of
 * set bits of size. NOT_FOUND for a size inside the part not held. */
CS_MUST_CHECK consort_err cs_merkle_peaks(const cs_merkle_tree *t, uint64_t size, uint8_t *out,
                                          size_t *n);
#define CS_MERKLE_PEAKS_MAX 64
/*
 * Fills in the part a tree made from peaks does not hold: `prefix` is a
 * tree of exactly cs_merkle_first_held(t) leaves whose peaks are the ones
 * `t` was made from, itself whole (first held leaf 0) or made from peaks
 * at an earlier size p. On success `t` holds every leaf from prefix's
 * first held one (0 or p) and is in every respect the tree that appending
 * all its leaves to prefix would have built (roots, proofs, leaf, peaks,
 * truncate below the old base, memory accounting); `prefix` is consumed
 * (freed). Costs a few pointer moves per stored chunk and at most one
 * partial chunk copy per stored level, not a hash per leaf, so a loop
 * thread can call it on a tree of millions of leaves.
 * INVALID_ARGUMENT when t holds every leaf already, or prefix's size is
 * not t's first held leaf, or prefix holds none of it; BAD_PROOF when
 * prefix's peaks are not t's; NOMEM. On any error both trees are unchanged
 * and prefix stays the caller's.
 */
CS_MUST_CHECK consort_err cs_merkle_fill_base(cs_merkle_tree *t, cs_merkle_tree *prefix);

/* The root of the current tree (the empty-tree hash when it has no leaves). */
void cs_merkle_root(const cs_merkle_tree *t, uint8_t out[CS_MERKLE_HASH_LEN]);
/* The root the tree had at `size` leaves (size <= current size). */
CS_MUST_CHECK consort_err cs_merkle_root_at(const cs_merkle_tree *t, uint64_t size,
                                            uint8_t out[CS_MERKLE_HASH_LEN]);

/* PATH(index, D[0:size]) of RFC 9162 §2.1.3.1; index < size <= current size. */
CS_MUST_CHECK consort_err cs_merkle_inclusion_proof(const cs_merkle_tree *t, uint64_t index,
                                                    uint64_t size, cs_merkle_proof *out);
/* PROOF(size1, D[0:size2]) of RFC 9162 §2.1.4.1; 1 <= size1 <= size2 <= current
 * size (size1 == size2 gives the empty proof). */
CS_MUST_CHECK consort_err cs_merkle_consistency_proof(const cs_merkle_tree *t, uint64_t size1,
                                                      uint64_t size2, cs_merkle_proof *out);

/* Drops every leaf at index >= size (size <= current size) and frees the
 * memory that held them. Proofs and roots for sizes <= size are unchanged. */
CS_MUST_CHECK consort_err cs_merkle_truncate(cs_merkle_tree *t, uint64_t size);

/*
 * A small tree built at once with every level kept (under 2n hashes), for
 * reading every leaf's proof of it: a batch of handling statements under
 * one signature (e2e/batch.c). cs_merkle_tree keeps one level in four to
 * stay small over a whole ledger, so each of its proofs rehashes up to 15
 * nodes a level; here a proof is log n reads. A level's odd last node moves
 * up unchanged, which builds MTH's tree (RFC 9162 §2.1.1: the split at the
 * largest power of two below n), so roots and proofs are those of
 * cs_merkle_root_at and cs_merkle_inclusion_proof over the same leaves.
 */
typedef struct cs_merkle_dense {
    uint8_t (*h)[CS_MERKLE_HASH_LEN]; /* the levels, leaves first, one after the other */
    size_t off[CS_MERKLE_PROOF_MAX], len[CS_MERKLE_PROOF_MAX];
    size_t levels;
} cs_merkle_dense;
/* The tree of the leaves SHA-256(0x00 || data[i]), 1 <= n <= 2^32.
 * INVALID_ARGUMENT, NOMEM. */
CS_MUST_CHECK consort_err cs_merkle_dense_build(const cs_slice *data, size_t n,
                                                cs_merkle_dense *out);
const uint8_t *cs_merkle_dense_root(const cs_merkle_dense *t);
/* PATH(index, D[0:n]) of RFC 9162 §2.1.3.1; index < n. */
void cs_merkle_dense_proof(const cs_merkle_dense *t, size_t index, cs_merkle_proof *out);
/* A zeroed tree is a no-op. */
void cs_merkle_dense_free(cs_merkle_dense *t);

/* Slices over the hashes of `p` (borrowed from `p`), for the verifiers.
 * Returns p->len. */
size_t cs_merkle_proof_slices(const cs_merkle_proof *p, cs_slice out[CS_MERKLE_PROOF_MAX]);

/* ---- verification (pure; all inputs untrusted) ---- */

/*
 * RFC 9162 §2.1.3.2 without the final comparison: the root that `path`
 * proves for `leaf_hash` at `index` in a tree of `size` leaves (a receipt
 * verifier then checks the signature over this root). INVALID_ARGUMENT if index >= size;
 * BAD_PROOF for a hash that is not 32 bytes or a path of the wrong length.
 */
CS_MUST_CHECK consort_err cs_merkle_root_from_inclusion(cs_slice leaf_hash, uint64_t index,
                                                        uint64_t size, const cs_slice *path,
                                                        size_t path_len,
                                                        uint8_t root[CS_MERKLE_HASH_LEN]);
/* RFC 9162 §2.1.3.2: CONSORT_OK iff `path` proves `leaf_hash` at `index` in the
 * tree of `size` leaves whose root is `root`. */
CS_MUST_CHECK consort_err cs_merkle_verify_inclusion(cs_slice leaf_hash, uint64_t index,
                                                     uint64_t size, const cs_slice *path,
                                                     size_t path_len, cs_slice root);
/* RFC 9162 §2.1.4.2: CONSORT_OK iff `path` proves that the tree of `size2`
 * leaves with root `root2` extends the tree of `size1` leaves with `root1`. */
CS_MUST_CHECK consort_err cs_merkle_verify_consistency(uint64_t size1, uint64_t size2,
                                                       cs_slice root1, cs_slice root2,
                                                       const cs_slice *path, size_t path_len);

#endif
