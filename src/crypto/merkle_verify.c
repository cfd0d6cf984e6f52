/*
 * RFC 9162 §2.1 hashing and the proof verifiers (§2.1.3.2, §2.1.4.2), as pure
 * functions over untrusted buffers. The step numbers in the comments are the
 * RFC's. Edge cases the RFC leaves open follow transparency-dev/merkle (see
 * merkle.h).
 */
#include "crypto/merkle.h"

#include "crypto/hash.h"
#include "crypto/rand.h"

#include <string.h>

static const uint8_t leaf_prefix = 0x00;
static const uint8_t node_prefix = 0x01;

void cs_merkle_leaf_hash(cs_slice data, uint8_t out[CS_MERKLE_HASH_LEN])
{
    /* RFC 9162 §2.1.1: MTH({d(0)}) = HASH(0x00 || d(0)). */
    const cs_slice parts[2] = {CS_SLICE(&leaf_prefix, 1), data};
    cs_sha256_parts(parts, 2, out);
}

void cs_merkle_node_hash(const uint8_t left[CS_MERKLE_HASH_LEN],
                         const uint8_t right[CS_MERKLE_HASH_LEN], uint8_t out[CS_MERKLE_HASH_LEN])
{
    /* RFC 9162 §2.1.1: MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])). */
    const cs_slice parts[3] = {CS_SLICE(&node_prefix, 1), CS_SLICE(left, CS_MERKLE_HASH_LEN),
                               CS_SLICE(right, CS_MERKLE_HASH_LEN)};
    cs_sha256_parts(parts, 3, out);
}

void cs_merkle_empty_root(uint8_t out[CS_MERKLE_HASH_LEN])
{
    /* RFC 9162 §2.1.1: "The hash of an empty list is the hash of an empty string". */
    cs_sha256(CS_SLICE_EMPTY, out);
}

static consort_err check_hash(cs_slice h, const char *what)
{
    CS_ENSURE(h.len == CS_MERKLE_HASH_LEN, CONSORT_E_BAD_PROOF, "%s is %zu bytes, expected %d",
              what, h.len, CS_MERKLE_HASH_LEN);
    return CONSORT_OK;
}

static consort_err check_path(const cs_slice *path, size_t path_len)
{
    CS_ENSURE(path_len <= CS_MERKLE_PROOF_MAX, CONSORT_E_BAD_PROOF,
              "proof has %zu hashes, at most %d are possible", path_len, CS_MERKLE_PROOF_MAX);
    for (size_t i = 0; i < path_len; i++) {
        CS_ENSURE(path[i].len == CS_MERKLE_HASH_LEN, CONSORT_E_BAD_PROOF,
                  "proof hash %zu is %zu bytes, expected %d", i, path[i].len, CS_MERKLE_HASH_LEN);
    }
    return CONSORT_OK;
}

static consort_err inclusion_root(cs_slice leaf_hash, uint64_t index, uint64_t size,
                                  const cs_slice *path, size_t path_len,
                                  uint8_t r[CS_MERKLE_HASH_LEN])
{
    /* 1. If leaf_index is greater than or equal to tree_size, fail. */
    CS_ENSURE(index < size, CONSORT_E_INVALID_ARGUMENT, "leaf index %llu >= tree size %llu",
              (unsigned long long)index, (unsigned long long)size);
    CS_TRY(check_hash(leaf_hash, "leaf hash"));
    CS_TRY(check_path(path, path_len));
    /* 2. Set fn to leaf_index and sn to tree_size - 1. */
    uint64_t fn = index;
    uint64_t sn = size - 1;
    /* 3. Set r to hash. */
    memcpy(r, leaf_hash.ptr, CS_MERKLE_HASH_LEN);
    /* 4. For each value p in the inclusion_path array: */
    for (size_t i = 0; i < path_len; i++) {
        const uint8_t *p = path[i].ptr;
        /* a. If sn is 0, then stop the iteration and fail the proof verification. */
        CS_ENSURE(sn != 0, CONSORT_E_BAD_PROOF,
                  "proof has %zu hashes, too many for index %llu in size %llu", path_len,
                  (unsigned long long)index, (unsigned long long)size);
        /* b. If LSB(fn) is set, or if fn is equal to sn, then: */
        if ((fn & 1) != 0 || fn == sn) {
            /* i. Set r to HASH(0x01 || p || r). */
            cs_merkle_node_hash(p, r, r);
            /* ii. If LSB(fn) is not set, then right-shift both fn and sn
             * equally until either LSB(fn) is set or fn is 0. */
            while ((fn & 1) == 0 && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            /* Otherwise: i. Set r to HASH(0x01 || r || p). */
            cs_merkle_node_hash(r, p, r);
        }
        /* c. Finally, right-shift both fn and sn one time. */
        fn >>= 1;
        sn >>= 1;
    }
    /* 5. Compare sn to 0 (the comparison of r with the root is the caller's). */
    CS_ENSURE(sn == 0, CONSORT_E_BAD_PROOF,
              "proof has %zu hashes, too few for index %llu in size %llu", path_len,
              (unsigned long long)index, (unsigned long long)size);
    return CONSORT_OK;
}

consort_err cs_merkle_root_from_inclusion(cs_slice leaf_hash, uint64_t index, uint64_t size,
                                          const cs_slice *path, size_t path_len,
                                          uint8_t root[CS_MERKLE_HASH_LEN])
{
    CS_TRY_CTX(inclusion_root(leaf_hash, index, size, path, path_len, root),
               "Merkle inclusion proof");
    return CONSORT_OK;
}

consort_err cs_merkle_verify_inclusion(cs_slice leaf_hash, uint64_t index, uint64_t size,
                                       const cs_slice *path, size_t path_len, cs_slice root)
{
    uint8_t r[CS_MERKLE_HASH_LEN];
    CS_TRY(cs_merkle_root_from_inclusion(leaf_hash, index, size, path, path_len, r));
    CS_TRY_CTX(check_hash(root, "root"), "Merkle inclusion proof");
    /* 5. If sn is equal to 0 and r and the root_hash are equal, then the log
     * has proven the inclusion of hash. Otherwise, fail. */
    CS_ENSURE(cs_ct_equal(CS_SLICE(r, CS_MERKLE_HASH_LEN), root), CONSORT_E_BAD_PROOF,
              "Merkle inclusion proof: computed root differs from the root of size %llu "
              "(leaf index %llu)",
              (unsigned long long)size, (unsigned long long)index);
    return CONSORT_OK;
}

/* Consistency path entry i after RFC 9162 §2.1.4.2 step 2 (a virtual
 * prepend of first_hash, so that nothing is copied). */
static const uint8_t *cpath(const cs_slice *path, cs_slice first_hash, bool prepend, size_t i)
{
    if (prepend)
        return i == 0 ? first_hash.ptr : path[i - 1].ptr;
    return path[i].ptr;
}

static consort_err consistency(uint64_t first, uint64_t second, cs_slice first_hash,
                               cs_slice second_hash, const cs_slice *path, size_t path_len)
{
    CS_ENSURE(first != 0, CONSORT_E_INVALID_ARGUMENT,
              "size1 is 0: consistency with the empty tree proves nothing");
    CS_ENSURE(first <= second, CONSORT_E_INVALID_ARGUMENT, "size1 %llu > size2 %llu",
              (unsigned long long)first, (unsigned long long)second);
    if (first == second) {
        /* Equal sizes (left open by the RFC): an empty proof and equal roots.
         * As in transparency-dev, the roots are compared as given (nothing is
         * computed from them, so their length is not checked). */
        CS_ENSURE(path_len == 0, CONSORT_E_BAD_PROOF,
                  "sizes are equal (%llu) but the proof has %zu hashes", (unsigned long long)first,
                  path_len);
        CS_ENSURE(cs_ct_equal(first_hash, second_hash), CONSORT_E_BAD_PROOF,
                  "sizes are equal (%llu) but the roots differ", (unsigned long long)first);
        return CONSORT_OK;
    }
    CS_TRY(check_hash(first_hash, "root1"));
    CS_TRY(check_hash(second_hash, "root2"));
    CS_TRY(check_path(path, path_len));
    /* 1. If consistency_path is an empty array, stop and fail. */
    CS_ENSURE(path_len != 0, CONSORT_E_BAD_PROOF, "empty proof for sizes %llu < %llu",
              (unsigned long long)first, (unsigned long long)second);
    /* 2. If first is an exact power of 2, then prepend first_hash. */
    bool prepend = (first & (first - 1)) == 0;
    size_t n = path_len + (prepend ? 1 : 0);
    /* 3. Set fn to first - 1 and sn to second - 1. */
    uint64_t fn = first - 1;
    uint64_t sn = second - 1;
    /* 4. If LSB(fn) is set, then right-shift both fn and sn equally until
     * LSB(fn) is not set. */
    while ((fn & 1) != 0) {
        fn >>= 1;
        sn >>= 1;
    }
    /* 5. Set both fr and sr to the first value in the consistency_path array. */
    uint8_t fr[CS_MERKLE_HASH_LEN];
    uint8_t sr[CS_MERKLE_HASH_LEN];
    memcpy(fr, cpath(path, first_hash, prepend, 0), CS_MERKLE_HASH_LEN);
    memcpy(sr, fr, CS_MERKLE_HASH_LEN);
    /* 6. For each subsequent value c in the consistency_path array: */
    for (size_t i = 1; i < n; i++) {
        const uint8_t *c = cpath(path, first_hash, prepend, i);
        /* a. If sn is 0, then stop the iteration and fail the proof verification. */
        CS_ENSURE(sn != 0, CONSORT_E_BAD_PROOF,
                  "proof has %zu hashes, too many for sizes %llu and %llu", path_len,
                  (unsigned long long)first, (unsigned long long)second);
        /* b. If LSB(fn) is set, or if fn is equal to sn, then: */
        if ((fn & 1) != 0 || fn == sn) {
            /* i. Set fr to HASH(0x01 || c || fr). ii. Set sr to HASH(0x01 || c || sr). */
            cs_merkle_node_hash(c, fr, fr);
            cs_merkle_node_hash(c, sr, sr);
            /* iii. If LSB(fn) is not set, then right-shift both fn and sn
             * equally until either LSB(fn) is set or fn is 0. */
            while ((fn & 1) == 0 && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            /* Otherwise: i. Set sr to HASH(0x01 || sr || c). */
            cs_merkle_node_hash(sr, c, sr);
        }
        /* c. Finally, right-shift both fn and sn one time. */
        fn >>= 1;
        sn >>= 1;
    }
    /* 7. Verify that fr equals first_hash, sr equals second_hash, and sn is 0. */
    CS_ENSURE(sn == 0, CONSORT_E_BAD_PROOF, "proof has %zu hashes, too few for sizes %llu and %llu",
              path_len, (unsigned long long)first, (unsigned long long)second);
    bool fr_ok = cs_ct_equal(CS_SLICE(fr, CS_MERKLE_HASH_LEN), first_hash);
    bool sr_ok = cs_ct_equal(CS_SLICE(sr, CS_MERKLE_HASH_LEN), second_hash);
    CS_ENSURE(fr_ok, CONSORT_E_BAD_PROOF, "computed root differs from root1 (size %llu)",
              (unsigned long long)first);
    CS_ENSURE(sr_ok, CONSORT_E_BAD_PROOF, "computed root differs from root2 (size %llu)",
              (unsigned long long)second);
    return CONSORT_OK;
}

consort_err cs_merkle_verify_consistency(uint64_t size1, uint64_t size2, cs_slice root1,
                                         cs_slice root2, const cs_slice *path, size_t path_len)
{
    CS_TRY_CTX(consistency(size1, size2, root1, root2, path, path_len), "Merkle consistency proof");
    return CONSORT_OK;
}
