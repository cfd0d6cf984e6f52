/* cs_kv_recs_sort, the order of every snapshot, committed view and write set:
 * bytewise by key, a proper prefix first (cs_kv_bytes_cmp), whatever the keys
 * look like. Large arrays take a radix path on eight key bytes past the keys'
 * common prefix (kv_sort.c); each case here is checked against qsort with
 * cs_kv_bytes_cmp, at sizes on both sides of the radix threshold. */
#include "kv_testutil.h"

#include "base/alloc.h"
#include "store/kv_priv.h"

#include <stdlib.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_rand(void)
{
    return kvt_xorshift(&rng);
}

static int ref_cmp(const void *a, const void *b)
{
    return cs_kv_bytes_cmp(kv_rec_key(*(kv_rec *const *)a), kv_rec_key(*(kv_rec *const *)b));
}

typedef void (*key_gen)(size_t i, uint8_t *key, size_t *len);

/* random bytes, 0 to 24 of them: empty keys, zero bytes, short and long */
static void gen_random(size_t i, uint8_t *key, size_t *len)
{
    (void)i;
    *len = next_rand() % 25;
    for (size_t k = 0; k < *len; k++)
        key[k] = (uint8_t)next_rand();
}

/* a long prefix shared by every key, then a decimal number (no padding:
 * "rec/10" before "rec/9") */
static void gen_shared_prefix(size_t i, uint8_t *key, size_t *len)
{
    (void)i;
    *len = (size_t)snprintf((char *)key, 40, "records/2026/%llu",
                            (unsigned long long)(next_rand() % 1000000));
}

/* keys equal in their first 8 bytes past the common prefix, told apart only
 * further on; and keys that are prefixes of each other, with zero bytes
 * that a padded prefix would confuse with the end of a key */
static void gen_deep_ties(size_t i, uint8_t *key, size_t *len)
{
    static const uint8_t head[] = {'k', 0, 0, 1, 2, 3, 4, 5, 6, 7, 0};
    memcpy(key, head, sizeof head);
    if (i % 7 == 0) { /* a proper prefix of the others */
        *len = 1 + next_rand() % sizeof head;
        return;
    }
    size_t extra = next_rand() % 5;
    for (size_t k = 0; k < extra; k++)
        key[sizeof head + k] = (uint8_t)(next_rand() % 3); /* 0, 1, 2 */
    *len = sizeof head + extra;
}

/* one byte of difference only, in the last of 16 bytes */
static void gen_last_byte(size_t i, uint8_t *key, size_t *len)
{
    (void)i;
    memset(key, 0xab, 15);
    key[15] = (uint8_t)next_rand();
    *len = 16;
}

/* every key the same */
static void gen_same(size_t i, uint8_t *key, size_t *len)
{
    (void)i;
    memcpy(key, "same", 4);
    *len = 4;
}

static void check_sort(key_gen gen, size_t n)
{
    kv_rec **recs = cs_calloc(n ? n : 1, sizeof *recs);
    kv_rec **want = cs_calloc(n ? n : 1, sizeof *want);
    assert_non_null(recs);
    assert_non_null(want);
    for (size_t i = 0; i < n; i++) {
        uint8_t key[64];
        size_t len;
        gen(i, key, &len);
        cs_slice v = CS_SLICE("v", 1);
        assert_int_equal(cs_kv_rec_new(i, CS_SLICE(key, len), &v, &recs[i]), CONSORT_OK);
        want[i] = recs[i];
    }
    qsort(want, n, sizeof *want, ref_cmp);
    cs_kv_recs_sort(recs, n);
    for (size_t i = 0; i < n; i++) {
        /* the same order of keys (records with equal keys may come in any
         * order, so keys are compared, not pointers) */
        assert_int_equal(cs_kv_bytes_cmp(kv_rec_key(recs[i]), kv_rec_key(want[i])), 0);
        if (i > 0)
            assert_true(cs_kv_bytes_cmp(kv_rec_key(recs[i - 1]), kv_rec_key(recs[i])) <= 0);
    }
    /* a permutation: every record once (the generator's index is its hash) */
    uint8_t *seen = cs_calloc(n ? n : 1, 1);
    assert_non_null(seen);
    for (size_t i = 0; i < n; i++) {
        assert_true(recs[i]->hash < n);
        assert_int_equal(seen[recs[i]->hash], 0);
        seen[recs[i]->hash] = 1;
    }
    for (size_t i = 0; i < n; i++)
        cs_kv_rec_unref(recs[i]);
    cs_free(seen);
    cs_free(want);
    cs_free(recs);
}

/* Each kind of key at sizes on both sides of the radix threshold (64). */
static void check_sizes(key_gen gen)
{
    static const size_t sizes[] = {0, 1, 2, 31, 64, 65, 300, 5000, 100000};
    for (size_t s = 0; s < CS_ARRAY_LEN(sizes); s++)
        check_sort(gen, sizes[s]);
}

static void sorts_random_keys(void **state)
{
    (void)state;
    check_sizes(gen_random);
}

static void sorts_keys_with_a_shared_prefix(void **state)
{
    (void)state;
    check_sizes(gen_shared_prefix);
}

static void sorts_keys_alike_past_eight_bytes_and_prefixes_of_each_other(void **state)
{
    (void)state;
    check_sizes(gen_deep_ties);
}

static void sorts_keys_told_apart_by_their_last_byte(void **state)
{
    (void)state;
    check_sizes(gen_last_byte);
}

static void sorts_equal_keys(void **state)
{
    (void)state;
    check_sort(gen_same, 1000);
}

/* A large sort's copy is fresh pages: it never takes a region a growing
 * table announced (cs_alloc_zeroed_pages_soon: the table would then map and
 * fault its pages on the node's loop, what the announcement avoids), even
 * one of exactly the copy's size (262,144 records of 16 bytes: 4 MiB). */
static void a_large_sort_leaves_announced_pages_alone(void **state)
{
    (void)state;
    const size_t n = (size_t)1 << 18, size = n * 16;
    cs_alloc_soon_stats before = cs_alloc_soon_stats_get();
    cs_alloc_zeroed_pages_soon(size);
    assert_int_equal(cs_alloc_soon_stats_get().announced, before.announced + 1);
    check_sort(gen_random, n);
    cs_alloc_soon_stats after = cs_alloc_soon_stats_get();
    assert_int_equal(after.used, before.used);
    assert_int_equal(after.missed, before.missed);
    assert_int_equal(after.held, before.held + size);
    /* the table's own request still gets it (then freed: nothing held) */
    void *p = cs_alloc_zeroed_pages(size);
    assert_non_null(p);
    after = cs_alloc_soon_stats_get();
    assert_int_equal(after.used + after.missed, before.used + before.missed + 1);
    cs_free_zeroed_pages(p, size);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sorts_random_keys),
        cmocka_unit_test(sorts_keys_with_a_shared_prefix),
        cmocka_unit_test(sorts_keys_alike_past_eight_bytes_and_prefixes_of_each_other),
        cmocka_unit_test(sorts_keys_told_apart_by_their_last_byte),
        cmocka_unit_test(sorts_equal_keys),
        cmocka_unit_test(a_large_sort_leaves_announced_pages_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
