/*
 * The RFC 9162 Merkle tree's API contract: argument errors and their
 * messages, verifier input checks, truncation (ledger rollback), the memory
 * bound stated in merkle.h, and an allocation-failure sweep.
 * Known answers: test_merkle_vectors.c; randomised: test_merkle_random.c.
 */
#include "testutil.h"

#include "base/alloc.h"
#include "crypto/merkle.h"

#include <string.h>

typedef uint8_t hash_t[CS_MERKLE_HASH_LEN];

static void leaf_for(uint64_t i, hash_t out)
{
    uint8_t entry[96]; /* a receipt leaf entry (DESIGN.md) */
    memset(entry, 0, sizeof entry);
    for (int b = 0; b < 8; b++)
        entry[b] = (uint8_t)(i >> (8 * b));
    cs_merkle_leaf_hash(CS_SLICE(entry, sizeof entry), out);
}

static cs_merkle_tree *tree_of(uint64_t n)
{
    cs_merkle_tree *t;
    cst_ok(cs_merkle_new(&t));
    for (uint64_t i = 0; i < n; i++) {
        hash_t h;
        leaf_for(i, h);
        cst_ok(cs_merkle_append_hash(t, h));
    }
    return t;
}

static void empty_tree_and_hashing_primitives(void **state)
{
    (void)state;
    cs_merkle_free(NULL);
    cs_merkle_tree *t = tree_of(0);
    assert_int_equal(cs_merkle_size(t), 0);
    hash_t root, want;
    cs_merkle_root(t, root);
    cst_ok(cs_hex_decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want,
                         32));
    assert_memory_equal(root, want, 32);
    cst_ok(cs_merkle_root_at(t, 0, root));
    assert_memory_equal(root, want, 32);
    /* RFC 6962 test vector: leaf hash of the empty string. */
    cs_merkle_leaf_hash(CS_SLICE_EMPTY, root);
    cst_ok(cs_hex_decode("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", want,
                         32));
    assert_memory_equal(root, want, 32);
    /* A one-leaf tree's root is its leaf hash; node hashing aliases safely. */
    cst_ok(cs_merkle_append(t, CS_SLICE_EMPTY));
    cs_merkle_root(t, root);
    assert_memory_equal(root, want, 32);
    hash_t l, r;
    memcpy(l, want, 32);
    memcpy(r, want, 32);
    hash_t sep;
    cs_merkle_node_hash(l, r, sep);
    cs_merkle_node_hash(l, r, l);
    assert_memory_equal(l, sep, 32);
    cs_merkle_free(t);
}

static void impossible_arguments_name_the_values(void **state)
{
    (void)state;
    cs_merkle_tree *t = tree_of(10);
    cs_merkle_proof p;
    hash_t h;
    cst_fails(cs_merkle_inclusion_proof(t, 10, 10, &p), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "leaf index 10 >= size 10"));
    cst_fails(cs_merkle_inclusion_proof(t, 0, 11, &p), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "size 11 > tree size 10"));
    cst_fails(cs_merkle_consistency_proof(t, 0, 5, &p), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_merkle_consistency_proof(t, 6, 5, &p), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "size1 6"));
    cst_fails(cs_merkle_consistency_proof(t, 5, 11, &p), CONSORT_E_INVALID_ARGUMENT);
    cst_ok(cs_merkle_consistency_proof(t, 10, 10, &p));
    assert_int_equal(p.len, 0);
    cst_fails(cs_merkle_root_at(t, 11, h), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_merkle_leaf(t, 10, h), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_merkle_truncate(t, 11), CONSORT_E_INVALID_ARGUMENT);
    assert_int_equal(cs_merkle_size(t), 10);
    cs_merkle_free(t);
}

static void verifiers_check_their_inputs(void **state)
{
    (void)state;
    cs_merkle_tree *t = tree_of(8);
    hash_t leaf, root, root4;
    cs_merkle_proof p;
    cs_slice path[CS_MERKLE_PROOF_MAX + 1];
    cst_ok(cs_merkle_leaf(t, 3, leaf));
    cs_merkle_root(t, root);
    cst_ok(cs_merkle_root_at(t, 4, root4));
    cst_ok(cs_merkle_inclusion_proof(t, 3, 8, &p));
    size_t n = cs_merkle_proof_slices(&p, path);
    assert_int_equal(n, 3);
    cs_slice L = CS_SLICE(leaf, 32);
    cs_slice R = CS_SLICE(root, 32);
    cst_ok(cs_merkle_verify_inclusion(L, 3, 8, path, n, R));
    hash_t computed;
    cst_ok(cs_merkle_root_from_inclusion(L, 3, 8, path, n, computed));
    assert_memory_equal(computed, root, 32);

    cst_fails(cs_merkle_verify_inclusion(L, 8, 8, path, n, R), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "leaf index 8 >= tree size 8"));
    cst_fails(cs_merkle_verify_inclusion(L, 0, 0, path, 0, R), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_merkle_verify_inclusion(CS_SLICE(leaf, 31), 3, 8, path, n, R),
              CONSORT_E_BAD_PROOF);
    assert_non_null(strstr(consort_errmsg(), "leaf hash is 31 bytes, expected 32"));
    cst_fails(cs_merkle_verify_inclusion(L, 3, 8, path, n, CS_SLICE(root, 33)),
              CONSORT_E_BAD_PROOF);
    path[1].len = 0;
    cst_fails(cs_merkle_verify_inclusion(L, 3, 8, path, n, R), CONSORT_E_BAD_PROOF);
    assert_non_null(strstr(consort_errmsg(), "proof hash 1 is 0 bytes"));
    path[1].len = 32;
    cst_fails(cs_merkle_verify_inclusion(L, 3, 8, path, 2, R), CONSORT_E_BAD_PROOF);
    assert_non_null(strstr(consort_errmsg(), "too few"));
    path[3] = path[2];
    cst_fails(cs_merkle_verify_inclusion(L, 3, 8, path, 4, R), CONSORT_E_BAD_PROOF);
    assert_non_null(strstr(consort_errmsg(), "too many"));
    cs_slice long_path[CS_MERKLE_PROOF_MAX + 1];
    for (size_t i = 0; i < CS_ARRAY_LEN(long_path); i++)
        long_path[i] = L;
    cst_fails(cs_merkle_verify_inclusion(L, 3, UINT64_MAX, long_path, CS_ARRAY_LEN(long_path), R),
              CONSORT_E_BAD_PROOF);
    cst_fails(cs_merkle_verify_inclusion(L, 3, 8, path, n, CS_SLICE(root4, 32)),
              CONSORT_E_BAD_PROOF);
    assert_non_null(strstr(consort_errmsg(), "computed root differs"));

    /* Consistency: size1 == 0 never verifies, not even for the empty tree. */
    hash_t empty;
    cs_merkle_empty_root(empty);
    cs_slice E = CS_SLICE(empty, 32);
    cst_fails(cs_merkle_verify_consistency(0, 0, E, E, NULL, 0), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_merkle_verify_consistency(0, 8, E, R, NULL, 0), CONSORT_E_INVALID_ARGUMENT);
    cst_fails(cs_merkle_verify_consistency(5, 4, R, R, NULL, 0), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "size1 5 > size2 4"));
    cst_ok(cs_merkle_verify_consistency(8, 8, R, R, NULL, 0));
    cst_fails(cs_merkle_verify_consistency(8, 8, R, R, path, 1), CONSORT_E_BAD_PROOF);
    cst_fails(cs_merkle_verify_consistency(8, 8, R, CS_SLICE(root4, 32), NULL, 0),
              CONSORT_E_BAD_PROOF);
    cst_ok(cs_merkle_consistency_proof(t, 4, 8, &p));
    n = cs_merkle_proof_slices(&p, path);
    cs_slice R4 = CS_SLICE(root4, 32);
    cst_ok(cs_merkle_verify_consistency(4, 8, R4, R, path, n));
    cst_fails(cs_merkle_verify_consistency(4, 8, R4, R, path, 0), CONSORT_E_BAD_PROOF);
    cst_fails(cs_merkle_verify_consistency(4, 8, CS_SLICE(root4, 0), R, path, n),
              CONSORT_E_BAD_PROOF);
    assert_non_null(strstr(consort_errmsg(), "root1 is 0 bytes"));
    cs_merkle_free(t);
}

static void truncation_rolls_back_exactly(void **state)
{
    (void)state;
    const uint64_t n = 70000;
    cs_merkle_tree *t = tree_of(n);
    cs_merkle_tree *ref = tree_of(n);
    size_t full_memory = cs_merkle_memory(t);
    const uint64_t cuts[] = {n, 65536, 65535, 4097, 4096, 300, 17, 16, 1, 0};
    for (size_t c = 0; c < CS_ARRAY_LEN(cuts); c++) {
        uint64_t m = cuts[c];
        cst_ok(cs_merkle_truncate(t, m));
        assert_int_equal(cs_merkle_size(t), m);
        hash_t got, want;
        cs_merkle_root(t, got);
        cst_ok(cs_merkle_root_at(ref, m, want));
        assert_memory_equal(got, want, 32);
        if (m > 1) {
            /* Proofs below the cut are those of the untruncated tree. */
            cs_merkle_proof a, b;
            cst_ok(cs_merkle_inclusion_proof(t, m / 3, m - 1, &a));
            cst_ok(cs_merkle_inclusion_proof(ref, m / 3, m - 1, &b));
            assert_int_equal(a.len, b.len);
            assert_memory_equal(a.hash, b.hash, a.len * 32);
            cst_ok(cs_merkle_consistency_proof(t, m / 2, m, &a));
            cst_ok(cs_merkle_consistency_proof(ref, m / 2, m, &b));
            assert_int_equal(a.len, b.len);
            assert_memory_equal(a.hash, b.hash, a.len * 32);
        }
    }
    assert_true(cs_merkle_memory(t) < full_memory / 100);
    /* Growing again with other leaves gives another root... */
    hash_t other, got, want;
    memset(other, 0x5a, sizeof other);
    for (uint64_t i = 0; i < 1000; i++)
        cst_ok(cs_merkle_append_hash(t, other));
    cs_merkle_root(t, got);
    cst_ok(cs_merkle_root_at(ref, 1000, want));
    assert_memory_not_equal(got, want, 32);
    /* ...and with the same leaves, the original roots again. */
    cst_ok(cs_merkle_truncate(t, 0));
    for (uint64_t i = 0; i < n; i++) {
        leaf_for(i, other);
        cst_ok(cs_merkle_append_hash(t, other));
    }
    cs_merkle_root(t, got);
    cs_merkle_root(ref, want);
    assert_memory_equal(got, want, 32);
    cs_merkle_free(t);
    cs_merkle_free(ref);
}

static void memory_stays_within_the_stated_bound(void **state)
{
    (void)state;
    const uint64_t n = 100000;
    cs_merkle_tree *t = tree_of(n);
    size_t mem = cs_merkle_memory(t);
    /* The brief's bound: 32 * n * 1.13 + a constant (64 KiB). */
    assert_true((double)mem <= 32.0 * (double)n * 1.13 + 65536.0);
    /* merkle.h's figure: CS_MERKLE_BYTES_PER_LEAF per leaf, plus less than one
     * 16 KiB chunk for each of the 5 levels in use and the fixed part. */
    assert_true((double)mem <= CS_MERKLE_BYTES_PER_LEAF * (double)n + 5.0 * 16384 + 1024);
    /* It does hold every leaf hash. */
    assert_true(mem >= 32 * n);
    cs_merkle_free(t);
}

/* Appends `n` leaves while allocation `fail` fails; whatever failed, the tree
 * must be consistent, usable, and must leak nothing. */
static bool append_under_failure(long fail, uint64_t n, const cs_merkle_tree *ref)
{
    long live = cst_alloc_live();
    cst_alloc_fail_after(fail);
    cs_merkle_tree *t = NULL;
    consort_err rc = cs_merkle_new(&t);
    if (rc != CONSORT_OK) {
        assert_int_equal(rc, CONSORT_E_NOMEM);
        cst_alloc_fail_after(-1);
        assert_int_equal(cst_alloc_live(), live);
        return true;
    }
    uint64_t failed_at = UINT64_MAX;
    for (uint64_t i = 0; i < n; i++) {
        hash_t h;
        leaf_for(i, h);
        rc = cs_merkle_append_hash(t, h);
        if (rc == CONSORT_OK)
            continue;
        assert_int_equal(rc, CONSORT_E_NOMEM);
        assert_int_equal(failed_at, UINT64_MAX);
        failed_at = i;
        /* Unchanged: size, root, proofs (which allocate nothing). */
        assert_int_equal(cs_merkle_size(t), i);
        hash_t got, want;
        cs_merkle_root(t, got);
        cst_ok(cs_merkle_root_at(ref, i, want));
        assert_memory_equal(got, want, 32);
        if (i > 1) {
            cst_alloc_fail_after(0); /* the next allocation would fail */
            cs_merkle_proof p;
            cst_ok(cs_merkle_inclusion_proof(t, i - 1, i, &p));
            cst_ok(cs_merkle_consistency_proof(t, 1, i, &p));
            assert_int_equal(cst_alloc_failed(), 0);
            cst_alloc_fail_after(-1);
        }
        i--; /* retry the same leaf, now without failure */
    }
    hash_t got, want;
    cs_merkle_root(t, got);
    cs_merkle_root(ref, want);
    assert_memory_equal(got, want, 32);
    bool failed = cst_alloc_failed() || failed_at != UINT64_MAX;
    cst_alloc_fail_after(-1);
    cs_merkle_free(t);
    assert_int_equal(cst_alloc_live(), live);
    return failed;
}

static void allocation_failure_sweep(void **state)
{
    (void)state;
    const uint64_t n = 5000; /* levels 0, 1 and 2 and several table growths */
    cs_merkle_tree *ref = tree_of(n);
    cst_alloc_install();
    long fail = 0;
    while (append_under_failure(fail, n, ref))
        fail++;
    cst_alloc_uninstall();
    /* new + table and chunks on three levels */
    assert_true(fail >= 10);
    cs_merkle_free(ref);
}

/* A dense tree (every level kept) has the root and the proofs of the
 * ledger's tree over the same leaves, for every size up to 70 and 256:
 * the odd nodes that move up unchanged build MTH's tree. */
static void a_dense_tree_is_the_same_tree(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33, 63, 70, 255, 256};
    uint8_t data[256][8];
    cs_slice slices[256];
    for (size_t i = 0; i < 256; i++) {
        memset(data[i], (int)i, sizeof data[i]);
        slices[i] = CS_SLICE(data[i], sizeof data[i]);
    }
    cs_merkle_tree *t;
    cst_ok(cs_merkle_new(&t));
    for (size_t i = 0; i < 256; i++)
        cst_ok(cs_merkle_append(t, slices[i]));
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const size_t n = sizes[k];
        cs_merkle_dense d;
        cst_ok(cs_merkle_dense_build(slices, n, &d));
        hash_t root;
        cst_ok(cs_merkle_root_at(t, n, root));
        assert_memory_equal(cs_merkle_dense_root(&d), root, CS_MERKLE_HASH_LEN);
        for (size_t i = 0; i < n; i++) {
            cs_merkle_proof got, want;
            cs_merkle_dense_proof(&d, i, &got);
            cst_ok(cs_merkle_inclusion_proof(t, i, n, &want));
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.hash, want.hash, want.len * CS_MERKLE_HASH_LEN);
        }
        cs_merkle_dense_free(&d);
    }
    cs_merkle_dense d;
    cst_fails(cs_merkle_dense_build(slices, 0, &d), CONSORT_E_INVALID_ARGUMENT);
    cs_merkle_dense_free(&d); /* zeroed by the failed build: a no-op */
    cs_merkle_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_tree_and_hashing_primitives),
        cmocka_unit_test(impossible_arguments_name_the_values),
        cmocka_unit_test(verifiers_check_their_inputs),
        cmocka_unit_test(truncation_rolls_back_exactly),
        cmocka_unit_test(memory_stays_within_the_stated_bound),
        cmocka_unit_test(allocation_failure_sweep),
        cmocka_unit_test(a_dense_tree_is_the_same_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
