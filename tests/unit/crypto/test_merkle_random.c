/*
 * The RFC 9162 Merkle tree against a naive recursive reference of §2.1.1,
 * §2.1.3.1 and §2.1.4.1 (all sizes 0..64, all indices and size pairs), and
 * randomised proofs on a 100,000-leaf tree: every generated proof verifies,
 * and every altered proof, index or size fails. A size or index change can
 * only go unnoticed when it leaves the proof's shape (which side each hash is
 * on) unchanged, because the shape is all a verifier learns from the sizes;
 * the tests compute the shape from the reference recursion and assert exactly
 * that.
 */
#include "testutil.h"

#include "crypto/hash.h"
#include "crypto/merkle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIG    100000u
#define SMALL  64u
#define ROUNDS 1500

typedef uint8_t hash_t[CS_MERKLE_HASH_LEN];

/* ---- deterministic randomness (xorshift64*) ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

/* Uniform-ish in [0, n), biased towards the edges 0 and n - 1. */
static uint64_t pick(uint64_t n)
{
    switch (rnd() % 8) {
    case 0:
        return 0;
    case 1:
        return n - 1;
    default:
        return rnd() % n;
    }
}

/* ---- the naive reference, written from the RFC text ---- */

static void ref_leaf(uint64_t i, hash_t out)
{
    uint8_t buf[1 + 12];
    buf[0] = 0x00; /* RFC 9162 §2.1.1 leaf prefix */
    memcpy(buf + 1, "leaf", 4);
    for (int b = 0; b < 8; b++)
        buf[5 + b] = (uint8_t)(i >> (8 * b));
    cs_sha256(CS_SLICE(buf, sizeof buf), out);
}

static void ref_node(const hash_t l, const hash_t r, hash_t out)
{
    uint8_t buf[1 + 2 * CS_MERKLE_HASH_LEN];
    buf[0] = 0x01;
    memcpy(buf + 1, l, CS_MERKLE_HASH_LEN);
    memcpy(buf + 1 + CS_MERKLE_HASH_LEN, r, CS_MERKLE_HASH_LEN);
    cs_sha256(CS_SLICE(buf, sizeof buf), out);
}

static uint64_t ref_k(uint64_t n)
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

/* MTH(D[n]) over leaf hashes `d`. */
static void ref_mth(hash_t *d, uint64_t n, hash_t out)
{
    if (n == 0) {
        cs_sha256(CS_SLICE_EMPTY, out);
    } else if (n == 1) {
        memcpy(out, d[0], CS_MERKLE_HASH_LEN);
    } else {
        uint64_t k = ref_k(n);
        hash_t l, r;
        ref_mth(d, k, l);
        ref_mth(d + k, n - k, r);
        ref_node(l, r, out);
    }
}

/* PATH(m, D[n]); with d == NULL only the shape: 'L' when the hash is the left
 * sibling (MTH(D[0:k])), 'R' when it is the right one. */
static void ref_path(uint64_t m, hash_t *d, uint64_t n, cs_merkle_proof *p, char *shape)
{
    if (n <= 1)
        return;
    uint64_t k = ref_k(n);
    if (m < k) {
        ref_path(m, d, k, p, shape);
        if (d != NULL)
            ref_mth(d + k, n - k, p->hash[p->len]);
        shape[p->len++] = 'R';
    } else {
        ref_path(m - k, d ? d + k : NULL, n - k, p, shape);
        if (d != NULL)
            ref_mth(d, k, p->hash[p->len]);
        shape[p->len++] = 'L';
    }
}

/* SUBPROOF(m, D[n], b); shape 'S' for the seed MTH(D[m]), 'P' where the
 * verifier prepends root1 instead (b still true), then 'L'/'R' as above. */
static void ref_subproof(uint64_t m, hash_t *d, uint64_t n, bool b, cs_merkle_proof *p, char *shape,
                         size_t *shape_len)
{
    if (m == n) {
        if (!b) {
            if (d != NULL)
                ref_mth(d, m, p->hash[p->len++]);
            else
                p->len++;
        }
        shape[(*shape_len)++] = b ? 'P' : 'S';
        return;
    }
    uint64_t k = ref_k(n);
    if (m <= k) {
        ref_subproof(m, d, k, b, p, shape, shape_len);
        if (d != NULL)
            ref_mth(d + k, n - k, p->hash[p->len]);
        p->len++;
        shape[(*shape_len)++] = 'R';
    } else {
        ref_subproof(m - k, d ? d + k : NULL, n - k, false, p, shape, shape_len);
        if (d != NULL)
            ref_mth(d, k, p->hash[p->len]);
        p->len++;
        shape[(*shape_len)++] = 'L';
    }
}

static void path_shape(uint64_t index, uint64_t size, char shape[CS_MERKLE_PROOF_MAX + 1])
{
    cs_merkle_proof p = {0};
    ref_path(index, NULL, size, &p, shape);
    shape[p.len] = '\0';
}

static void consistency_shape(uint64_t m, uint64_t n, char shape[CS_MERKLE_PROOF_MAX + 2])
{
    cs_merkle_proof p = {0};
    size_t len = 0;
    if (m == 0 || m > n) {
        strcpy(shape, "invalid");
        return;
    }
    if (m == n) {
        strcpy(shape, "equal");
        return;
    }
    ref_subproof(m, NULL, n, true, &p, shape, &len);
    shape[len] = '\0';
}

/* ---- fixtures ---- */

static hash_t *leaves;
static cs_merkle_tree *big;
/* How often an altered size kept the proof's shape (accepted) or not. */
static int alt_same;
static int alt_differ;

static int setup(void **state)
{
    (void)state;
    leaves = calloc(BIG, sizeof *leaves);
    if (leaves == NULL || cs_merkle_new(&big) != CONSORT_OK)
        return -1;
    for (uint64_t i = 0; i < BIG; i++) {
        ref_leaf(i, leaves[i]);
        if (cs_merkle_append_hash(big, leaves[i]) != CONSORT_OK)
            return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cs_merkle_free(big);
    free(leaves);
    return 0;
}

static void assert_proofs_equal(const cs_merkle_proof *a, const cs_merkle_proof *b)
{
    assert_int_equal(a->len, b->len);
    for (size_t i = 0; i < a->len; i++)
        assert_memory_equal(a->hash[i], b->hash[i], CS_MERKLE_HASH_LEN);
}

static void assert_rejected(consort_err rc)
{
    if (rc != CONSORT_E_BAD_PROOF && rc != CONSORT_E_INVALID_ARGUMENT)
        fail_msg("expected rejection, got %s", consort_err_name(rc));
}

/* ---- tests ---- */

static void matches_reference_on_small_trees(void **state)
{
    (void)state;
    cs_merkle_tree *t;
    cst_ok(cs_merkle_new(&t));
    hash_t want, got;
    for (uint64_t n = 0; n <= SMALL; n++) {
        /* Roots as the tree grows (from data, so the leaf hash is checked too). */
        cs_merkle_root(t, got);
        ref_mth(leaves, n, want);
        assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);
        uint8_t data[12];
        memcpy(data, "leaf", 4);
        for (int b = 0; b < 8; b++)
            data[4 + b] = (uint8_t)(n >> (8 * b));
        cst_ok(cs_merkle_append(t, CS_SLICE(data, sizeof data)));
    }
    for (uint64_t n = 0; n <= SMALL; n++) {
        hash_t root;
        ref_mth(leaves, n, root);
        cst_ok(cs_merkle_root_at(t, n, got));
        assert_memory_equal(got, root, CS_MERKLE_HASH_LEN);
        for (uint64_t i = 0; i < n; i++) {
            cs_merkle_proof mine, ref = {0};
            char shape[CS_MERKLE_PROOF_MAX + 1];
            cs_slice path[CS_MERKLE_PROOF_MAX];
            cst_ok(cs_merkle_inclusion_proof(t, i, n, &mine));
            ref_path(i, leaves, n, &ref, shape);
            assert_proofs_equal(&mine, &ref);
            size_t len = cs_merkle_proof_slices(&mine, path);
            cst_ok(cs_merkle_verify_inclusion(CS_SLICE(leaves[i], 32), i, n, path, len,
                                              CS_SLICE(root, 32)));
        }
        for (uint64_t m = 1; m <= n; m++) {
            cs_merkle_proof mine, ref = {0};
            char shape[CS_MERKLE_PROOF_MAX + 2];
            size_t shape_len = 0;
            cs_slice path[CS_MERKLE_PROOF_MAX];
            hash_t old;
            cst_ok(cs_merkle_consistency_proof(t, m, n, &mine));
            ref_subproof(m, leaves, n, true, &ref, shape, &shape_len);
            assert_proofs_equal(&mine, &ref);
            ref_mth(leaves, m, old);
            size_t len = cs_merkle_proof_slices(&mine, path);
            cst_ok(cs_merkle_verify_consistency(m, n, CS_SLICE(old, 32), CS_SLICE(root, 32), path,
                                                len));
        }
    }
    cs_merkle_free(t);
}

static void historical_roots_match_reference_on_big_tree(void **state)
{
    (void)state;
    const uint64_t sizes[] = {BIG, BIG - 1, 65536, 65537, 4096 * 3 + 17, 99999 - 4096, 257};
    for (size_t s = 0; s < CS_ARRAY_LEN(sizes); s++) {
        hash_t want, got;
        ref_mth(leaves, sizes[s], want);
        cst_ok(cs_merkle_root_at(big, sizes[s], got));
        assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);
    }
    hash_t want, got;
    ref_mth(leaves, BIG, want);
    cs_merkle_root(big, got);
    assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);
}

/* Runs every mutation of one valid inclusion proof. */
static void mutate_inclusion(uint64_t index, uint64_t size, cs_merkle_proof *p, const hash_t root)
{
    cs_slice path[CS_MERKLE_PROOF_MAX + 1];
    size_t n = cs_merkle_proof_slices(p, path);
    cs_slice leaf = CS_SLICE(leaves[index], 32);
    cs_slice r = CS_SLICE(root, 32);
    cst_ok(cs_merkle_verify_inclusion(leaf, index, size, path, n, r));
    hash_t foreign;
    memcpy(foreign, root, sizeof foreign);
    foreign[rnd() % 32] ^= 0x04;
    cst_fails(cs_merkle_verify_inclusion(leaf, index, size, path, n, CS_SLICE(foreign, 32)),
              CONSORT_E_BAD_PROOF);
    cst_fails(cs_merkle_verify_inclusion(CS_SLICE(foreign, 32), index, size, path, n, r),
              CONSORT_E_BAD_PROOF);
    if (n > 0) {
        size_t at = (size_t)(rnd() % n);
        unsigned bit = (unsigned)(rnd() % 256);
        p->hash[at][bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cst_fails(cs_merkle_verify_inclusion(leaf, index, size, path, n, r), CONSORT_E_BAD_PROOF);
        p->hash[at][bit / 8] ^= (uint8_t)(1u << (bit % 8));
        /* a node removed */
        cs_slice fewer[CS_MERKLE_PROOF_MAX];
        for (size_t i = 0, j = 0; i < n; i++)
            if (i != at)
                fewer[j++] = path[i];
        cst_fails(cs_merkle_verify_inclusion(leaf, index, size, fewer, n - 1, r),
                  CONSORT_E_BAD_PROOF);
    }
    /* a node added at a random position */
    cs_slice more[CS_MERKLE_PROOF_MAX + 1];
    size_t at = (size_t)(rnd() % (n + 1));
    for (size_t i = 0, j = 0; j <= n; j++)
        more[j] = j == at ? CS_SLICE(leaves[rnd() % BIG], 32) : path[i++];
    cst_fails(cs_merkle_verify_inclusion(leaf, index, size, more, n + 1, r), CONSORT_E_BAD_PROOF);
    /* another index: never the same shape, always rejected */
    char shape[CS_MERKLE_PROOF_MAX + 1], other[CS_MERKLE_PROOF_MAX + 1];
    path_shape(index, size, shape);
    const uint64_t idx2[] = {index + 1, index - 1, index ^ 2, pick(size)};
    for (size_t k = 0; k < CS_ARRAY_LEN(idx2); k++) {
        if (idx2[k] == index)
            continue;
        assert_rejected(cs_merkle_verify_inclusion(leaf, idx2[k], size, path, n, r));
        if (idx2[k] < size) {
            path_shape(idx2[k], size, other);
            assert_string_not_equal(shape, other);
        }
    }
    /* another size: accepted exactly when the shape is unchanged */
    const uint64_t size2[] = {size + 1, size - 1, size * 2, size / 2, pick(BIG) + 1};
    for (size_t k = 0; k < CS_ARRAY_LEN(size2); k++) {
        if (size2[k] == size)
            continue;
        consort_err rc = cs_merkle_verify_inclusion(leaf, index, size2[k], path, n, r);
        bool same = false;
        if (index < size2[k]) {
            path_shape(index, size2[k], other);
            same = strcmp(shape, other) == 0;
        }
        if (same != (rc == CONSORT_OK))
            fail_msg("(%llu, %llu) proof checked as size %llu: %s, shapes %s / %s",
                     (unsigned long long)index, (unsigned long long)size,
                     (unsigned long long)size2[k], consort_err_name(rc), shape, other);
        if (!same)
            assert_rejected(rc);
        *(same ? &alt_same : &alt_differ) += 1;
    }
}

static void random_inclusion_proofs(void **state)
{
    (void)state;
    alt_same = alt_differ = 0;
    for (int round = 0; round < ROUNDS; round++) {
        uint64_t size = pick(BIG) + 1;
        uint64_t index = pick(size);
        cs_merkle_proof p;
        hash_t root;
        cst_ok(cs_merkle_root_at(big, size, root));
        cst_ok(cs_merkle_inclusion_proof(big, index, size, &p));
        mutate_inclusion(index, size, &p, root);
    }
    /* Both branches of the size check were exercised. */
    assert_true(alt_same > 0);
    assert_true(alt_differ > 0);
}

static void mutate_consistency(uint64_t m, uint64_t n, cs_merkle_proof *p, const hash_t r1,
                               const hash_t r2)
{
    cs_slice path[CS_MERKLE_PROOF_MAX + 1];
    size_t len = cs_merkle_proof_slices(p, path);
    cs_slice a = CS_SLICE(r1, 32);
    cs_slice b = CS_SLICE(r2, 32);
    cst_ok(cs_merkle_verify_consistency(m, n, a, b, path, len));
    if (len > 0) {
        size_t at = (size_t)(rnd() % len);
        unsigned bit = (unsigned)(rnd() % 256);
        p->hash[at][bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cst_fails(cs_merkle_verify_consistency(m, n, a, b, path, len), CONSORT_E_BAD_PROOF);
        p->hash[at][bit / 8] ^= (uint8_t)(1u << (bit % 8));
        cs_slice fewer[CS_MERKLE_PROOF_MAX];
        for (size_t i = 0, j = 0; i < len; i++)
            if (i != at)
                fewer[j++] = path[i];
        cst_fails(cs_merkle_verify_consistency(m, n, a, b, fewer, len - 1), CONSORT_E_BAD_PROOF);
    }
    cs_slice more[CS_MERKLE_PROOF_MAX + 1];
    size_t at = (size_t)(rnd() % (len + 1));
    for (size_t i = 0, j = 0; j <= len; j++)
        more[j] = j == at ? CS_SLICE(leaves[rnd() % BIG], 32) : path[i++];
    cst_fails(cs_merkle_verify_consistency(m, n, a, b, more, len + 1), CONSORT_E_BAD_PROOF);
    /* swapped or foreign roots */
    if (m != n)
        assert_rejected(cs_merkle_verify_consistency(m, n, b, a, path, len));
    hash_t foreign1, foreign2;
    memcpy(foreign1, r1, sizeof foreign1);
    memcpy(foreign2, r2, sizeof foreign2);
    foreign1[rnd() % 32] ^= 0x80;
    foreign2[rnd() % 32] ^= 0x01;
    cst_fails(cs_merkle_verify_consistency(m, n, CS_SLICE(foreign1, 32), b, path, len),
              CONSORT_E_BAD_PROOF);
    cst_fails(cs_merkle_verify_consistency(m, n, a, CS_SLICE(foreign2, 32), path, len),
              CONSORT_E_BAD_PROOF);
    /* other sizes: accepted exactly when the shape is unchanged */
    char shape[CS_MERKLE_PROOF_MAX + 2], other[CS_MERKLE_PROOF_MAX + 2];
    consistency_shape(m, n, shape);
    const uint64_t alt[][2] = {{m + 1, n}, {m - 1, n}, {m, n + 1}, {m, n - 1},
                               {m / 2, n}, {m, n * 2}, {m * 2, n}, {n, m}};
    for (size_t k = 0; k < CS_ARRAY_LEN(alt); k++) {
        if (alt[k][0] == m && alt[k][1] == n)
            continue;
        consort_err rc = cs_merkle_verify_consistency(alt[k][0], alt[k][1], a, b, path, len);
        consistency_shape(alt[k][0], alt[k][1], other);
        bool same = strcmp(shape, other) == 0 && strcmp(shape, "equal") != 0;
        if (same != (rc == CONSORT_OK))
            fail_msg("(%llu, %llu) proof checked as (%llu, %llu): %s, shapes %s / %s",
                     (unsigned long long)m, (unsigned long long)n, (unsigned long long)alt[k][0],
                     (unsigned long long)alt[k][1], consort_err_name(rc), shape, other);
        if (!same)
            assert_rejected(rc);
        *(same ? &alt_same : &alt_differ) += 1;
    }
}

static void random_consistency_proofs(void **state)
{
    (void)state;
    alt_same = alt_differ = 0;
    for (int round = 0; round < ROUNDS; round++) {
        uint64_t n = pick(BIG) + 1;
        uint64_t m = round % 10 == 0 ? n : pick(n) + 1;
        cs_merkle_proof p;
        hash_t r1, r2;
        cst_ok(cs_merkle_root_at(big, m, r1));
        cst_ok(cs_merkle_root_at(big, n, r2));
        cst_ok(cs_merkle_consistency_proof(big, m, n, &p));
        mutate_consistency(m, n, &p, r1, r2);
    }
    assert_true(alt_same > 0);
    assert_true(alt_differ > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_reference_on_small_trees),
        cmocka_unit_test(historical_roots_match_reference_on_big_tree),
        cmocka_unit_test(random_inclusion_proofs),
        cmocka_unit_test(random_consistency_proofs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
