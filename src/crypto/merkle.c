/*
 * The append-only Merkle tree of RFC 9162 §2.1: storage, roots, proof
 * generation and truncation. Verification is in merkle_verify.c.
 *
 * Storage (see merkle.h for the memory contract): level[j] holds the hashes of
 * the complete subtrees of height STRIDE * j, left to right; level[0] holds
 * the leaf hashes. Node i of height h covers leaves [i * 2^h, (i + 1) * 2^h)
 * and exists once the tree has (i + 1) * 2^h leaves. Any complete subtree is
 * read from the stored level at or below its height; any other range D[lo:hi]
 * that the RFC's definitions use is folded from complete subtrees.
 *
 * A tree made from its peaks (cs_merkle_new_from_peaks) holds nothing of
 * its first `base` leaves but the complete subtrees that MTH(D[0:base])
 * splits into, one per set bit of base (peak[h] for bit h). Each level's
 * vector then starts at base >> (STRIDE * j) without holding what is below
 * it. Every range the entry points accept is, left of base, a union of
 * peaks: a complete subtree that ends at or before base and is not a peak
 * lies inside one, and the leaf, proofs or root it would serve all lie
 * inside that peak too, which the entry points refuse. A complete subtree
 * that straddles base is hashed from its two halves, down to a peak on the
 * left and to nodes at or after base on the right; the stored ones (height
 * a multiple of STRIDE) are hashed that way when appended and read after.
 */
#include "crypto/merkle.h"

#include "base/alloc.h"
#include "crypto/merkle_vec.h"

#include <string.h>

#define STRIDE 4u  /* a stored level every 4 heights: 1/16 + 1/256 + ... extra */
#define LEVELS 16u /* heights 0, 4, ..., 60: enough for 2^64 - 1 leaves */

/* Runs of up to 16 stored hashes are read in place (cs_merkle_vec_run). */
_Static_assert(CS_MERKLE_VEC_CHUNK % (1u << STRIDE) == 0, "chunks hold whole runs of 16");

struct cs_merkle_tree {
    cs_merkle_vec level[LEVELS];
    uint64_t base;                        /* leaves before it are not held */
    uint8_t peak[64][CS_MERKLE_HASH_LEN]; /* peak[h]: for bit h of base, its subtree */
};

consort_err cs_merkle_new(cs_merkle_tree **out)
{
    cs_merkle_tree *t = cs_calloc(1, sizeof *t);
    CS_ENSURE(t != NULL, CONSORT_E_NOMEM, "Merkle tree: out of memory");
    for (unsigned j = 0; j < LEVELS; j++)
        cs_merkle_vec_init(&t->level[j]);
    *out = t;
    return CONSORT_OK;
}

consort_err cs_merkle_new_from_peaks(uint64_t size, const uint8_t *peaks, size_t n,
                                     cs_merkle_tree **out)
{
    CS_ENSURE(n == (size_t)__builtin_popcountll(size), CONSORT_E_INVALID_ARGUMENT,
              "Merkle tree of %llu leaves: %zu peaks, expected %d", (unsigned long long)size, n,
              __builtin_popcountll(size));
    CS_ENSURE(size != UINT64_MAX, CONSORT_E_TOO_LARGE, "Merkle tree: full at %llu leaves",
              (unsigned long long)size);
    cs_merkle_tree *t = NULL;
    CS_TRY(cs_merkle_new(&t));
    t->base = size;
    size_t k = 0;
    for (int h = 63; h >= 0; h--)
        if ((size >> h) & 1)
            memcpy(t->peak[h], peaks + CS_MERKLE_HASH_LEN * k++, CS_MERKLE_HASH_LEN);
    for (unsigned j = 0; j < LEVELS; j++) {
        consort_err rc = cs_merkle_vec_init_at(&t->level[j], size >> (STRIDE * j));
        if (rc != CONSORT_OK) {
            cs_merkle_free(t);
            return cs_err_context(rc, "Merkle tree from its peaks");
        }
    }
    *out = t;
    return CONSORT_OK;
}

uint64_t cs_merkle_first_held(const cs_merkle_tree *t)
{
    return t->base;
}

/* NOT_FOUND for an index, size or size1 inside the part not held. */
static consort_err check_held(const cs_merkle_tree *t, uint64_t from, const char *what)
{
    CS_ENSURE(from >= t->base, CONSORT_E_NOT_FOUND,
              "Merkle tree: %s %llu is inside the first %llu leaves, which this tree holds "
              "only as their peaks",
              what, (unsigned long long)from, (unsigned long long)t->base);
    return CONSORT_OK;
}

void cs_merkle_free(cs_merkle_tree *t)
{
    if (t == NULL)
        return;
    for (unsigned j = 0; j < LEVELS; j++)
        cs_merkle_vec_cleanup(&t->level[j]);
    cs_free(t);
}

uint64_t cs_merkle_size(const cs_merkle_tree *t)
{
    return t->level[0].len;
}

size_t cs_merkle_memory(const cs_merkle_tree *t)
{
    size_t total = sizeof *t;
    for (unsigned j = 0; j < LEVELS; j++)
        total += cs_merkle_vec_bytes(&t->level[j]);
    return total;
}

/* The root of the complete subtree over `count` (a power of two, at most 16)
 * consecutive hashes at `h`, hashed pairwise level by level (RFC 9162 §2.1.1). */
static void reduce(const uint8_t *h, size_t count, uint8_t out[CS_MERKLE_HASH_LEN])
{
    if (count == 1) {
        memcpy(out, h, CS_MERKLE_HASH_LEN);
        return;
    }
    cs_merkle_hash_t tmp[8];
    for (size_t i = 0; i < count / 2; i++)
        cs_merkle_node_hash(h + 2 * i * CS_MERKLE_HASH_LEN, h + (2 * i + 1) * CS_MERKLE_HASH_LEN,
                            tmp[i]);
    for (count /= 2; count > 1; count /= 2) {
        for (size_t i = 0; i < count / 2; i++)
            cs_merkle_node_hash(tmp[2 * i], tmp[2 * i + 1], tmp[i]);
    }
    memcpy(out, tmp[0], CS_MERKLE_HASH_LEN);
}

/* The complete subtree of height `h` at position `i`; it must exist and,
 * if it ends at or before base, be a peak (see the top of this file). */
static void subtree(const cs_merkle_tree *t, unsigned h, uint64_t i,
                    uint8_t out[CS_MERKLE_HASH_LEN]);

/* A complete subtree that straddles base, from its halves. */
static void straddling(const cs_merkle_tree *t, unsigned h, uint64_t i,
                       uint8_t out[CS_MERKLE_HASH_LEN])
{
    uint8_t left[CS_MERKLE_HASH_LEN], right[CS_MERKLE_HASH_LEN];
    subtree(t, h - 1, 2 * i, left);
    subtree(t, h - 1, 2 * i + 1, right);
    cs_merkle_node_hash(left, right, out);
}

static void subtree(const cs_merkle_tree *t, unsigned h, uint64_t i,
                    uint8_t out[CS_MERKLE_HASH_LEN])
{
    unsigned below = h % STRIDE;
    const cs_merkle_vec *v = &t->level[h / STRIDE];
    uint64_t start = i << h;
    if (start < t->base) {
        if (t->base - start >= (uint64_t)1 << h) { /* ends at or before base: a peak */
            memcpy(out, t->peak[h], CS_MERKLE_HASH_LEN);
            return;
        }
        if (below != 0) {
            straddling(t, h, i, out);
            return;
        }
    }
    if (below == 0) {
        memcpy(out, cs_merkle_vec_at(v, i), CS_MERKLE_HASH_LEN);
        return;
    }
    reduce(cs_merkle_vec_run(v, i << below), (size_t)1 << below, out);
}

consort_err cs_merkle_append_hash(cs_merkle_tree *t, const uint8_t leaf_hash[CS_MERKLE_HASH_LEN])
{
    uint64_t count = t->level[0].len + 1;
    CS_ENSURE(count != 0, CONSORT_E_TOO_LARGE, "Merkle tree: full at %llu leaves",
              (unsigned long long)(count - 1));
    /* Level j gains a node when the new leaf completes a subtree of 16^j leaves. */
    unsigned grow = 1;
    while (grow < LEVELS && (count & ((UINT64_C(1) << (STRIDE * grow)) - 1)) == 0)
        grow++;
    /* Reserve first, so that nothing changes if an allocation fails. */
    for (unsigned j = 0; j < grow; j++)
        CS_TRY_CTX(cs_merkle_vec_reserve1(&t->level[j]), "append leaf %llu",
                   (unsigned long long)(count - 1));
    cs_merkle_vec_push(&t->level[0], leaf_hash);
    for (unsigned j = 1; j < grow; j++) {
        const cs_merkle_vec *below = &t->level[j - 1];
        uint8_t node[CS_MERKLE_HASH_LEN];
        uint64_t i = t->level[j].len;
        if ((i << (STRIDE * j)) < t->base)
            straddling(t, STRIDE * j, i, node);
        else
            reduce(cs_merkle_vec_run(below, below->len - (1u << STRIDE)), 1u << STRIDE, node);
        cs_merkle_vec_push(&t->level[j], node);
    }
    return CONSORT_OK;
}

consort_err cs_merkle_append(cs_merkle_tree *t, cs_slice leaf_data)
{
    uint8_t h[CS_MERKLE_HASH_LEN];
    cs_merkle_leaf_hash(leaf_data, h);
    return cs_merkle_append_hash(t, h);
}

consort_err cs_merkle_leaf(const cs_merkle_tree *t, uint64_t index, uint8_t out[CS_MERKLE_HASH_LEN])
{
    CS_ENSURE(index < t->level[0].len, CONSORT_E_INVALID_ARGUMENT,
              "Merkle tree: leaf index %llu >= tree size %llu", (unsigned long long)index,
              (unsigned long long)t->level[0].len);
    CS_TRY(check_held(t, index, "leaf"));
    memcpy(out, cs_merkle_vec_at(&t->level[0], index), CS_MERKLE_HASH_LEN);
    return CONSORT_OK;
}

static unsigned floor_log2(uint64_t x)
{
    return 63u - (unsigned)__builtin_clzll(x);
}

/*
 * MTH(D[lo:hi]) of RFC 9162 §2.1.1 for hi > lo, where lo is a multiple of the
 * smallest power of two >= hi - lo (true of every range the RFC's recursions
 * visit in a tree that starts at 0). With k the largest power of two smaller
 * than n, MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])): the range
 * splits into one complete subtree per set bit of hi - lo, highest first,
 * folded from the right.
 */
static void range_hash(const cs_merkle_tree *t, uint64_t lo, uint64_t hi,
                       uint8_t out[CS_MERKLE_HASH_LEN])
{
    uint64_t bits = hi - lo;
    /* The smallest subtree is the rightmost: it ends at hi. */
    unsigned b = (unsigned)__builtin_ctzll(bits);
    subtree(t, b, (hi >> b) - 1, out);
    uint64_t end = hi - ((uint64_t)1 << b);
    bits &= bits - 1;
    /* Each larger one lies to the left of everything folded so far. */
    while (bits != 0) {
        b = (unsigned)__builtin_ctzll(bits);
        uint8_t left[CS_MERKLE_HASH_LEN];
        subtree(t, b, (end >> b) - 1, left);
        cs_merkle_node_hash(left, out, out);
        end -= (uint64_t)1 << b;
        bits &= bits - 1;
    }
}

void cs_merkle_root(const cs_merkle_tree *t, uint8_t out[CS_MERKLE_HASH_LEN])
{
    if (t->level[0].len == 0)
        cs_merkle_empty_root(out);
    else
        range_hash(t, 0, t->level[0].len, out);
}

consort_err cs_merkle_root_at(const cs_merkle_tree *t, uint64_t size,
                              uint8_t out[CS_MERKLE_HASH_LEN])
{
    CS_ENSURE(size <= t->level[0].len, CONSORT_E_INVALID_ARGUMENT,
              "Merkle tree: size %llu > tree size %llu", (unsigned long long)size,
              (unsigned long long)t->level[0].len);
    if (size == 0) {
        cs_merkle_empty_root(out);
        return CONSORT_OK;
    }
    CS_TRY(check_held(t, size, "size"));
    range_hash(t, 0, size, out);
    return CONSORT_OK;
}

consort_err cs_merkle_peaks(const cs_merkle_tree *t, uint64_t size, uint8_t *out, size_t *n)
{
    CS_ENSURE(size <= t->level[0].len, CONSORT_E_INVALID_ARGUMENT,
              "Merkle tree: peaks at size %llu > tree size %llu", (unsigned long long)size,
              (unsigned long long)t->level[0].len);
    CS_TRY(check_held(t, size, "peaks at size")); /* at the base: the peaks it holds */
    *n = 0;
    uint64_t start = 0;
    for (int h = 63; h >= 0; h--) {
        if (((size >> h) & 1) == 0)
            continue;
        subtree(t, (unsigned)h, start >> h, out + CS_MERKLE_HASH_LEN * (*n)++);
        start += (uint64_t)1 << h;
    }
    return CONSORT_OK;
}

/* The largest power of two smaller than n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
    return (uint64_t)1 << floor_log2(n - 1);
}

/* The RFC lists the deepest hash first; generation walks from the top. */
static void reverse(cs_merkle_proof *p)
{
    for (size_t i = 0, j = p->len; i + 1 < j; i++, j--) {
        uint8_t tmp[CS_MERKLE_HASH_LEN];
        memcpy(tmp, p->hash[i], CS_MERKLE_HASH_LEN);
        memcpy(p->hash[i], p->hash[j - 1], CS_MERKLE_HASH_LEN);
        memcpy(p->hash[j - 1], tmp, CS_MERKLE_HASH_LEN);
    }
}

consort_err cs_merkle_inclusion_proof(const cs_merkle_tree *t, uint64_t index, uint64_t size,
                                      cs_merkle_proof *out)
{
    CS_ENSURE(size <= t->level[0].len, CONSORT_E_INVALID_ARGUMENT,
              "Merkle inclusion proof: size %llu > tree size %llu", (unsigned long long)size,
              (unsigned long long)t->level[0].len);
    CS_ENSURE(index < size, CONSORT_E_INVALID_ARGUMENT,
              "Merkle inclusion proof: leaf index %llu >= size %llu", (unsigned long long)index,
              (unsigned long long)size);
    CS_TRY(check_held(t, index, "inclusion proof of leaf"));
    out->len = 0;
    /* RFC 9162 §2.1.3.1: for m < k, PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]);
     * for m >= k, PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k]);
     * PATH(0, {d(0)}) = {}. */
    uint64_t lo = 0;
    uint64_t hi = size;
    while (hi - lo > 1) {
        uint64_t k = split_point(hi - lo);
        if (index - lo < k) {
            range_hash(t, lo + k, hi, out->hash[out->len++]);
            hi = lo + k;
        } else {
            range_hash(t, lo, lo + k, out->hash[out->len++]);
            lo += k;
        }
    }
    reverse(out);
    return CONSORT_OK;
}

consort_err cs_merkle_consistency_proof(const cs_merkle_tree *t, uint64_t size1, uint64_t size2,
                                        cs_merkle_proof *out)
{
    CS_ENSURE(size2 <= t->level[0].len, CONSORT_E_INVALID_ARGUMENT,
              "Merkle consistency proof: size2 %llu > tree size %llu", (unsigned long long)size2,
              (unsigned long long)t->level[0].len);
    CS_ENSURE(size1 >= 1 && size1 <= size2, CONSORT_E_INVALID_ARGUMENT,
              "Merkle consistency proof: size1 %llu must be in 1..size2 (%llu)",
              (unsigned long long)size1, (unsigned long long)size2);
    CS_TRY(check_held(t, size1, "consistency proof from size"));
    out->len = 0;
    /* RFC 9162 §2.1.4.1: PROOF(m, D[n]) = SUBPROOF(m, D[n], true);
     * SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])};
     * for m <= k: SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n]);
     * for m > k:  SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]). */
    uint64_t lo = 0;
    uint64_t hi = size2;
    uint64_t m = size1;
    bool whole = true; /* the RFC's b */
    while (m != hi - lo) {
        uint64_t k = split_point(hi - lo);
        if (m <= k) {
            range_hash(t, lo + k, hi, out->hash[out->len++]);
            hi = lo + k;
        } else {
            range_hash(t, lo, lo + k, out->hash[out->len++]);
            m -= k;
            lo += k;
            whole = false;
        }
    }
    if (!whole)
        range_hash(t, lo, hi, out->hash[out->len++]);
    reverse(out);
    return CONSORT_OK;
}

consort_err cs_merkle_truncate(cs_merkle_tree *t, uint64_t size)
{
    CS_ENSURE(size <= t->level[0].len, CONSORT_E_INVALID_ARGUMENT,
              "Merkle tree: cannot truncate to %llu leaves, it has %llu", (unsigned long long)size,
              (unsigned long long)t->level[0].len);
    CS_TRY(check_held(t, size, "truncation to size"));
    for (unsigned j = 0; j < LEVELS; j++)
        cs_merkle_vec_truncate(&t->level[j], size >> (STRIDE * j));
    return CONSORT_OK;
}

size_t cs_merkle_proof_slices(const cs_merkle_proof *p, cs_slice out[CS_MERKLE_PROOF_MAX])
{
    for (size_t i = 0; i < p->len; i++)
        out[i] = CS_SLICE(p->hash[i], CS_MERKLE_HASH_LEN);
    return p->len;
}

/* Nodes wholly before the base at height h are indexes below base >> h:
 * prefix holds exactly those at each stored level from its own base on
 * (counting those below without holding them), and t counts them without
 * holding them (cs_merkle_vec_init_at), so each level takes prefix's whole
 * chunks below its first held one and prefix's part of that chunk; the
 * node at base >> h (straddling or after the base) stays t's. t then
 * starts where prefix started, from prefix's peaks. */
consort_err cs_merkle_fill_base(cs_merkle_tree *t, cs_merkle_tree *prefix)
{
    const uint64_t base = t->base;
    CS_ENSURE(base != 0, CONSORT_E_INVALID_ARGUMENT,
              "Merkle tree: it holds every leaf already, nothing to fill in");
    CS_ENSURE(prefix->level[0].len == base, CONSORT_E_INVALID_ARGUMENT,
              "Merkle tree: a prefix of %llu leaves cannot fill in its first %llu leaves",
              (unsigned long long)prefix->level[0].len, (unsigned long long)base);
    CS_ENSURE(prefix->base < base, CONSORT_E_INVALID_ARGUMENT,
              "Merkle tree: a prefix made from peaks at %llu holds none of the first %llu leaves",
              (unsigned long long)prefix->base, (unsigned long long)base);
    uint8_t peaks[CS_MERKLE_PEAKS_MAX][CS_MERKLE_HASH_LEN];
    size_t n = 0;
    CS_TRY(cs_merkle_peaks(prefix, base, peaks[0], &n));
    bool differ = false; /* public hashes: no need for constant time; all compared */
    size_t k = 0;
    for (int h = 63; h >= 0; h--)
        if ((base >> h) & 1)
            differ |= memcmp(peaks[k++], t->peak[h], CS_MERKLE_HASH_LEN) != 0;
    CS_ENSURE(!differ, CONSORT_E_BAD_PROOF,
              "Merkle tree: the prefix of %llu leaves has other peaks than the tree was made from",
              (unsigned long long)base);
    /* Allocate every table first, so that nothing changes if one fails. */
    cs_merkle_hash_t **table[LEVELS];
    for (unsigned j = 0; j < LEVELS; j++) {
        consort_err rc = cs_merkle_vec_reserve_front(&t->level[j], &prefix->level[j], &table[j]);
        if (rc != CONSORT_OK) {
            while (j-- > 0)
                cs_free(table[j]);
            return cs_err_context(rc, "filling in the first %llu leaves of a Merkle tree",
                                  (unsigned long long)base);
        }
    }
    for (unsigned j = 0; j < LEVELS; j++)
        cs_merkle_vec_fill_front(&t->level[j], &prefix->level[j], prefix->base >> (STRIDE * j),
                                 table[j]);
    t->base = prefix->base;
    memcpy(t->peak, prefix->peak, sizeof t->peak);
    cs_merkle_free(prefix);
    return CONSORT_OK;
}
