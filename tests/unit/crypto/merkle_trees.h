/*
 * Leaves and trees shared by the Merkle tests of trees made from peaks
 * (test_merkle_peaks.c, test_merkle_fill.c): leaf i is the leaf hash of i
 * as 8 little-endian bytes. A test that builds many large trees of the
 * same leaves hashes the first ones once (mt_table_init).
 */
#ifndef CST_MERKLE_TREES_H
#define CST_MERKLE_TREES_H

#include "testutil.h"

#include "crypto/merkle.h"

#include <stdlib.h>
#include <string.h>

typedef uint8_t hash_t[CS_MERKLE_HASH_LEN];

static hash_t *mt_table; /* leaves 0 .. mt_table_len - 1, or NULL */
static uint64_t mt_table_len;

static inline void mt_hash_leaf(uint64_t i, hash_t out)
{
    uint8_t data[8];
    for (int b = 0; b < 8; b++)
        data[b] = (uint8_t)(i >> (8 * b));
    cs_merkle_leaf_hash(CS_SLICE(data, sizeof data), out);
}

static inline void mt_table_init(uint64_t n)
{
    mt_table = malloc(n * sizeof *mt_table);
    assert_non_null(mt_table);
    for (uint64_t i = 0; i < n; i++)
        mt_hash_leaf(i, mt_table[i]);
    mt_table_len = n;
}

static inline void mt_table_free(void)
{
    free(mt_table);
    mt_table = NULL;
    mt_table_len = 0;
}

static inline void leaf_for(uint64_t i, hash_t out)
{
    if (i < mt_table_len)
        memcpy(out, mt_table[i], CS_MERKLE_HASH_LEN);
    else
        mt_hash_leaf(i, out);
}

static inline void append_range(cs_merkle_tree *t, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i < to; i++) {
        hash_t h;
        leaf_for(i, h);
        cst_ok(cs_merkle_append_hash(t, h));
    }
}

/* The whole tree of leaves 0 .. n - 1. */
static inline cs_merkle_tree *whole_of(uint64_t n)
{
    cs_merkle_tree *t;
    cst_ok(cs_merkle_new(&t));
    append_range(t, 0, n);
    return t;
}

/* The tree made from `whole`'s peaks at `base` leaves. */
static inline cs_merkle_tree *from_peaks_of(const cs_merkle_tree *whole, uint64_t base)
{
    uint8_t peaks[CS_MERKLE_PEAKS_MAX][CS_MERKLE_HASH_LEN];
    size_t n;
    cst_ok(cs_merkle_peaks(whole, base, peaks[0], &n));
    assert_int_equal(n, __builtin_popcountll(base));
    cs_merkle_tree *t;
    cst_ok(cs_merkle_new_from_peaks(base, peaks[0], n, &t));
    assert_int_equal(cs_merkle_size(t), base);
    assert_int_equal(cs_merkle_first_held(t), base);
    return t;
}

#endif
