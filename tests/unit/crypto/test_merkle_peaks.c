/*
 * A Merkle tree made from its peaks (cs_merkle_new_from_peaks): the tree a
 * snapshot carries. For every base up to 300 and growth past several
 * stored levels, its roots, inclusion and consistency proofs at or after
 * the base are those of the whole tree over the same leaves; what lies
 * before the base is refused, by name; a base near 2^64 holds a few
 * kilobytes and its proofs verify; truncation stops at the base.
 */
#include "merkle_trees.h"

static void same_proof(const cs_merkle_proof *a, const cs_merkle_proof *b)
{
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->hash, b->hash, a->len * CS_MERKLE_HASH_LEN);
}

/* Everything at or after `base` in `t` is what `whole` gives; sizes are
 * sampled (every size near the base and the end, a stride between). */
static void agrees_after(const cs_merkle_tree *t, const cs_merkle_tree *whole, uint64_t base)
{
    const uint64_t end = cs_merkle_size(t);
    assert_int_equal(end, cs_merkle_size(whole));
    for (uint64_t size = base == 0 ? 1 : base; size <= end; size++) {
        if (size > base + 20 && size + 20 < end && size % 37 != 0)
            continue;
        hash_t got, want;
        cst_ok(cs_merkle_root_at(t, size, got));
        cst_ok(cs_merkle_root_at(whole, size, want));
        assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);
        cs_merkle_proof p, q;
        for (uint64_t i = base; i < size; i += 1 + (size - base) / 9) {
            cst_ok(cs_merkle_inclusion_proof(t, i, size, &p));
            cst_ok(cs_merkle_inclusion_proof(whole, i, size, &q));
            same_proof(&p, &q);
            cst_ok(cs_merkle_leaf(t, i, got));
            leaf_for(i, want);
            assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);
        }
        if (base > 0) {
            cst_ok(cs_merkle_consistency_proof(t, base, size, &p));
            cst_ok(cs_merkle_consistency_proof(whole, base, size, &q));
            same_proof(&p, &q);
        }
        cst_ok(cs_merkle_consistency_proof(t, size, end, &p));
        cst_ok(cs_merkle_consistency_proof(whole, size, end, &q));
        same_proof(&p, &q);
    }
    hash_t got, want;
    cs_merkle_root(t, got);
    cs_merkle_root(whole, want);
    assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);
}

static void refuses_before(const cs_merkle_tree *t, uint64_t base)
{
    if (base == 0)
        return;
    hash_t h;
    cs_merkle_proof p;
    const uint64_t size = cs_merkle_size(t);
    cst_fails(cs_merkle_leaf(t, base - 1, h), CONSORT_E_NOT_FOUND);
    assert_non_null(strstr(consort_errmsg(), "only as their peaks"));
    cst_fails(cs_merkle_leaf(t, 0, h), CONSORT_E_NOT_FOUND);
    cst_fails(cs_merkle_inclusion_proof(t, base - 1, size, &p), CONSORT_E_NOT_FOUND);
    if (base == 1) /* size 0 is the empty tree's, known without leaves */
        return;
    cst_fails(cs_merkle_consistency_proof(t, base - 1, size, &p), CONSORT_E_NOT_FOUND);
    cst_fails(cs_merkle_root_at(t, base - 1, h), CONSORT_E_NOT_FOUND);
    uint8_t peaks[CS_MERKLE_PEAKS_MAX][CS_MERKLE_HASH_LEN];
    size_t n;
    cst_fails(cs_merkle_peaks(t, base - 1, peaks[0], &n), CONSORT_E_NOT_FOUND);
}

/* Every base 0..300 grown by up to 700 leaves (past heights 4 and 8, the
 * stored levels, with nodes that straddle the base on each), against the
 * whole tree. */
static void agrees_with_the_whole_tree(void **state)
{
    (void)state;
    cs_merkle_tree *whole = whole_of(1100);
    for (uint64_t base = 0; base <= 300; base++) {
        cs_merkle_tree *t = from_peaks_of(whole, base);
        const uint64_t end = base + (base % 3 == 0 ? 700 : base % 7 == 0 ? 300 : 40);
        append_range(t, base, end);
        cs_merkle_tree *prefix = whole_of(end);
        agrees_after(t, prefix, base);
        refuses_before(t, base);
        cs_merkle_free(prefix);
        cs_merkle_free(t);
    }
    cs_merkle_free(whole);
}

/* Peaks of a tree made from peaks, at and after its base, make the same
 * tree again (a node that joined from a snapshot makes snapshots). */
static void peaks_of_peaks(void **state)
{
    (void)state;
    cs_merkle_tree *whole = whole_of(5000);
    cs_merkle_tree *a = from_peaks_of(whole, 1234);
    append_range(a, 1234, 4321);
    cs_merkle_tree *b = from_peaks_of(a, 4321);
    append_range(b, 4321, 5000);
    agrees_after(b, whole, 4321);
    cs_merkle_tree *c = from_peaks_of(a, 1234); /* its own base */
    append_range(c, 1234, 5000);
    agrees_after(c, whole, 1234);
    cs_merkle_free(c);
    cs_merkle_free(b);
    cs_merkle_free(a);
    cs_merkle_free(whole);
}

/* A base near 2^64 (63 peaks): a few kilobytes, not 2^64 leaves; its new
 * leaves' proofs verify against its roots, and its root at the base is
 * proved consistent with the later roots by the verifier (no whole tree to
 * compare with here). */
static void a_huge_base_holds_little(void **state)
{
    (void)state;
    const uint64_t base = UINT64_MAX - 40; /* ...11010111: 61 set bits */
    uint8_t peaks[CS_MERKLE_PEAKS_MAX][CS_MERKLE_HASH_LEN];
    const size_t n = (size_t)__builtin_popcountll(base);
    for (size_t k = 0; k < n; k++)
        memset(peaks[k], (int)k + 1, CS_MERKLE_HASH_LEN);
    cs_merkle_tree *t;
    cst_fails(cs_merkle_new_from_peaks(base, peaks[0], n - 1, &t), CONSORT_E_INVALID_ARGUMENT);
    assert_non_null(strstr(consort_errmsg(), "peaks, expected"));
    cst_ok(cs_merkle_new_from_peaks(base, peaks[0], n, &t));
    hash_t root0;
    cs_merkle_root(t, root0);
    append_range(t, base, base + 39);
    assert_true(cs_merkle_memory(t) < 400 * 1024);
    hash_t root;
    cs_merkle_root(t, root);
    const uint64_t size = cs_merkle_size(t);
    for (uint64_t i = base; i < size; i++) {
        cs_merkle_proof p;
        cst_ok(cs_merkle_inclusion_proof(t, i, size, &p));
        cs_slice path[CS_MERKLE_PROOF_MAX];
        hash_t leaf;
        leaf_for(i, leaf);
        cst_ok(cs_merkle_verify_inclusion(CS_SLICE(leaf, 32), i, size, path,
                                          cs_merkle_proof_slices(&p, path), CS_SLICE(root, 32)));
    }
    cs_merkle_proof p;
    cst_ok(cs_merkle_consistency_proof(t, base, size, &p));
    cs_slice path[CS_MERKLE_PROOF_MAX];
    cst_ok(cs_merkle_verify_consistency(base, size, CS_SLICE(root0, 32), CS_SLICE(root, 32), path,
                                        cs_merkle_proof_slices(&p, path)));
    uint8_t again[CS_MERKLE_PEAKS_MAX][CS_MERKLE_HASH_LEN];
    size_t m;
    cst_ok(cs_merkle_peaks(t, base, again[0], &m));
    assert_int_equal(m, n);
    assert_memory_equal(again, peaks, n * CS_MERKLE_HASH_LEN);
    cs_merkle_free(t);
}

/* Truncation (a rollback of uncommitted entries) goes back to the base and
 * no further; the tree then grows again to the same roots. */
static void truncation_stops_at_the_base(void **state)
{
    (void)state;
    cs_merkle_tree *whole = whole_of(2000);
    const uint64_t base = 777;
    cs_merkle_tree *t = from_peaks_of(whole, base);
    append_range(t, base, 1500);
    cst_fails(cs_merkle_truncate(t, base - 1), CONSORT_E_NOT_FOUND);
    assert_int_equal(cs_merkle_size(t), 1500);
    cst_ok(cs_merkle_truncate(t, 900));
    append_range(t, 900, 2000);
    agrees_after(t, whole, base);
    cst_ok(cs_merkle_truncate(t, base));
    append_range(t, base, 2000);
    agrees_after(t, whole, base);
    cs_merkle_free(t);
    cs_merkle_free(whole);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agrees_with_the_whole_tree),
        cmocka_unit_test(peaks_of_peaks),
        cmocka_unit_test(a_huge_base_holds_little),
        cmocka_unit_test(truncation_stops_at_the_base),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
