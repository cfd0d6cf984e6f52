/*
 * Filling in the base of a tree made from its peaks (cs_merkle_fill_base):
 * a node that restarted from its snapshot copy reads its ledger before the
 * copy back (src/node/replica_rebuild.c) and hands the tree of the first
 * `base` leaves to the tree it runs on: a whole tree, or for a node whose
 * ledger starts after a snapshot it joined from, a tree made from that
 * snapshot's peaks at `first` and grown to `base`. After the fill the tree
 * is the one that appending every leaf to the prefix would have built: the
 * same roots, leaves, proofs and peaks at every size from `first` (those
 * below the old base included), the same memory, and it grows and
 * truncates (below the old base too) like it. A prefix of the wrong size,
 * holding none of the base, or with other leaves is refused, and a refusal
 * or a failed allocation leaves both trees as they were.
 */
#include "merkle_trees.h"

/* The first leaves are hashed once: the large bases build many trees of
 * the same leaves. */
#define TABLE_LEAVES 150000u

/* The tree made from the peaks of leaves 0 .. base - 1, grown to `end`. */
static cs_merkle_tree *grown_from_peaks(uint64_t base, uint64_t end)
{
    cs_merkle_tree *prefix = whole_of(base);
    cs_merkle_tree *t = from_peaks_of(prefix, base);
    cs_merkle_free(prefix);
    append_range(t, base, end);
    return t;
}

/* The tree of leaves 0 .. end - 1 as a node holds it: whole (first 0), or
 * from the peaks at `first` on. */
static cs_merkle_tree *tree_from(uint64_t first, uint64_t end)
{
    return first == 0 ? whole_of(end) : grown_from_peaks(first, end);
}

static void same_proof(const cs_merkle_proof *a, const cs_merkle_proof *b)
{
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->hash, b->hash, a->len * CS_MERKLE_HASH_LEN);
}

#define SAMPLES 20

/* Sizes (and indexes) worth comparing in a tree of `size` leaves held from
 * `first` on whose old base was `base`: the ends, around the base and
 * after `first`, and a few between; each s with leaf s - 1 held. */
static size_t samples(uint64_t first, uint64_t base, uint64_t size, uint64_t out[SAMPLES])
{
    const uint64_t want[SAMPLES] = {1,         2,         3,          16,
                                    17,        base / 3,  base / 2,   base - 2,
                                    base - 1,  base,      base + 1,   base + 16,
                                    size / 2,  size - 1,  size - 17,  size,
                                    first + 1, first + 2, first + 17, first + (base - first) / 2};
    size_t n = 0;
    for (size_t k = 0; k < SAMPLES; k++) {
        bool seen = false;
        for (size_t m = 0; m < n; m++)
            seen |= out[m] == want[k];
        if (!seen && want[k] > first && want[k] <= size)
            out[n++] = want[k];
    }
    return n;
}

/* `t` answers every question as `whole` (a tree held from the same first
 * leaf) does, below its old base too. */
static void same_as_whole(const cs_merkle_tree *t, const cs_merkle_tree *whole, uint64_t base)
{
    const uint64_t size = cs_merkle_size(whole), first = cs_merkle_first_held(whole);
    assert_int_equal(cs_merkle_size(t), size);
    assert_int_equal(cs_merkle_first_held(t), first);
    hash_t got, want;
    if (first > 0) /* what the prefix did not hold either */
        cst_fails(cs_merkle_leaf(t, first - 1, got), CONSORT_E_NOT_FOUND);
    cs_merkle_root(t, got);
    cs_merkle_root(whole, want);
    assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);
    uint64_t s[SAMPLES];
    const size_t n = samples(first, base, size, s);
    for (size_t a = 0; a < n; a++) {
        cst_ok(cs_merkle_root_at(t, s[a], got));
        cst_ok(cs_merkle_root_at(whole, s[a], want));
        assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);
        cst_ok(cs_merkle_leaf(t, s[a] - 1, got)); /* leaf 0 among them */
        leaf_for(s[a] - 1, want);
        assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);
        uint8_t pt[CS_MERKLE_PEAKS_MAX][CS_MERKLE_HASH_LEN],
            pw[CS_MERKLE_PEAKS_MAX][CS_MERKLE_HASH_LEN];
        size_t nt, nw;
        cst_ok(cs_merkle_peaks(t, s[a], pt[0], &nt));
        cst_ok(cs_merkle_peaks(whole, s[a], pw[0], &nw));
        assert_int_equal(nt, nw);
        assert_memory_equal(pt, pw, nt * CS_MERKLE_HASH_LEN);
        for (size_t b = 0; b < n; b++) {
            cs_merkle_proof p, q;
            if (s[b] - 1 < s[a]) { /* leaf s[b] - 1 in the tree of s[a] leaves */
                cst_ok(cs_merkle_inclusion_proof(t, s[b] - 1, s[a], &p));
                cst_ok(cs_merkle_inclusion_proof(whole, s[b] - 1, s[a], &q));
                same_proof(&p, &q);
            }
            if (s[b] <= s[a]) {
                cst_ok(cs_merkle_consistency_proof(t, s[b], s[a], &p));
                cst_ok(cs_merkle_consistency_proof(whole, s[b], s[a], &q));
                same_proof(&p, &q);
            }
        }
    }
}

/* t made from the peaks at `base` and grown by `g` leaves, filled with the
 * tree of `base` leaves held from `first`, against the tree of base + g
 * leaves held from `first`; then both grow, and both truncate below the
 * old base. */
static void fill_from_and_compare(uint64_t first, uint64_t base, uint64_t g)
{
    cs_merkle_tree *whole = tree_from(first, base + g);
    cs_merkle_tree *t = from_peaks_of(whole, base);
    append_range(t, base, base + g);
    cs_merkle_tree *prefix = tree_from(first, base);
    cst_ok(cs_merkle_fill_base(t, prefix)); /* prefix is t's now */
    same_as_whole(t, whole, base);

    const uint64_t more = base + g + 300;
    append_range(t, base + g, more);
    append_range(whole, base + g, more);
    hash_t got, want;
    cs_merkle_root(t, got);
    cs_merkle_root(whole, want);
    assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);

    const uint64_t below = first + (base - first) / 2;
    cst_ok(cs_merkle_truncate(t, below));
    cst_ok(cs_merkle_truncate(whole, below));
    if (below > first)
        same_as_whole(t, whole, base);
    cs_merkle_root(t, got);
    cs_merkle_root(whole, want);
    assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);
    append_range(t, below, base + 5);
    append_range(whole, below, base + 5);
    cs_merkle_root(t, got);
    cs_merkle_root(whole, want);
    assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);
    cs_merkle_free(whole);
    cs_merkle_free(t);
}

static void fill_and_compare(uint64_t base, uint64_t g)
{
    fill_from_and_compare(0, base, g);
}

/* Bases at and around the chunk boundaries of the stored levels: a chunk of
 * leaves (512), of height-4 nodes (8192 leaves), of height-8 nodes (131072
 * leaves), and one of many chunks. */
static const uint64_t chunk_bases[] = {511,  512,   513,    1025,   8191,   8192,   8193,
                                       8209, 99999, 100000, 100003, 131071, 131072, 131073};

static void agrees_with_the_whole_tree(void **state)
{
    (void)state;
    const uint64_t growth[] = {0, 1, 17, 300};
    for (uint64_t base = 1; base <= 300; base++)
        for (size_t k = 0; k < sizeof growth / sizeof growth[0]; k++)
            fill_and_compare(base, growth[k]);
    for (size_t b = 0; b < sizeof chunk_bases / sizeof chunk_bases[0]; b++)
        for (size_t k = 0; k < sizeof growth / sizeof growth[0]; k++)
            if (chunk_bases[b] < 99999 || growth[k] != 1) /* 1 and 17: alike on a large base */
                fill_and_compare(chunk_bases[b], growth[k]);
    /* Past a height-8 node and a chunk of height-4 nodes after the base. */
    fill_and_compare(8193, 8192 + 300);
}

/* A prefix made from peaks at `first` (a node that joined from a snapshot
 * there): every first below every base up to 120, then firsts around the
 * chunk boundaries below bases around them, in the same chunk as the base
 * on a level or chunks before it. */
static void agrees_from_a_prefix_made_from_peaks(void **state)
{
    (void)state;
    for (uint64_t base = 2; base <= 120; base++)
        for (uint64_t first = 1; first < base; first++)
            fill_from_and_compare(first, base, first % 3 == 0 ? 17 : 1);
    const uint64_t firsts[] = {1, 17, 511, 512, 513, 8191, 8192, 8193, 8209, 99999, 131072};
    for (size_t b = 0; b < sizeof chunk_bases / sizeof chunk_bases[0]; b++)
        for (size_t f = 0; f < sizeof firsts / sizeof firsts[0]; f++)
            if (firsts[f] < chunk_bases[b])
                fill_from_and_compare(firsts[f], chunk_bases[b], 300);
    fill_from_and_compare(8193 - 40, 8193, 8192 + 300);
}

/*
 * The filled tree holds exactly the chunks the whole tree holds (each
 * level's skipped chunks are the prefix's, the rest its own) and its chunk
 * tables have the capacity appends would have grown them to (8, doubling),
 * so cs_merkle_memory is equal, not merely close; that stays so as both
 * grow and truncate.
 */
static void memory_like_the_whole_tree(void **state)
{
    (void)state;
    const uint64_t bases[] = {1,   15,  16,  17,   255,  256,  257,  300,
                              511, 512, 513, 4096, 8191, 8192, 8193, 131073};
    const uint64_t growth[] = {0, 1, 17, 300, 9000};
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
        for (size_t k = 0; k < sizeof growth / sizeof growth[0]; k++) {
            const uint64_t base = bases[b], end = base + growth[k];
            /* whole, and from peaks at the base's half (and at 1) */
            const uint64_t firsts[] = {0, base / 2, 1};
            for (size_t f = 0; f < 3 && firsts[f] < base; f++) {
                const uint64_t first = firsts[f];
                cs_merkle_tree *whole = tree_from(first, end);
                cs_merkle_tree *t = grown_from_peaks(base, end);
                cst_ok(cs_merkle_fill_base(t, tree_from(first, base)));
                assert_int_equal(cs_merkle_memory(t), cs_merkle_memory(whole));
                append_range(t, end, end + 5000);
                append_range(whole, end, end + 5000);
                assert_int_equal(cs_merkle_memory(t), cs_merkle_memory(whole));
                const uint64_t below = first + (base - first) / 2;
                cst_ok(cs_merkle_truncate(t, below));
                cst_ok(cs_merkle_truncate(whole, below));
                assert_int_equal(cs_merkle_memory(t), cs_merkle_memory(whole));
                cs_merkle_free(whole);
                cs_merkle_free(t);
            }
        }
    }
}

/* t is as it was made: base `base`, size `size`, root of the whole tree. */
static void unchanged(const cs_merkle_tree *t, uint64_t base, uint64_t size)
{
    assert_int_equal(cs_merkle_first_held(t), base);
    assert_int_equal(cs_merkle_size(t), size);
    cs_merkle_tree *whole = whole_of(size);
    hash_t got, want;
    cs_merkle_root(t, got);
    cs_merkle_root(whole, want);
    assert_memory_equal(got, want, CS_MERKLE_HASH_LEN);
    cs_merkle_free(whole);
    cst_fails(cs_merkle_leaf(t, base - 1, got), CONSORT_E_NOT_FOUND);
    cst_fails(cs_merkle_leaf(t, 0, got), CONSORT_E_NOT_FOUND);
}

/* The refused prefix is still the caller's, and still works: its root is
 * the one it had, and it grows. */
static void still_usable(cs_merkle_tree *prefix, const hash_t root)
{
    hash_t got;
    cs_merkle_root(prefix, got);
    assert_memory_equal(got, root, CS_MERKLE_HASH_LEN);
    const uint64_t size = cs_merkle_size(prefix);
    append_range(prefix, size, size + 3);
    assert_int_equal(cs_merkle_size(prefix), size + 3);
    cs_merkle_free(prefix);
}

/* Refuses `prefix` with `code` and a message holding `why`, and leaves
 * both as they were. */
static void refused(cs_merkle_tree *t, cs_merkle_tree *prefix, consort_err code, const char *why,
                    uint64_t base, uint64_t size)
{
    hash_t root;
    cs_merkle_root(prefix, root);
    const size_t mem = cs_merkle_memory(t);
    cst_fails(cs_merkle_fill_base(t, prefix), code);
    if (strstr(consort_errmsg(), why) == NULL)
        fail_msg("refused with \"%s\", not for \"%s\"", consort_errmsg(), why);
    assert_int_equal(cs_merkle_memory(t), mem);
    unchanged(t, base, size);
    still_usable(prefix, root);
}

/* A prefix whose leaf `bad` differs. */
static cs_merkle_tree *with_other_leaf(uint64_t n, uint64_t bad)
{
    cs_merkle_tree *p;
    cst_ok(cs_merkle_new(&p));
    append_range(p, 0, bad);
    hash_t h;
    leaf_for(n + 1000, h);
    cst_ok(cs_merkle_append_hash(p, h));
    append_range(p, bad + 1, n);
    return p;
}

static void refuses(void **state)
{
    (void)state;
    const uint64_t bases[] = {1, 17, 1000, 8193};
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
        const uint64_t base = bases[b], size = base + 100;
        cs_merkle_tree *t = grown_from_peaks(base, size);
        refused(t, whole_of(base - 1), CONSORT_E_INVALID_ARGUMENT, "cannot fill", base, size);
        refused(t, whole_of(base + 1), CONSORT_E_INVALID_ARGUMENT, "cannot fill", base, size);
        /* Made from peaks: at its own size it holds none of the base; made
         * at its half, one too few leaves, or one other leaf after its
         * peaks (what its peaks stand for is checked in the peaks) */
        cs_merkle_tree *whole = whole_of(base);
        refused(t, from_peaks_of(whole, base), CONSORT_E_INVALID_ARGUMENT, "holds none", base,
                size);
        if (base / 2 > 0) {
            cs_merkle_tree *short_one = from_peaks_of(whole, base / 2);
            append_range(short_one, base / 2, base - 1);
            refused(t, short_one, CONSORT_E_INVALID_ARGUMENT, "cannot fill", base, size);
            cs_merkle_tree *other = from_peaks_of(whole, base / 2);
            append_range(other, base / 2, base - 1);
            hash_t h;
            leaf_for(base + 1000, h);
            cst_ok(cs_merkle_append_hash(other, h));
            refused(t, other, CONSORT_E_BAD_PROOF, "other peaks", base, size);
        }
        cs_merkle_free(whole);
        /* One leaf differs: the first, the last, one between. */
        refused(t, with_other_leaf(base, 0), CONSORT_E_BAD_PROOF, "other peaks", base, size);
        refused(t, with_other_leaf(base, base - 1), CONSORT_E_BAD_PROOF, "other peaks", base, size);
        refused(t, with_other_leaf(base, base / 2), CONSORT_E_BAD_PROOF, "other peaks", base, size);
        /* And after all that it still fills. */
        cst_ok(cs_merkle_fill_base(t, whole_of(base)));
        cs_merkle_tree *w = whole_of(size);
        same_as_whole(t, w, base);
        /* Now whole: nothing more to fill, with any prefix. */
        hash_t root, got;
        cs_merkle_root(t, root);
        cs_merkle_tree *empty;
        cst_ok(cs_merkle_new(&empty));
        cst_fails(cs_merkle_fill_base(t, empty), CONSORT_E_INVALID_ARGUMENT);
        assert_non_null(strstr(consort_errmsg(), "every leaf"));
        cs_merkle_free(empty);
        cs_merkle_tree *p = whole_of(base);
        cst_fails(cs_merkle_fill_base(t, p), CONSORT_E_INVALID_ARGUMENT);
        cs_merkle_free(p);
        cs_merkle_root(t, got);
        assert_memory_equal(got, root, CS_MERKLE_HASH_LEN);
        cs_merkle_free(w);
        cs_merkle_free(t);
    }
    /* A whole tree (never made from peaks) refuses too. */
    cs_merkle_tree *t = whole_of(10), *empty;
    cst_ok(cs_merkle_new(&empty));
    cst_fails(cs_merkle_fill_base(t, empty), CONSORT_E_INVALID_ARGUMENT);
    cs_merkle_free(empty);
    cs_merkle_free(t);
}

/* Every allocation the fill makes fails in turn: NOMEM, both trees as they
 * were (nothing leaked, nothing moved), then the fill succeeds. The base
 * skips whole chunks on two levels, so the fill allocates more than once. */
static void out_of_memory_from(uint64_t first)
{
    const uint64_t base = 8192 * 3 + 5, size = base + 40;
    cs_merkle_tree *whole = tree_from(first, size);
    bool done = false;
    for (long fail = 0; !done; fail++) {
        cs_merkle_tree *t = grown_from_peaks(base, size);
        cs_merkle_tree *prefix = tree_from(first, base);
        hash_t root;
        cs_merkle_root(prefix, root);
        const size_t mem_t = cs_merkle_memory(t), mem_p = cs_merkle_memory(prefix);
        const long live = cst_alloc_live();
        cst_alloc_fail_after(fail);
        consort_err rc = cs_merkle_fill_base(t, prefix);
        cst_alloc_fail_after(-1);
        if (rc == CONSORT_OK) {
            done = true;
            same_as_whole(t, whole, base);
        } else {
            assert_int_equal(rc, CONSORT_E_NOMEM);
            assert_int_equal(cst_alloc_live(), live);
            assert_int_equal(cs_merkle_memory(t), mem_t);
            assert_int_equal(cs_merkle_memory(prefix), mem_p);
            unchanged(t, base, size);
            still_usable(prefix, root);
        }
        cs_merkle_free(t);
    }
    cs_merkle_free(whole);
}

/* ... with a whole prefix, and one made from peaks at 8195 (it skips
 * chunks on two levels too, fewer than t). */
static void out_of_memory_changes_nothing(void **state)
{
    (void)state;
    out_of_memory_from(0);
    out_of_memory_from(8195);
}

int main(void)
{
    mt_table_init(TABLE_LEAVES);
    cst_alloc_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agrees_with_the_whole_tree),
        cmocka_unit_test(agrees_from_a_prefix_made_from_peaks),
        cmocka_unit_test(memory_like_the_whole_tree),
        cmocka_unit_test(refuses),
        cmocka_unit_test(out_of_memory_changes_nothing),
    };
    int failures = cmocka_run_group_tests(tests, NULL, NULL);
    cst_alloc_uninstall();
    mt_table_free();
    return failures;
}
